"""One run's content in MLflow: where it logs, its tags, metrics and files, written step by
step (a single run) or all at once (a finished row of a vectorised sweep)."""

from __future__ import annotations

import functools
import getpass
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import DatasetInput, Metric

from runner.constants import (
    ERROR_TAG,
    FAILED,
    GIT_COMMIT_TAG,
    USER_TAG,
    MLFLOW_STATUS,
    PARENT_TAG,
    STATUS_TAG,
)
from runner.results import Record, evenly
from runner.spec import RunSpec
from runner.tracking import client as mlflow_client
from runner.tracking.files import RunFiles
from runner.tracking.sqlstore import FinishedRun

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Context:
    """Where and how a job logs: decided once by the launching process."""

    uri: str
    experiment_id: str
    parent_run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    output_dir: Path | None = None
    max_points: int | None = 1000  # metric points per history sent to MLflow (None: all)

    @property
    def in_sweep(self) -> bool:
        return self.parent_run_id is not None

    @property
    def client(self) -> MlflowClient:
        return mlflow_client.client_for(self.uri)


@functools.cache
def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def user_and_commit() -> dict[str, str]:
    """Who ran it and at which commit: MLflow's user tag ("Created by") and git commit."""
    tags = {USER_TAG: getpass.getuser()}
    commit = git_commit()
    if commit:
        tags[GIT_COMMIT_TAG] = commit
    return tags


def run_tags(spec: RunSpec, ctx: Context) -> dict[str, str]:
    tags = {**spec.tags, **ctx.tags, **user_and_commit()}
    if ctx.parent_run_id:
        tags[PARENT_TAG] = ctx.parent_run_id
    return tags


def record_metrics(record: Record, start_ms: int, ctx: Context) -> list[Metric]:
    """The metric histories (at most ctx.max_points each), final values and gradient checks
    (a final value with a history of its own, `evaluations`, is that history's last point)."""
    keep = evenly(len(record.index), ctx.max_points)
    histories = {k: v[keep] for k, v in record.histories.items()}
    stamps = start_ms + np.round(record.wall_time[keep] * 1000).astype(np.int64)
    finals = {k: v for k, v in record.finals().items() if k not in histories}
    metrics = mlflow_client.metric_entities(record.index[keep], histories, stamps, finals=finals)
    if record.checks is not None:
        metrics += mlflow_client.metric_entities(record.checks[0], {"grad_check": record.checks[1]})
    if record.evals is not None:  # train/test loss, accuracy, epochs: every eval_every steps
        steps, series = record.evals
        keep = evenly(len(steps), ctx.max_points)
        at = np.minimum(np.searchsorted(record.index, steps[keep]), len(record.index) - 1)
        stamps = start_ms + np.round(record.wall_time[at] * 1000).astype(np.int64)
        metrics += mlflow_client.metric_entities(steps[keep], {k: v[keep] for k, v in
                                                               series.items()}, stamps)
    return metrics


def log_record(run_id: str, record: Record, files: RunFiles, start_ms: int, ctx: Context,
               params: dict | None = None) -> None:
    """Metrics, the status tag (and params, if given) in one batched write, then artifacts
    (also copied to the job's output folder when it has one)."""
    client = ctx.client
    mlflow_client.log_batch(client, run_id, metrics=record_metrics(record, start_ms, ctx),
                            params=params, tags={STATUS_TAG: record.status})
    with tempfile.TemporaryDirectory(prefix="gradlab-") as tmp:
        files.write(Path(tmp))
        client.log_artifacts(run_id, tmp)
        if ctx.output_dir is not None:
            shutil.copytree(tmp, ctx.output_dir, dirs_exist_ok=True)


def log_run(spec: RunSpec, record: Record, files: RunFiles, start_ms: int, ctx: Context,
            inputs: Sequence[DatasetInput] = ()) -> str:
    """A finished run logged through the public client, request by request; its id."""
    with mlflow_client.open_run(ctx.client, ctx.experiment_id, name=spec.name,
                                tags=run_tags(spec, ctx)) as run:
        log_inputs(ctx, run.run_id, inputs)
        log_record(run.run_id, record, files, start_ms, ctx, params=spec.params)
        run.status = MLFLOW_STATUS.get(record.status, run.status)
    return run.run_id


def log_failure(spec: RunSpec, ctx: Context, message: str) -> str:
    """In a sweep, a configuration that cannot run is still a run: FAILED, with the reason."""
    tags = {**run_tags(spec, ctx), STATUS_TAG: FAILED, ERROR_TAG: message[:5000]}
    with mlflow_client.open_run(ctx.client, ctx.experiment_id, name=spec.name, tags=tags) as run:
        mlflow_client.log_batch(ctx.client, run.run_id, params=spec.params)
        run.status = MLFLOW_STATUS[FAILED]
    return run.run_id


def log_inputs(ctx: Context, run_id: str, inputs: Sequence[DatasetInput]) -> None:
    """The run's data sets (see `datasets`), if it has any."""
    if inputs:
        ctx.client.log_inputs(run_id, datasets=list(inputs))


def finished_run(spec: RunSpec, record: Record, files: RunFiles, start_ms: int,
                 ctx: Context, inputs: Sequence[DatasetInput] = ()) -> FinishedRun:
    """The whole content of a run that has finished (a row of a vectorised sweep): the
    same params, tags, metrics and files as a single run logs step by step."""
    return FinishedRun(
        name=spec.name, tags={**run_tags(spec, ctx), STATUS_TAG: record.status},
        params=spec.params, metrics=record_metrics(record, start_ms, ctx),
        status=MLFLOW_STATUS.get(record.status, "FINISHED"), start_ms=start_ms,
        end_ms=int(time.time() * 1000), files=files, inputs=inputs)
