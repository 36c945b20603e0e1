"""runner.tracking.client.open_run: a run always ends, with its status said in MLflow and in
the runner's `status` tag, whatever stops its body."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from runner.errors import Interrupted
from runner.tracking.client import client_for, open_experiment, open_run


@pytest.fixture
def tracked(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return client_for(uri), open_experiment(uri, "open-run")


def ended(client, run_id):
    run = client.get_run(run_id)
    return run.info.status, run.data.tags.get("status")


def test_an_interrupt_before_the_first_step_leaves_the_run_killed_and_tagged(tracked):
    client, experiment = tracked
    with pytest.raises(Interrupted), open_run(client, experiment, name="r") as run:
        raise Interrupted(15)
    assert ended(client, run.run_id) == ("KILLED", "killed")


def test_an_error_leaves_the_run_failed(tracked):
    client, experiment = tracked
    with pytest.raises(ValueError), open_run(client, experiment, name="r") as run:
        raise ValueError("boom")
    assert ended(client, run.run_id)[0] == "FAILED"


def test_an_interrupt_after_everything_is_recorded_leaves_it_finished(tracked):
    client, experiment = tracked
    with pytest.raises(KeyboardInterrupt), open_run(client, experiment, name="r") as run:
        run.completed = True
        raise KeyboardInterrupt
    assert ended(client, run.run_id) == ("FINISHED", None)


def test_experiments_are_created_with_the_training_kind(tracked):
    client, experiment = tracked
    tags = client.get_experiment(experiment).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"


def _dump(path) -> dict:
    """Every table's schema and rows (an experiment's place and times left out)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as db:
        schema = sorted((kind, name, _clauses(sql)) for kind, name, sql in
                        db.execute("SELECT type, name, sql FROM sqlite_master"))
        rows = {name: sorted(db.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)
                for kind, name, _ in schema if kind == "table"}
    # an experiment's artifact location and times (columns 2, 4, 5)
    rows["experiments"] = [r[:2] + r[3:4] + r[6:] for r in rows["experiments"]]
    return {"schema": schema, "rows": rows}


def _clauses(sql: str | None) -> list[str]:
    """A CREATE statement's clauses in sorted order: MLflow's migrations rebuild tables with
    their constraints in an order that differs from one process to the next."""
    return sorted(line.strip().rstrip(",").strip() for line in (sql or "").splitlines())


