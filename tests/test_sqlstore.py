"""Runs written in one transaction (runner.sqlstore) read back through MlflowClient exactly
as the same runs logged with MLflow's own client calls: info, params, tags, latest metrics,
every metric history, artifacts. On SQLite, and on a real PostgreSQL (slow tier)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from sqlalchemy import text

from objectives.regression import LinearRegression
from runner.tracking import datasets, history, mlflow_private, sqlstore
from runner.tracking.files import RunFiles, Writers
from runner.tracking.metrics import MetricTable
from tests.conftest import postgres

T0 = 1_790_000_000_000  # ms
DATA = LinearRegression(n=5)  # an objective with data: its runs log it as a dataset input


def finished(status: str = "FINISHED", name: str = "quad-autograd-sgd", columns: bool = False,
             **params) -> sqlstore.FinishedRun:
    """A run with what MLflow treats specially: NaN and ±inf values, a duplicate point, ties
    at the last step broken by timestamp then value, a param over MLflow's length limit;
    its metrics as entities, or as the runner's columns (MetricTable)."""
    steps = np.arange(6)
    loss = [10.0, 2.5, math.nan, math.inf, -math.inf, 1e-300]
    metrics = [Metric("loss", v, T0 + 10 * int(s), int(s)) for s, v in zip(steps, loss)]
    metrics += [Metric("loss", 1e-300, T0 + 50, 5),  # the same point twice
                Metric("grad_norm", 3.0, T0 + 70, 7), Metric("grad_norm", 2.0, T0 + 80, 7),
                Metric("grad_norm", 1.0, T0 + 80, 7), Metric("grad_norm", 9.0, T0, 1),
                Metric("final_loss", 1e-300, T0 + 90, 0)]
    table = (["wall_time_s", "loss"], np.column_stack([steps * 0.01, loss]), steps)
    return sqlstore.FinishedRun(
        name=name, tags={"status": "converged", "config_hash": "0123456789abcdef",
                         "mlflow.source.name": "runner", "overrides": "optimizer.lr=0.1"},
        params={"optimizer.lr": "0.1", "objective.diag": "[4.0, 1.0]", "long": "x" * 6500,
                **params},
        metrics=MetricTable.of_entities(metrics) if columns else metrics, status=status,
        start_ms=T0, end_ms=T0 + 1234,
        files=RunFiles({"config.yaml": "optimizer:\n  lr: 0.1\n", "result.json": "{}\n"}, table),
        inputs=datasets.inputs(DATA))


def logged_one_by_one(client: MlflowClient, experiment: str, run: sqlstore.FinishedRun,
                      folder: Path) -> str:
    """The same run through MLflow's client: create, log_batch, artifacts, terminate."""
    run_id = client.create_run(experiment, start_time=run.start_ms, tags=run.tags,
                               run_name=run.name).info.run_id
    from mlflow.entities import Param

    client.log_batch(run_id, metrics=list(run.metrics),
                     params=[Param(k, v) for k, v in run.params.items()])
    client.log_inputs(run_id, datasets=list(run.inputs))
    run.files.write(folder)
    client.log_artifacts(run_id, str(folder))
    client.set_terminated(run_id, run.status, end_time=run.end_ms)
    return run_id


def everything(client: MlflowClient, run_id: str) -> dict:
    """All a reader can see of a run, without its id."""
    run = client.get_run(run_id)
    info = {k: getattr(run.info, k) for k in ("status", "start_time", "end_time", "run_name",
                                               "lifecycle_stage", "user_id", "experiment_id")}
    assert run.info.artifact_uri.endswith(f"/{run_id}/artifacts")
    histories = {key: sorted((m.step, m.timestamp, repr(m.value))
                             for m in client.get_metric_history(run_id, key))
                 for key in run.data.metrics}
    folder = Path(client.download_artifacts(run_id, ""))
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    latest = {k: repr(v) for k, v in run.data.metrics.items()}
    inputs = [(vars(i.dataset), [(t.key, t.value) for t in i.tags])
              for i in run.inputs.dataset_inputs]
    return {"info": info, "params": run.data.params, "tags": run.data.tags, "latest": latest,
            "histories": histories, "files": files, "inputs": inputs}


def dataset_rows(client: MlflowClient) -> int:
    with mlflow_private.store(client).engine.connect() as connection:
        return connection.execute(text("SELECT COUNT(*) FROM datasets")).scalar()


