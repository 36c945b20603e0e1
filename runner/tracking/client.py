"""MLflow plumbing: where to log, experiments, runs that always end, batched writes."""

from __future__ import annotations

import contextlib
import functools
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException

from runner.constants import KILLED, STATUS_TAG
from runner.errors import Interrupted, TrackingError, first_line
from runner.spec import param_text

# MLflow retries an unreachable server for minutes by default; fail a run visibly instead.
for _name, _value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),
                      ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
                      ("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")):
    os.environ.setdefault(_name, _value)

# MLflow's per-request limits for log_batch
MAX_METRICS, MAX_PARAMS, MAX_TAGS = 1000, 100, 100  # MAX_METRICS also bounds the total
StoreError = MlflowException  # what a store raises for a request it refuses


def resolve_uri(configured: str | None, base_dir: str | Path) -> str:
    """tracking.uri if set, else MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in base_dir.

    A relative SQLite or file path is made absolute against `base_dir` (the directory the
    user launched from), so jobs that change directory still share one store.
    """
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"
    base = Path(base_dir)
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{(base / uri[len('sqlite:///'):]).resolve()}"
    if "://" not in uri:
        return (base / uri).resolve().as_uri()
    return uri


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, before any work, when an HTTP tracking server does not answer."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as reply:
            reply.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"cannot reach the MLflow tracking server at {uri} ({reason})") from None


@functools.cache
def client_for(uri: str) -> MlflowClient:
    """One client per store and process (a client holds its store's connection pool)."""
    return MlflowClient(tracking_uri=uri)


def experiment_id(client: MlflowClient, name: str) -> str:
    """Id of the named experiment, creating it if needed (safe if another process races)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def open_experiment(uri: str, name: str) -> str:
    """The experiment's id, creating store and experiment if needed; a store that cannot be
    used is one TrackingError."""
    check_reachable(uri)
    try:
        return experiment_id(client_for(uri), name)
    except Exception as exc:  # noqa: BLE001 - any store failure becomes one clear message
        raise TrackingError(f"cannot use the tracking store {uri}: {first_line(exc)}") from None


class RunHandle:
    """An open run: its id, and the terminal status it will end with (the body may set it)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.status = RunStatus.to_string(RunStatus.FINISHED)


@contextlib.contextmanager
def open_run(client: MlflowClient, experiment: str, *, name: str | None = None,
             tags: Mapping[str, str] | None = None) -> Iterator[RunHandle]:
    """Create a run and guarantee it ends: FINISHED (or the status the body set), FAILED
    on error, KILLED on interrupt. One request to create, one to end."""
    run = RunHandle(client.create_run(experiment, run_name=name, tags=dict(tags or {})).info.run_id)
    try:
        yield run
    except (Interrupted, KeyboardInterrupt):
        run.status = RunStatus.to_string(RunStatus.KILLED)
        raise
    except BaseException:
        run.status = RunStatus.to_string(RunStatus.FAILED)
        raise
    finally:
        with contextlib.suppress(Exception):
            client.set_terminated(run.run_id, run.status)


def metric_entities(steps: Sequence[int] | np.ndarray, histories: Mapping[str, np.ndarray],
                    timestamps_ms: np.ndarray | None = None,
                    finals: Mapping[str, float] | None = None) -> list[Metric]:
    """Whole metric histories (logged at `steps`) and final scalars (at step 0) as entities."""
    now = int(time.time() * 1000)
    stamps = np.full(len(steps), now) if timestamps_ms is None else timestamps_ms
    steps_list, stamps_list = [int(s) for s in steps], [int(s) for s in stamps]
    metrics = [
        Metric(key, float(v), ts, st)
        for key, values in histories.items()
        for v, ts, st in zip(values.tolist(), stamps_list, steps_list)
    ]
    return metrics + [Metric(k, float(v), now, 0) for k, v in (finals or {}).items()]


def log_batch(client: MlflowClient, run_id: str, *, metrics: Sequence[Metric] = (),
              params: Mapping[str, object] | None = None,
              tags: Mapping[str, object] | None = None) -> None:
    """Log everything in as few requests as MLflow's per-request limits allow."""
    params_left = [Param(k, param_text(v)) for k, v in (params or {}).items()]
    tags_left = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
    metrics_left = list(metrics)
    while params_left or tags_left or metrics_left:
        p, params_left = params_left[:MAX_PARAMS], params_left[MAX_PARAMS:]
        t, tags_left = tags_left[:MAX_TAGS], tags_left[MAX_TAGS:]
        room = MAX_METRICS - len(p) - len(t)
        m, metrics_left = metrics_left[:room], metrics_left[room:]
        client.log_batch(run_id, metrics=m, params=p, tags=t)


def search_all(client: MlflowClient, experiment_id: str, filter_string: str = "",
               page: int = 1000) -> list:
    """Every run matching the filter, in pages (one request per page)."""
    runs, token = [], None
    while True:
        found = client.search_runs([experiment_id], filter_string=filter_string,
                                   max_results=page, page_token=token)
        runs.extend(found)
        token = found.token
        if not token:
            return runs


def end_as_killed(client: MlflowClient, runs: Sequence) -> None:
    """End runs that a killed process left RUNNING: status tag `killed`, MLflow KILLED."""
    for run in runs:
        client.set_tag(run.info.run_id, STATUS_TAG, KILLED)
        client.set_terminated(run.info.run_id, "KILLED")
