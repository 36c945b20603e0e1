"""Many finished runs in one transaction, for MLflow's SQL tracking stores.

MLflow's client writes a run in several requests, each a session with its own queries
(create, log_batch, set_terminated: about 30 ms a run on SQLite, nearly all of it ORM
work). A vectorised sweep has hundreds of finished runs at once; this inserts them with
one multi-row INSERT per MLflow table, in one transaction, and writes their artifact files
first, so a run that exists has its files, and a failure leaves no run half-written. It
also reads a sweep's runs back in a few queries (`runs_tagged`).

What goes into the rows is exactly what MLflow's own store writes for create_run +
log_batch + set_terminated (same tables, columns, name tag, user id, metric sanitising and
de-duplication, latest-metric rule, param and tag validation); the tests read runs written
both ways back through MlflowClient and compare them. Stores of other kinds (an HTTP
server, ...) are not SQL, and a SQL store whose schema revision the rows were not tested
against is not written to either: `supports` says so (the latter once, as a warning) and
the caller logs run by run through the public client.
"""

from __future__ import annotations

import logging
import math
import tempfile
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from mlflow import MlflowClient
from mlflow.entities import (
    DatasetInput, Experiment, LifecycleStage, Metric, Param, RunStatus, RunTag, SourceType)
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME, MLFLOW_USER
from mlflow.utils.uri import append_to_uri_path
from sqlalchemy import insert, select

from runner.tracking import history, mlflow_private
from runner.tracking.files import RunFiles, Writers, run_folder
from runner.tracking.history import History
from runner.tracking.metrics import COLUMNS as METRIC_COLUMNS
from runner.tracking.metrics import MetricTable

log = logging.getLogger(__name__)


@dataclass
class FinishedRun:
    """One run's whole content, written at once."""

    name: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: MetricTable | Sequence[Metric]
    status: str  # MLflow's terminal status: FINISHED, FAILED, KILLED
    start_ms: int
    end_ms: int
    files: RunFiles
    inputs: Sequence[DatasetInput] = ()  # its data sets (log_inputs)


def supports(client: MlflowClient) -> bool:
    """Whether runs can be written here in bulk: MLflow's SQL store (sqlite://,
    postgresql://, ...) at a schema revision the rows were tested against."""
    if not mlflow_private.is_sql_store(client):
        return False
    revision = mlflow_private.schema_revision(client)
    if revision in mlflow_private.TESTED_REVISIONS:
        return True
    if revision not in _WARNED:
        _WARNED.add(revision)
        log.warning(f"the tracking database's schema revision {revision} is not one the bulk "
                    "writer was tested against; runs are logged one by one instead")
    return False


_WARNED: set[str | None] = set()


def write_runs(client: MlflowClient, experiment_id: str, runs: Sequence[FinishedRun],
               writers: Writers | None = None) -> list[str]:
    """Write finished runs (files first, by `writers` where given, then every row in one
    transaction); their ids.

    Raises MlflowException for content MLflow would refuse (then nothing is recorded)."""
    return commit(client, prepare(client, client.get_experiment(experiment_id), runs, writers))


@dataclass
class Tuples:
    """Rows as the tuples the database driver takes, in the order of `columns`."""

    columns: Sequence[str]
    values: list[tuple] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)

    def extend(self, other: Tuples) -> None:
        self.values.extend(other.values)

    def dicts(self) -> list[dict]:
        return [dict(zip(self.columns, v)) for v in self.values]


@dataclass
class Elsewhere:
    """Runs' files written by another process (a sweep's engine, which made them) into
    `run_folder(root, id)` for these run ids, while the rows are made ready and go in: done
    once `written` is set, failed if `problem` says why."""

    root: str
    ids: list[str]
    written: threading.Event = field(default_factory=threading.Event)
    problem: str | None = None

    def done(self, problem: str | None = None) -> None:
        self.problem = problem
        self.written.set()

    def wait(self) -> None:
        """Until the files are written; OSError if they could not be."""
        self.written.wait()
        if self.problem is not None:
            raise OSError(f"the runs' files were not written: {self.problem}")