def check_same_as_client(uri: str, tmp_path: Path, writers: Writers | None = None) -> None:
    client = MlflowClient(uri)
    experiment = client.create_experiment("e", artifact_location=str(tmp_path / "artifacts"))
    runs = [finished(), finished("FAILED", name="rosenbrock-autograd-adam", columns=True)]
    ids = sqlstore.write_runs(client, experiment, runs, writers)  # the first to log the data
    expected = [everything(client, logged_one_by_one(client, experiment, r, tmp_path / f"r{i}"))
                for i, r in enumerate(runs)]
    assert [everything(client, i) for i in ids] == expected
    # one dataset for the four runs: the client found the one the transaction wrote
    assert dataset_rows(client) == 1
    dataset = expected[0]["inputs"][0]
    assert dataset[0]["_name"] == "linreg" and dataset[1] == [("mlflow.data.context", "training")]
    # what MLflow made of the special values, so the comparison above is not vacuous
    assert expected[0]["latest"]["grad_norm"] == "2.0"  # step 7, latest timestamp, largest value
    loss = [v for _, _, v in expected[0]["histories"]["loss"]]
    assert loss[2:] == ["nan", "1.7976931348623157e+308", "-1.7976931348623157e+308", "1e-300"]
    assert len(expected[0]["params"]["long"]) == 6000  # MLflow cut it to its limit
    # a search finds them as it finds the others (the report and resume search)
    found = {r.info.run_id for r in client.search_runs([experiment], "attributes.status = 'FAILED'")}
    assert ids[1] in found and ids[0] not in found and len(found) == 2
    check_read_as_search_reads(client, experiment)


def check_read_as_search_reads(client: MlflowClient, experiment: str) -> None:
    """The bulk reader (a sweep's children) finds what search_runs finds, in its order, and
    reads each run as it does; deleted runs, other experiments and other tag values left out."""
    shown = sorted(client.search_runs([experiment]), key=lambda r: r.info.run_id)
    client.log_metric(shown[0].info.run_id, "grad_norm", math.nan, step=99)  # a NaN latest
    client.delete_run(shown[1].info.run_id)
    client.set_tag(shown[2].info.run_id, "overrides", "optimizer.lr=1")
    other = client.create_experiment("other")
    client.create_run(other, tags={"overrides": "optimizer.lr=0.1"})

    def seen(runs):
        return [repr({"info": dict(r.info), "metrics": sorted(r.data.metrics.items()),
                      "params": r.data.params, "tags": r.data.tags}) for r in runs]

    for value in ("optimizer.lr=0.1", "optimizer.lr=1", "none"):
        searched = client.search_runs([experiment], f"tags.overrides = '{value}'")
        assert seen(sqlstore.runs_tagged(client, experiment, "overrides", value)) == seen(searched)
        assert len(searched) == {"optimizer.lr=0.1": 2, "optimizer.lr=1": 1, "none": 0}[value]
    assert "nan" in "".join(seen(client.search_runs([experiment])))


def test_prepared_runs_read_back_as_the_store_reads_them_once_committed(tmp_path):
    """read_back (a sweep's report, built while its rows are committed) gives the runs as
    runs_tagged reads them from the store afterwards, and their histories as the bulk
    history reader does: NaN, ±inf (stored as ±MAX) and duplicate points included."""
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment(
        client.create_experiment("e", artifact_location=str(tmp_path / "artifacts")))
    runs = [finished(), finished("FAILED", name="rosenbrock-autograd-adam", columns=True),
            finished(name="quad-autograd-sgd-2", **{"optimizer.lr": "0.2"})]
    runs[2].start_ms += 5  # runs_tagged's order: latest start first
    batches = [sqlstore.prepare(client, experiment, runs[:2]),
               sqlstore.prepare(client, experiment, runs[2:])]
    found, histories = sqlstore.read_back(batches, ("loss", "suboptimality"))
    for batch in batches:
        sqlstore.commit(client, batch)

    def seen(runs):
        return [repr({"info": dict(r.info), "metrics": sorted(r.data.metrics.items()),
                      "params": r.data.params, "tags": r.data.tags}) for r in runs]

    stored = sqlstore.runs_tagged(client, experiment.experiment_id, "overrides",
                                  "optimizer.lr=0.1")
    assert len(stored) == 3 and seen(found) == seen(stored)
    ids = [r.info.run_id for r in stored]
    for key in ("loss", "suboptimality"):
        read = history.read(client, ids, key, "sql")
        assert sorted(histories[key]) == sorted(read) == ([] if key == "suboptimality" else
                                                          sorted(ids))
        for run_id, h in read.items():
            ours = histories[key][run_id]
            for field in ("steps", "values", "seconds", "timestamps"):
                np.testing.assert_array_equal(getattr(ours, field), getattr(h, field))
    assert np.isnan(histories["loss"][ids[0]].values[2])
    assert histories["loss"][ids[0]].values[3] == np.finfo(np.float64).max


