"""MLflow plumbing: where to log, experiments, runs that always end, batched writes."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException

from runner.constants import KILLED, STATUS_TAG
from runner.errors import Interrupted, TrackingError, deferred_interrupts, first_line
from runner.spec import param_text
from runner.tracking import mlflow_private, template

# MLflow retries an unreachable server for minutes by default; fail a run visibly instead.
for _name, _value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),
                      ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
                      ("MLFLOW_HTTP_REQUEST_TIMEOUT", "30"),
                      # its "View run" links open the UI's GenAI pages: the runner prints its own
                      ("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true"),
                      # a sweep reads its best run's files back: no download bars on its console
                      ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")):
    os.environ.setdefault(_name, _value)

# "Creating initial MLflow database tables..." and its tracebacks of errors it raises anyway:
# the runner reports each store error once, in a line
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
logging.getLogger("alembic").setLevel(logging.WARNING)

# MLflow's per-request limits for log_batch
MAX_METRICS, MAX_PARAMS, MAX_TAGS = 1000, 100, 100  # MAX_METRICS also bounds the total
StoreError = MlflowException  # what a store raises for a request it refuses
# How long a write waits for a store another process holds locked before it fails, in all
# (bounded exponential backoff): GRADLAB_STORE_RETRY_S, default 60 s
RETRY_ENV, RETRY_S = "GRADLAB_STORE_RETRY_S", 60.0
# errors that pass: another writer holds the database (SQLite's lock, PostgreSQL's conflicts)
TRANSIENT = ("database is locked", "database table is locked", "could not serialize access",
             "deadlock detected")
CONNECT_TIMEOUT_S = 3.0
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"


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
    """Fail fast, in seconds and before any work, when the store cannot be used: an HTTP
    server or database that does not answer, a SQLite file that cannot be created or written."""
    if uri.startswith("sqlite:///"):
        return _check_sqlite_file(uri[len("sqlite:///"):])
    if uri.startswith(("postgresql", "mysql", "mssql")):
        return _check_database_server(uri)
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as reply:
            reply.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"cannot reach the MLflow tracking server at {uri} ({reason})") from None


def _check_sqlite_file(path: str) -> None:
    where = Path(path)
    if where.is_dir():
        raise TrackingError(f"cannot use the tracking store sqlite:///{path}: it is a folder")
    if not where.exists() and not where.parent.is_dir():
        raise TrackingError(f"cannot use the tracking store sqlite:///{path}: the folder "
                            f"{where.parent} does not exist")
    try:  # create it (SQLite takes an empty file for an empty database) or open it to write
        os.close(os.open(where, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644))
    except OSError as exc:
        raise TrackingError(f"cannot use the tracking store sqlite:///{path}: "
                            f"{exc.strerror or exc}") from None


def _check_database_server(uri: str) -> None:
    parsed = urllib.parse.urlsplit(uri)
    default = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}
    port = parsed.port or default.get(parsed.scheme.split("+")[0], 0)
    if not parsed.hostname or not port:
        return  # a socket path or driver-specific form: left to the driver
    try:
        socket.create_connection((parsed.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise TrackingError(f"cannot reach the tracking database at {parsed.hostname}:{port} "
                            f"({exc.strerror or exc})") from None


@functools.cache
def client_for(uri: str) -> MlflowClient:
    """One client per store and process (a client holds its store's connection pool), whose
    calls wait out another process's lock (RetryingClient). A new SQLite store is created
    (from a template: runner.tracking.template) under a lock beside the file, so any number
    of processes may start together."""
    with _creation_lock(uri):
        if uri.startswith("sqlite:///"):
            template.seed(Path(uri[len("sqlite:///"):]))
        client = RetryingClient(MlflowClient(tracking_uri=uri))
        mlflow_private.store(client)  # the store opens (creating the tables) here, once
    return client


@contextlib.contextmanager
def _creation_lock(uri: str) -> Iterator[None]:
    """An exclusive lock on `<file>.lock` beside a SQLite store; nothing for other stores
    (a database server serialises MLflow's migrations in its own transactions)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    with open(uri[len("sqlite:///"):] + ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class RetryingClient:
    """An MlflowClient whose requests retry while another process holds the store locked:
    exponential backoff with jitter, for at most GRADLAB_STORE_RETRY_S seconds in all; any
    other error, or the budget spent, is raised as it is."""

    def __init__(self, client: MlflowClient) -> None:
        self._client = client

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if not callable(attr) or name.startswith("_"):
            return attr
        return functools.partial(retrying, attr)


def retrying(call: Callable, *args, **kwargs):
    """call(*args, **kwargs), again after a pause while the store is locked."""
    budget = float(os.environ.get(RETRY_ENV, RETRY_S))
    deadline, pause = time.monotonic() + budget, 0.05
    while True:
        try:
            return call(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - only transient store errors are retried
            if not is_transient(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause * (0.5 + random.random()))
        pause = min(pause * 2, 2.0)


def is_transient(exc: BaseException) -> bool:
    text = str(exc)
    return any(marker in text for marker in TRANSIENT)


def experiment_id(client: MlflowClient, name: str) -> str:
    """Id of the named experiment, creating it if needed (safe if another process races)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:  # the training kind: MLflow's UI opens it on the runs table, not its GenAI overview
        return client.create_experiment(name, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
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


def store_error(exc: BaseException) -> str:
    """One line for an error: a store's without MLflow's and SQLAlchemy's wrapping
    (`tracking store: database is locked`), any other as `Type: message`."""
    if not isinstance(exc, MlflowException):
        return f"{type(exc).__name__}: {first_line(exc)}"
    text = first_line(exc)
    for marker in ("(sqlite3.OperationalError) ", "(sqlite3.DatabaseError) ", "OperationalError) "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return f"tracking store: {text}"


class RunHandle:
    """An open run: its id, and the terminal status it will end with (the body may set it).
    `completed`: everything is recorded, so an interrupt from now on leaves it FINISHED."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.status = RunStatus.to_string(RunStatus.FINISHED)
        self.completed = False


@contextlib.contextmanager
def open_run(client: MlflowClient, experiment: str, *, name: str | None = None,
             tags: Mapping[str, str] | None = None) -> Iterator[RunHandle]:
    """Create a run and guarantee it ends: FINISHED (or the status the body set), FAILED
    on error, KILLED on interrupt (with the status tag `killed`, even before its first step).
    One request to create, one to end; a signal that arrives during either waits until it is
    done, so no run is left RUNNING."""
    with deferred_interrupts(raise_on_exit=False) as pending:
        run = RunHandle(client.create_run(experiment, run_name=name,
                                          tags=dict(tags or {})).info.run_id)
    try:
        pending.raise_now()
        yield run
    except (Interrupted, KeyboardInterrupt):
        if not run.completed:
            run.status = RunStatus.to_string(RunStatus.KILLED)
        raise
    except BaseException:
        run.status = RunStatus.to_string(RunStatus.FAILED)
        raise
    finally:
        with deferred_interrupts():
            end_run(client, run.run_id, run.status)


def end_run(client: MlflowClient, run_id: str, status: str) -> None:
    """End a run with MLflow status `status` (a KILLED run also with the status tag `killed`,
    even before its first step). Best effort: the store may be what failed."""
    if status == RunStatus.to_string(RunStatus.KILLED):
        with contextlib.suppress(Exception):
            client.set_tag(run_id, STATUS_TAG, KILLED)
    with contextlib.suppress(Exception):
        client.set_terminated(run_id, status)


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