def test_a_store_seeded_from_the_template_is_the_store_mlflow_creates(tmp_path, monkeypatch):
    """The same schema, revision and rows as a store MLflow migrates itself, before and after
    an experiment and a run are written to each through the public client."""
    from mlflow import MlflowClient

    from runner.tracking import template

    monkeypatch.setenv(template.CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    own = tmp_path / "a" / "mlflow.db"
    MlflowClient(f"sqlite:///{own}")._tracking_client.store  # MLflow's migrations
    seeded = tmp_path / "b" / "mlflow.db"
    seeded.touch()  # as check_reachable leaves a store it is about to create
    client_for(f"sqlite:///{seeded}")  # builds the template, then copies it
    assert (tmp_path / "cache").is_dir() and seeded.stat().st_size > 0
    assert _dump(own) == _dump(seeded)
    for path in (own, seeded):
        client = MlflowClient(f"sqlite:///{path}")
        run = client.create_run(client.create_experiment("e"), run_name="r")
        client.log_param(run.info.run_id, "lr", "0.1")
        client.log_metric(run.info.run_id, "loss", 1.5, step=3)
        client.set_terminated(run.info.run_id)
    a, b = _dump(own), _dump(seeded)
    for dump in (a, b):  # run ids are random: keep their count
        dump["rows"] = {t: len(r) if t in {"runs", "tags", "params", "metrics", "latest_metrics"}
                        else r for t, r in dump["rows"].items()}
    assert a == b
    copy = tmp_path / "c.db"
    client_for(f"sqlite:///{copy}")  # the template exists now: a copy, then MLflow's Default
    assert _dump(copy)["rows"]["experiments"] == _dump(own)["rows"]["experiments"][:1]
    default = MlflowClient(f"sqlite:///{copy}").get_experiment("0")  # MLflow's, not the cache's
    assert default.artifact_location == MlflowClient(f"sqlite:///{own}").get_experiment(
        "0").artifact_location


def test_a_helper_call_cut_short_by_a_signal_leaves_the_next_call_its_own_reply(monkeypatch):
    """A signal that interrupts the command while it waits for its helper's reply
    (runner.tracking.helper: a SIGTERM during a run's first requests) leaves that reply in
    the pipe; the next call, the one that ends the run, must still get its own."""
    import signal

    from runner.tracking import helper

    class Alarm(Exception):
        pass

    def ring(signum, frame):
        raise Alarm

    monkeypatch.setattr(helper, "REQUESTS", "tests.fixtures.requests")
    forked = helper.Forked("echo", None)
    previous = signal.signal(signal.SIGALRM, ring)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(Alarm):
            forked.call("slow", "the first call's")
        assert forked.call("echo", "the second call's") == "the second call's"
        assert forked.call("slow", "the third call's") == "the third call's"
    finally:
        signal.signal(signal.SIGALRM, previous)
        forked.close()


def test_a_locked_store_met_by_an_autoflush_is_said_as_database_is_locked(tmp_path):
    """SQLAlchemy puts a note on the first line of an error an autoflush meets ("(raised as a
    result of Query-invoked autoflush; ...)") and the error itself on the next: a FAILED
    run's reason and a sweep's list of incomplete configurations must say the error."""
    import sqlite3

    from mlflow.exceptions import MlflowException
    from sqlalchemy import Column, Integer, create_engine
    from sqlalchemy.orm import Session, declarative_base

    from runner.errors import describe
    from runner.tracking.client import store_error

    class Row(declarative_base()):
        __tablename__ = "rows"
        id = Column(Integer, primary_key=True)

    db = tmp_path / "locked.db"
    engine = create_engine(f"sqlite:///{db}", connect_args={"timeout": 0.05})
    Row.metadata.create_all(engine)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(Exception) as raised, Session(engine) as session:
            session.add(Row(id=1))
            session.query(Row).all()  # the autoflush meets the lock
    finally:
        holder.execute("COMMIT")
        holder.close()
        engine.dispose()
    assert str(raised.value).startswith("(raised as a result of Query-invoked autoflush")
    assert describe(raised.value) == (
        "OperationalError: (sqlite3.OperationalError) database is locked")
    wrapped = MlflowException(message=raised.value)  # as MLflow's SQLAlchemy store wraps it
    assert store_error(wrapped) == "tracking store: database is locked"


def test_trajectory_csv_lines_read_back_to_the_same_floats_without_importing_pandas(tmp_path):
    """csv_lines writes each value in a form that reads back to the same float (NaN, ±inf,
    −0, subnormals, 600 decades; float32 columns as float32), and a writer process that
    writes them does not import pandas (pyarrow.array would: 0.7 s of its first write)."""
    import subprocess
    import sys

    import numpy as np

    from runner.tracking.files import csv_lines

    rng = np.random.default_rng(0)
    values = np.column_stack([rng.standard_normal(500) * 10.0 ** rng.integers(-300, 300, 500),
                              rng.random(500)])
    values[:5, 0] = [np.nan, np.inf, -np.inf, -0.0, 5e-324]
    lines = csv_lines(values, np.arange(500) * 3).decode().splitlines()
    table = np.array([[float(x) for x in line.split(",")] for line in lines])
    np.testing.assert_array_equal(table[:, 0], np.arange(500) * 3)
    np.testing.assert_array_equal(table[:, 1:], values)  # NaN where NaN
    assert np.signbit(table[3, 1]) and lines[3].split(",")[1] == "-0"
    single = rng.random((50, 2)).astype(np.float32)
    read = [[np.float32(x) for x in line.split(",")[1:]]
            for line in csv_lines(single, np.arange(50)).decode().splitlines()]
    np.testing.assert_array_equal(np.array(read, dtype=np.float32), single)
    assert len(csv_lines(single, np.arange(50)).decode().split(",")[1]) < 12  # not a float64's
    table = "(['x'], np.ones((3, 1)), np.arange(3))"
    code = ("import sys, numpy as np\n"
            "from runner.tracking.files import write_folder\n"
            f"write_folder({str(tmp_path / 'run')!r}, {{}}, {table})\n"
            "print('pandas' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr
    assert (tmp_path / "run" / "trajectory.csv").read_text() == "step,x\n0,1\n1,1\n2,1\n"