def test_a_transaction_writes_what_the_client_calls_write(tmp_path):
    check_same_as_client(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path)


def test_writer_processes_write_the_same_files(tmp_path):
    with Writers(here_lines=0) as writers:
        check_same_as_client(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path, writers)
        assert writers.started and len(writers.pool._processes) == writers.processes


def test_short_trajectories_are_written_without_starting_writer_processes(tmp_path):
    """A few short runs' files are written in place (starting two processes costs more
    CPU than writing them); the same files, and no pool made (its queues would start
    multiprocessing's resource tracker, a process too)."""
    with Writers() as writers:
        check_same_as_client(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path, writers)
        assert not writers.started and writers.pool is None


@pytest.mark.slow
def test_a_transaction_writes_what_the_client_calls_write_on_postgresql(tmp_path):
    with postgres() as database:
        check_same_as_client(database, tmp_path)


def test_content_mlflow_refuses_records_nothing(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("e", artifact_location=str(tmp_path / "artifacts"))
    with pytest.raises(MlflowException, match="Invalid value"):
        sqlstore.write_runs(client, experiment, [finished(), finished(**{"bad\nkey": "1"})])
    assert client.search_runs([experiment]) == []
    assert not (tmp_path / "artifacts").exists()
    client.delete_experiment(experiment)
    with pytest.raises(MlflowException, match="deleted"):
        sqlstore.write_runs(client, experiment, [finished()])


def test_runs_whose_files_cannot_be_written_are_not_recorded(tmp_path):
    """The writer processes write the files while the rows go in; a file that cannot be
    written (here a file stands where the runs' folders go) rolls the transaction back: no
    run exists without its files."""
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    blocked = tmp_path / "artifacts"
    blocked.write_text("not a folder")
    experiment = client.create_experiment("e", artifact_location=str(blocked))
    with Writers(here_lines=0) as writers, pytest.raises(Exception, match="Not a directory"):
        sqlstore.write_runs(client, experiment, [finished(), finished()], writers)
    assert client.search_runs([experiment]) == []
    assert dataset_rows(client) == 0


def test_files_written_in_place_go_in_with_the_commit_before_its_rows(tmp_path):
    """Without writer processes, prepare makes the rows only (a sweep's report is built
    from them while the files are written); the commit writes the files, then the rows. A
    file that cannot be written records no run, and the files are said done with all the
    same, so that nothing waiting for them hangs."""
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    artifacts = tmp_path / "artifacts"
    experiment = client.create_experiment("e", artifact_location=str(artifacts))
    prepared = sqlstore.prepare(client, client.get_experiment(experiment), [finished()] * 2)
    assert not artifacts.exists() and not prepared.written.is_set()
    ids = sqlstore.commit(client, prepared)
    assert prepared.written.is_set() and len(client.search_runs([experiment])) == 2
    for run_id in ids:
        assert (artifacts / run_id / "artifacts" / "result.json").read_text() == "{}\n"
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder")
    experiment = client.create_experiment("b", artifact_location=str(blocked))
    prepared = sqlstore.prepare(client, client.get_experiment(experiment), [finished()] * 2)
    with pytest.raises(OSError, match="Not a directory"):
        sqlstore.commit(client, prepared)
    assert prepared.written.is_set() and client.search_runs([experiment]) == []


def test_files_written_elsewhere_are_waited_for_and_a_failure_records_nothing(tmp_path):
    """Files that another process writes (a sweep's engine, for run ids it made) into the
    runs' artifact folders: prepare takes the ids and writes nothing, the commit's rows wait
    for the files to be said written; files said not written record no run; files that
    would be written elsewhere than the runs' folders are refused up front."""
    import threading

    from runner.sweep.engine import _copied, _write_files

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    artifacts = tmp_path / "artifacts"
    experiment = client.get_experiment(
        client.create_experiment("e", artifact_location=str(artifacts)))
    runs = [finished(), finished("FAILED", name="rosenbrock-autograd-adam")]
    elsewhere = sqlstore.Elsewhere(str(artifacts), ["a" * 32, "b" * 32])
    prepared = sqlstore.prepare(client, experiment, runs, elsewhere=elsewhere)
    assert prepared.ids == elsewhere.ids and not prepared.written.is_set()
    committed: list = []
    committing = threading.Thread(target=lambda: committed.append(
        sqlstore.commit(client, prepared)))
    committing.start()
    committing.join(0.5)
    assert committing.is_alive() and not artifacts.exists()  # waiting for the files
    elsewhere.done(_write_files(str(artifacts), elsewhere.ids, [r.files for r in runs]))
    committing.join(30)
    assert committed == [elsewhere.ids] and prepared.written.is_set()
    expected = {r.name: r.files.texts["result.json"] for r in runs}
    found = {r.info.run_name: Path(client.download_artifacts(r.info.run_id, "result.json",
                                                              str(tmp_path))).read_text()
             for r in client.search_runs([experiment.experiment_id])}
    assert found == expected
    # the files as the engine wrote them, for runs logged one by one if the commit fails
    _copied(str(artifacts), elsewhere.ids[0]).write(tmp_path / "copy")
    assert {p.name: p.read_bytes() for p in (tmp_path / "copy").iterdir()} == {
        p.name: p.read_bytes() for p in (artifacts / elsewhere.ids[0] / "artifacts").iterdir()}

    failed = sqlstore.Elsewhere(str(artifacts), ["c" * 32, "d" * 32])
    prepared = sqlstore.prepare(client, experiment, runs, elsewhere=failed)
    failed.done("No space left on device")
    with pytest.raises(Exception, match="files were not written: No space left on device"):
        sqlstore.commit(client, prepared)
    assert len(client.search_runs([experiment.experiment_id])) == 2
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder")
    assert "Not a directory" in _write_files(str(blocked), ["f" * 32], [runs[0].files])
    with pytest.raises(MlflowException, match="elsewhere"):
        sqlstore.prepare(client, experiment, runs,
                         elsewhere=sqlstore.Elsewhere(str(tmp_path / "other"), ["e" * 32] * 2))


def test_only_sql_stores_are_written_in_one_transaction(tmp_path):
    assert sqlstore.supports(MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}"))
    assert not sqlstore.supports(MlflowClient("http://127.0.0.1:9"))  # a server: never asked


def test_an_unknown_schema_revision_is_not_written_in_bulk_but_run_by_run(tmp_path, caplog):
    """A database at a schema revision the bulk writer was not tested against (as a newer
    MLflow would leave it): a vectorised batch falls back to the public client, says so once,
    and every run is complete."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf
    from sqlalchemy import create_engine, text

    from runner.config import CONF_DIR, register_schema
    from runner.spec import RunSpec
    from runner.sweep.batch import run_jobs
    from runner.tracking.runs import context

    register_schema()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfgs = [compose("config", [f"optimizer.lr={lr}", "steps=30", f"tracking.uri={uri}",
                                   "artifacts.plots=false"]) for lr in (0.01, 0.1, 0.2)]
    specs = [RunSpec.from_config(OmegaConf.to_container(c, resolve=True)) for c in cfgs]
    jobs = [(spec, context(spec, None, tmp_path)) for spec in specs]  # creates the store
    client = jobs[0][1].client
    assert sqlstore.supports(client)
    with create_engine(uri).begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'fffffffffff0'"))
    with caplog.at_level("WARNING"):
        outcomes = run_jobs(jobs, on_done=None) + run_jobs(jobs, on_done=None)
    warnings = [r for r in caplog.records if "fffffffffff0" in r.getMessage()]
    assert len(warnings) == 1 and "one by one" in warnings[0].getMessage()
    runs = client.search_runs([jobs[0][1].experiment_id])
    assert len(runs) == len(outcomes) == 6 and {o.run_id for o in outcomes} == {
        r.info.run_id for r in runs}
    for run in runs:  # complete: status, params, metric histories, artifacts
        assert run.info.status == "FINISHED" and run.data.tags["status"] == "max_steps"
        assert run.data.params["steps"] == "30" and run.data.metrics["steps"] == 30
        assert len(client.get_metric_history(run.info.run_id, "loss")) == 31
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"config.yaml", "result.json", "trajectory.csv"} <= names
