"""MLflow plumbing: where to log, experiments, runs that always end, batched writes."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException

# MLflow retries an unreachable server for minutes by default; fail a run visibly instead.
for _name, _value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),
                      ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
                      ("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")):
    os.environ.setdefault(_name, _value)

# MLflow's per-request limits for log_batch
MAX_METRICS, MAX_PARAMS, MAX_TAGS = 1000, 100, 100
PARENT_TAG = "mlflow.parentRunId"


class TrackingError(RuntimeError):
    """The tracking store cannot be used; phrased for the user."""


class Interrupted(BaseException):
    """Raised in the main thread by SIGTERM/SIGINT so open runs end as KILLED."""


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


def client_for(uri: str) -> MlflowClient:
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


@contextlib.contextmanager
def open_run(client: MlflowClient, experiment: str, *, name: str | None = None,
             tags: Mapping[str, str] | None = None) -> Iterator[str]:
    """Create a run and guarantee it ends: FINISHED, FAILED on error, KILLED on interrupt.

    The body may set the terminal status itself (`client.set_terminated`); otherwise the
    run ends FINISHED when the body returns.
    """
    run = client.create_run(experiment, run_name=name, tags=dict(tags or {}))
    run_id = run.info.run_id
    status = RunStatus.to_string(RunStatus.FINISHED)
    try:
        yield run_id
    except (Interrupted, KeyboardInterrupt):
        status = RunStatus.to_string(RunStatus.KILLED)
        raise
    except BaseException:
        status = RunStatus.to_string(RunStatus.FAILED)
        raise
    finally:
        with contextlib.suppress(Exception):
            if client.get_run(run_id).info.status == "RUNNING":
                client.set_terminated(run_id, status)


@contextlib.contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """Turn SIGTERM (and SIGINT) into `Interrupted` in the main thread, for this block."""
    def handler(signum, frame):
        raise Interrupted(signal.Signals(signum).name)

    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        previous = {}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def log_params(client: MlflowClient, run_id: str, params: Mapping[str, object]) -> None:
    items = [Param(k, _param_text(v)) for k, v in params.items()]
    for i in range(0, len(items), MAX_PARAMS):
        client.log_batch(run_id, params=items[i : i + MAX_PARAMS])


def log_tags(client: MlflowClient, run_id: str, tags: Mapping[str, object]) -> None:
    items = [RunTag(k, str(v)) for k, v in tags.items()]
    for i in range(0, len(items), MAX_TAGS):
        client.log_batch(run_id, tags=items[i : i + MAX_TAGS])


def log_histories(client: MlflowClient, run_id: str, steps: Sequence[int] | np.ndarray,
                  histories: Mapping[str, np.ndarray], timestamps_ms: np.ndarray | None = None,
                  finals: Mapping[str, float] | None = None) -> None:
    """Log whole metric histories (and final scalars) with as few requests as possible."""
    now = int(time.time() * 1000)
    stamps = np.full(len(steps), now) if timestamps_ms is None else timestamps_ms
    steps_list, stamps_list = [int(s) for s in steps], [int(s) for s in stamps]
    metrics = [
        Metric(key, float(v), ts, st)
        for key, values in histories.items()
        for v, ts, st in zip(values.tolist(), stamps_list, steps_list)
    ]
    metrics += [Metric(k, float(v), now, 0) for k, v in (finals or {}).items()]
    for i in range(0, len(metrics), MAX_METRICS):
        client.log_batch(run_id, metrics=metrics[i : i + MAX_METRICS])


def _param_text(value: object) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."
