"""Hydra callbacks: a sweep gets one MLflow parent run, created before any job starts."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from runner import summary, tracking

# The launching process hands the sweep's tracking ids to its jobs through this variable:
# jobs (in-process, joblib workers, ...) never race to create the database or experiment.
SWEEP_ENV = "GRADLAB_SWEEP"


def sweep_info() -> dict[str, str] | None:
    text = os.environ.get(SWEEP_ENV)
    return json.loads(text) if text else None


def open_sweep(cfg: DictConfig, launch_dir: str | Path, overrides: list[str]) -> dict[str, str]:
    """Create the store, experiment and parent run once; publish their ids to the jobs."""
    uri = tracking.resolve_uri(cfg.tracking.uri, launch_dir)
    tracking.check_reachable(uri)
    client = tracking.client_for(uri)
    experiment = tracking.experiment_id(client, cfg.tracking.experiment)
    sweep_id = uuid.uuid4().hex[:8]
    parent = client.create_run(
        experiment, run_name=f"sweep-{sweep_id}",
        tags={"sweep_id": sweep_id, "role": "sweep", "overrides": " ".join(overrides)},
    ).info.run_id
    info = {"uri": uri, "experiment_id": experiment, "parent_run_id": parent, "sweep_id": sweep_id}
    os.environ[SWEEP_ENV] = json.dumps(info)
    atexit.register(_end_if_running, uri, parent)
    return info


def close_sweep(info: dict[str, str], output_dir: Path | None = None) -> None:
    """Summarise the children on the parent run and end it."""
    client = tracking.client_for(info["uri"])
    summary.record_on_parent(client, info, output_dir)
    client.set_terminated(info["parent_run_id"], "FINISHED")
    os.environ.pop(SWEEP_ENV, None)


def _end_if_running(uri: str, run_id: str) -> None:
    """At exit, a parent run still RUNNING was interrupted: end it as KILLED."""
    with contextlib.suppress(Exception):
        client = tracking.client_for(uri)
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_terminated(run_id, "KILLED")


class SweepTracking(Callback):
    """Opens the sweep's parent run at multirun start and summarises it at the end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        open_sweep(config, os.getcwd(), list(config.hydra.overrides.task))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        info = sweep_info()
        if info is not None:
            close_sweep(info, Path(str(config.hydra.sweep.dir)))