@dataclass
class Prepared:
    """Runs checked and turned into rows, their files written, being written (by the writer
    processes, or `elsewhere`), or to write in place (`here`: by `commit`, before its rows
    go in, so that the rows are ready, for a sweep's report, before the files are)."""

    ids: list[str]
    rows: dict[str, list[dict] | Tuples]
    pending: list[Future]  # the writer processes' work on the files
    experiment_id: str = ""
    inputs: list[tuple[str, DatasetInput]] = field(default_factory=list)  # (run id, input)
    here: list[tuple[Path, RunFiles]] = field(default_factory=list)  # (folder, its files)
    elsewhere: Elsewhere | None = None
    written: threading.Event = field(default_factory=threading.Event)  # `here` done (or failed)

    def __post_init__(self) -> None:
        if self.elsewhere is not None:
            self.written = self.elsewhere.written
        elif not self.here:
            self.written.set()

    def write_here(self) -> None:
        """Write the files that go in place; `written` is set even if that fails (the commit
        then fails with what did)."""
        if self.elsewhere is not None:
            return
        try:
            for folder, files in self.here:
                files.write(folder)
            self.here = []
        finally:
            self.written.set()


def target(client: MlflowClient, experiment_id: str) -> Experiment | None:
    """The experiment that runs are written to in bulk, or None where they cannot be
    (`supports`). A caller writing several batches reads it once: on SQLite a read waits
    while another batch's transaction holds the database."""
    return client.get_experiment(experiment_id) if supports(client) else None


def prepare(client: MlflowClient, experiment: Experiment, runs: Sequence[FinishedRun],
            writers: Writers | None = None, elsewhere: Elsewhere | None = None) -> Prepared:
    """The first half of write_runs: check the runs, make their rows, start their files
    (unless `elsewhere` writes them, for its run ids, where this would). `commit` does the
    rest; in between, the caller can prepare the next runs."""
    experiment_id = experiment.experiment_id
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise MlflowException(f"experiment {experiment_id} is deleted")
    ids = [uuid.uuid4().hex for _ in runs] if elsewhere is None else elsewhere.ids
    uris = [append_to_uri_path(experiment.artifact_location, i, "artifacts") for i in ids]
    if elsewhere is not None and (len(ids) != len(runs) or any(
            local_folder(uri) != run_folder(elsewhere.root, i) for uri, i in zip(uris, ids))):
        raise MlflowException("the runs' files were written elsewhere than their runs' "
                              "artifact folders")
    rows: dict[str, list[dict] | Tuples] = {  # runs first: the others refer to them
        "runs": [], "tags": [], "params": [], "metrics": Tuples(METRIC_COLUMNS),
        "latest_metrics": Tuples(METRIC_COLUMNS)}
    for run_id, uri, run in zip(ids, uris, runs):
        for table, new in _rows(run_id, run, experiment_id, uri).items():
            rows[table].extend(new)
    inputs = [(run_id, i) for run_id, run in zip(ids, runs) for i in run.inputs]
    if elsewhere is not None:
        return Prepared(ids, rows, [], experiment_id, inputs, elsewhere=elsewhere)
    pending, here = _write_files(uris, runs, writers)
    return Prepared(ids, rows, pending, experiment_id, inputs, here)


def commit(client: MlflowClient, prepared: Prepared) -> list[str]:
    """Insert every row in one transaction, committed once the files are written (those
    that go in place first; the writer processes, or whoever writes them `elsewhere`, write
    theirs while the rows go in); the runs' ids."""
    prepared.write_here()
    tables = mlflow_private.tables()
    # if this fails, files without a run may stay behind: harmless, unlike the reverse
    with mlflow_private.write_session(client) as session:
        _roomy(session)
        for table, values in prepared.rows.items():
            _insert(session, tables[table], values)
        for table, values in _input_rows(session, tables, prepared).items():
            _insert(session, tables[table], values)
        for future in prepared.pending:  # a run exists only with its files
            future.result()
        if prepared.elsewhere is not None:
            prepared.elsewhere.wait()
    return prepared.ids


# SQLite's page cache for a transaction of many runs: with its default 2 MB the metrics
# table's three indexes spill to the file part-way (64,000 metric rows: 0.36 → 0.26 s).
# Pages are kept only as far as the data fills them.
SQLITE_CACHE_KIB = 32768


def _roomy(session) -> None:
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")


def _insert(session, table, values: list[dict] | Tuples) -> None:
    """Rows (dicts with the same keys, or Tuples) into a table: on SQLite straight to the
    driver's executemany, since SQLAlchemy's per-row parameter handling would double the time
    of a sweep's writes (its SQLite types convert nothing: text, integers, floats, booleans
    as 0/1); elsewhere through SQLAlchemy, whose bulk INSERT suits each server."""
    if not values:
        return
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        session.execute(insert(table), values.dicts() if isinstance(values, Tuples) else values)
        return
    if not isinstance(values, Tuples):
        columns = list(values[0])
        values = Tuples(columns, [tuple(row[c] for c in columns) for row in values])
    names = ", ".join(f'"{c}"' for c in values.columns)
    connection.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" * len(values.columns))})',
        values.values)


