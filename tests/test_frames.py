"""runner.report.frames: a sweep's or an experiment's runs and histories as DataFrames, equal
to what MlflowClient returns for the same runs of a real store made by the CLI."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from runner.report import frames
from tests.conftest import Store

SWEEP = ("-m", "optimizer=sgd,adam", "optimizer.lr=0.01,0.1", "steps=20", "artifacts.plots=false")
TAGS = ("objective", "gradient", "optimizer", "status", "sweep_id", "config_hash", "overrides",
        "mlflow.parentRunId")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    """A 4-run sweep and one single run, in one experiment."""
    store = Store(tmp_path_factory.mktemp("frames"))
    store.run(*SWEEP)
    store.run("optimizer=adam", "optimizer.lr=0.05", "steps=10", "artifacts.plots=false")
    return store


def parent_of(store: Store):
    (parent,) = [r for r in store.runs() if r.data.tags.get("role") == "sweep"]
    return parent


def assert_rows_are_the_runs(frame: pd.DataFrame, runs: list) -> None:
    """One row per run, each row that run's params, metrics, tags and status."""
    assert sorted(frame["run_id"]) == sorted(r.info.run_id for r in runs)
    assert frame["run_id"].is_unique
    params = sorted({k for r in runs for k in r.data.params})
    metrics = sorted({k for r in runs for k in r.data.metrics})
    assert [c for c in frame if c.startswith("params.")] == [f"params.{k}" for k in params]
    assert [c for c in frame if c.startswith("metrics.")] == [f"metrics.{k}" for k in metrics]
    for run in runs:
        (row,) = frame[frame["run_id"] == run.info.run_id].to_dict("records")
        assert row["name"] == run.info.run_name and row["experiment_id"] == run.info.experiment_id
        assert row["status"] == run.data.tags["status"]
        assert row["mlflow_status"] == run.info.status
        assert row["start_time"] == pd.Timestamp(run.info.start_time, unit="ms", tz="UTC")
        for k in params:
            expected = run.data.params.get(k)
            assert row[f"params.{k}"] == expected if expected is not None else (
                pd.isna(row[f"params.{k}"]))
        for k in metrics:
            expected = run.data.metrics.get(k, math.nan)
            assert row[f"metrics.{k}"] == expected or (math.isnan(expected)
                                                       and math.isnan(row[f"metrics.{k}"]))
        for k in TAGS:
            if k in run.data.tags:
                assert row[f"tags.{k}"] == run.data.tags[k]


def test_load_sweep_is_the_sweeps_runs_as_mlflow_returns_them(store):
    parent = parent_of(store)
    children = store.client.search_runs(
        [parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    frame = frames.load_sweep(store.uri, parent.info.run_id)
    assert len(frame) == 4
    assert_rows_are_the_runs(frame, children)
    assert set(frame["params.optimizer.lr"]) == {"0.01", "0.1"}
    assert frame["params.optimizer.b1"].isna().sum() == 2  # sgd has no b1


def test_load_experiment_is_every_run_but_the_sweep_parent(store):
    parent = parent_of(store)
    runs = [r for r in store.runs() if r.info.run_id != parent.info.run_id]
    frame = frames.load_experiment(store.uri, "gradlab")
    assert len(frame) == 5
    assert_rows_are_the_runs(frame, runs)
    assert list(frame["start_time"]) == sorted(frame["start_time"])
    with pytest.raises(ValueError, match="no experiment named 'nope'"):
        frames.load_experiment(store.uri, "nope")


def test_histories_are_long_and_equal_mlflow_metric_histories(store):
    runs = frames.load_sweep(store.uri, parent_of(store).info.run_id)
    ids = list(runs["run_id"])
    long = frames.histories(store.uri, ids, ["loss", "suboptimality"])
    assert list(long.columns[:5]) == ["run_id", "key", "step", "value", "seconds"]
    assert long["step"].dtype == np.int64 and long["value"].dtype == np.float64
    for run_id in ids:
        for key in ("loss", "suboptimality"):
            expected = sorted((m.step, m.timestamp, m.value)
                              for m in store.client.get_metric_history(run_id, key))
            got = long[(long["run_id"] == run_id) & (long["key"] == key)]
            assert list(got["step"]) == [s for s, _, _ in expected]
            assert list(got["value"]) == [v for _, _, v in expected]
            first = expected[0][1]
            assert np.allclose(got["seconds"], [(t - first) / 1000 for _, t, _ in expected])
    assert len(long) == sum(len(store.client.get_metric_history(i, k))
                            for i in ids for k in ("loss", "suboptimality"))


def test_histories_carry_the_logged_timestamps(store):
    (run_id,) = frames.load_sweep(store.uri, parent_of(store).info.run_id)["run_id"][:1]
    long = frames.histories(store.uri, [run_id], ["loss"])
    expected = sorted((m.step, m.timestamp) for m in store.client.get_metric_history(run_id, "loss"))
    assert list(long["timestamp"]) == [t for _, t in expected]


def test_the_report_writes_the_runs_frame(store, tmp_path):
    from runner.report import build

    parent = parent_of(store)
    build(store.client, parent.info.experiment_id, parent.info.run_id, tmp_path)
    written = pd.read_csv(tmp_path / "runs.csv", dtype={c: str for c in ("params.optimizer.lr",)})
    frame = frames.load_sweep(store.uri, parent.info.run_id)
    assert list(written["run_id"]) == list(frame["run_id"])
    assert np.array_equal(written["metrics.final_loss"], frame["metrics.final_loss"])