def _input_rows(session, tables: dict, prepared: Prepared) -> dict[str, list[dict]]:
    """The rows `log_inputs` writes for each run's data sets: a dataset row for each one
    the experiment does not have yet (by name and digest), an input row and its tags per run."""
    if not prepared.inputs:
        return {}
    datasets = tables["datasets"]
    wanted = {(i.dataset.name, i.dataset.digest): i.dataset for _, i in prepared.inputs}
    found = session.execute(select(datasets.c.name, datasets.c.digest, datasets.c.dataset_uuid)
                            .where(datasets.c.experiment_id == int(prepared.experiment_id))
                            .where(datasets.c.name.in_({n for n, _ in wanted}))
                            .where(datasets.c.digest.in_({d for _, d in wanted})))
    uuids = {(name, digest): uuid_ for name, digest, uuid_ in found}
    rows: dict[str, list[dict]] = {"datasets": [], "inputs": [], "input_tags": []}
    for key, dataset in wanted.items():
        if key not in uuids:
            uuids[key] = uuid.uuid4().hex
            rows["datasets"].append(dict(
                dataset_uuid=uuids[key], experiment_id=int(prepared.experiment_id),
                name=dataset.name, digest=dataset.digest, dataset_source_type=dataset.source_type,
                dataset_source=dataset.source, dataset_schema=dataset.schema,
                dataset_profile=dataset.profile))
    for run_id, dataset_input in prepared.inputs:
        input_id = uuid.uuid4().hex
        rows["inputs"].append(dict(
            input_uuid=input_id, source_type="DATASET",
            source_id=uuids[dataset_input.dataset.name, dataset_input.dataset.digest],
            destination_type="RUN", destination_id=run_id, step=0))
        rows["input_tags"] += [dict(input_uuid=input_id, name=t.key, value=t.value)
                               for t in dataset_input.tags]
    return rows


def _rows(run_id: str, run: FinishedRun, experiment_id: str, artifact_uri: str) -> dict:
    """The run's rows for each MLflow table, as create_run + log_batch + set_terminated
    would write them."""
    RunStatus.from_string(run.status)  # raises on a status MLflow does not know
    tags = {MLFLOW_RUN_NAME: run.name, **run.tags}
    params, tags = mlflow_private.validate_batch(
        [Param(k, v) for k, v in run.params.items()], [RunTag(k, v) for k, v in tags.items()])
    table = (run.metrics if isinstance(run.metrics, MetricTable)
             else MetricTable.of_entities(run.metrics))
    metrics, latest = table.rows(run_id)
    return {
        "runs": [dict(
            run_uuid=run_id, name=run.name, artifact_uri=artifact_uri,
            experiment_id=int(experiment_id), source_type=SourceType.to_string(SourceType.UNKNOWN),
            source_name="", entry_point_name="", user_id=run.tags.get(MLFLOW_USER, "unknown"),
            status=run.status, start_time=run.start_ms, end_time=run.end_ms, deleted_time=None,
            source_version="", lifecycle_stage=LifecycleStage.ACTIVE)],
        "tags": [dict(run_uuid=run_id, key=t.key, value=t.value) for t in tags],
        "params": [dict(run_uuid=run_id, key=p.key, value=p.value) for p in params],
        "metrics": Tuples(METRIC_COLUMNS, metrics),
        "latest_metrics": Tuples(METRIC_COLUMNS, latest),
    }


def local_folder(artifact_uri: str) -> str | None:
    """The folder of a local artifact location (None elsewhere)."""
    repo = get_artifact_repository(artifact_uri)
    return repo.artifact_dir if isinstance(repo, LocalArtifactRepository) else None


def _write_files(uris: list[str], runs: Sequence[FinishedRun], writers: Writers | None
                 ) -> tuple[list[Future], list[tuple[Path, RunFiles]]]:
    """Each run's files into its artifact location: by the writer processes if given (plots
    are drawn here; their futures returned), else straight into place when local (what is
    returned second: the commit writes them), uploaded from a temporary folder otherwise."""
    folders = [local_folder(uri) for uri in uris]
    local = [(folder, run.files) for folder, run in zip(folders, runs) if folder is not None]
    pending = writers.submit(local) if writers is not None and local else []
    here = []
    for uri, folder, run in zip(uris, folders, runs):
        if folder is None:
            with tempfile.TemporaryDirectory(prefix="gradlab-") as tmp:
                run.files.write(Path(tmp))
                get_artifact_repository(uri).log_artifacts(tmp)
        elif not pending:
            here.append((Path(folder), run.files))
        elif run.files.draw is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
            run.files.draw(Path(folder))
    return pending, here


def runs_tagged(client: MlflowClient, experiment_id: str, key: str, value: str) -> list:
    """The experiment's active runs with tag `key` = `value`, as `search_runs` returns them
    (same order, info, params, tags and latest metrics; no dataset inputs or logged models,
    which nobody reading a sweep's children asks for), in four queries: MLflow's search
    builds an ORM object per row, 2 s for a 1,000-run sweep against ~0.2 s here.
    tests/test_sqlstore.py compares the two."""
    tables = mlflow_private.tables()
    runs, tags = tables["runs"], tables["tags"]
    chosen = (select(tags.c.run_uuid).join(runs, runs.c.run_uuid == tags.c.run_uuid)
              .where(tags.c.key == key, tags.c.value == value,
                     runs.c.experiment_id == int(experiment_id),
                     runs.c.lifecycle_stage == LifecycleStage.ACTIVE))
    with mlflow_private.read_session(client) as session:
        found = session.execute(select(runs).where(runs.c.run_uuid.in_(chosen))
                                .order_by(runs.c.start_time.desc(), runs.c.run_uuid)).all()
        children = {name: _by_run(session, tables[name], chosen)
                    for name in ("tags", "params", "latest_metrics")}
    return [_run(row, *(children[name].get(row.run_uuid, ())
                        for name in ("tags", "params", "latest_metrics"))) for row in found]


def read_back(batches: Sequence[Prepared], keys: Sequence[str]
              ) -> tuple[list, dict[str, dict[str, History]]]:
    """The runs of prepared batches as they will read back once committed: as runs_tagged
    finds them (same order, info, params, tags and latest metrics), and the histories of
    `keys` as runner.tracking.history reads them (by key, then run id). A sweep's report is
    built from them while they are committed. tests/test_sqlstore.py compares both ways."""
    rows: dict[str, list] = {table: [] for table in ("runs", "tags", "params", "latest_metrics")}
    points: dict[str, list] = {key: [] for key in keys}  # (run id, step, timestamp, value)
    column = {c: i for i, c in enumerate(METRIC_COLUMNS)}
    run, key, value, stamp, step, nan = (column[c] for c in (
        "run_uuid", "key", "value", "timestamp", "step", "is_nan"))
    for batch in batches:
        for table in ("runs", "tags", "params"):
            rows[table] += [SimpleNamespace(**row) for row in batch.rows[table]]
        rows["latest_metrics"] += [SimpleNamespace(**row)
                                   for row in batch.rows["latest_metrics"].dicts()]
        for m in batch.rows["metrics"].values:
            if m[key] in points:
                points[m[key]].append((m[run], m[step], m[stamp],
                                       math.nan if m[nan] else m[value]))
    by_run = {table: _grouped(rows[table]) for table in ("tags", "params", "latest_metrics")}
    ordered = sorted(rows["runs"], key=lambda row: (-row.start_time, row.run_uuid))
    runs = [_run(row, *(by_run[table].get(row.run_uuid, ())
                        for table in ("tags", "params", "latest_metrics"))) for row in ordered]
    return runs, {k: history.histories(found) for k, found in points.items()}


def _grouped(rows: list) -> dict[str, list]:
    out: dict[str, list] = {}
    for row in rows:
        out.setdefault(row.run_uuid, []).append(row)
    return out


def _run(row, tags, params, latest):
    """An MLflow Run of a `runs` row and its tags, params and latest metrics rows."""
    from mlflow.entities import Run, RunData, RunInfo

    run_tags = [RunTag(t.key, t.value) for t in tags]
    name = row.name or next((t.value for t in run_tags if t.key == MLFLOW_RUN_NAME), None)
    info = RunInfo(run_id=row.run_uuid, run_name=name, experiment_id=str(row.experiment_id),
                   user_id=row.user_id, status=row.status, start_time=row.start_time,
                   end_time=row.end_time, lifecycle_stage=row.lifecycle_stage,
                   artifact_uri=row.artifact_uri)
    data = RunData(metrics=[Metric(m.key, math.nan if m.is_nan else m.value, m.timestamp, m.step)
                            for m in latest],
                   params=[Param(p.key, p.value) for p in params], tags=run_tags)
    return Run(info, data)


def _by_run(session, table, chosen) -> dict[str, list]:
    return _grouped(list(session.execute(select(table).where(table.c.run_uuid.in_(chosen)))))
