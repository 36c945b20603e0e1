"""The vectorized launcher against the basic one: same runs, same numbers, same statuses."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import Store, Terminal, wait_until

pytestmark = pytest.mark.slow

VECTORIZED = "hydra/launcher=vectorized"


def by_hash(store: Store) -> dict[str, object]:
    runs = [r for r in store.runs() if r.data.tags.get("role") != "sweep"]
    keyed = {r.data.tags["config_hash"]: r for r in runs}
    assert len(keyed) == len(runs), "two runs with one config"
    return keyed


def assert_same_runs(basic: Store, vectorized: Store, metrics=("loss", "grad_norm")) -> list[str]:
    left, right = by_hash(basic), by_hash(vectorized)
    assert set(left) == set(right) and left
    statuses = []
    for key, a in left.items():
        b = right[key]
        ra, rb = basic.artifact_json(a.info.run_id), vectorized.artifact_json(b.info.run_id)
        assert ra["status"] == rb["status"] == a.data.tags["status"] == b.data.tags["status"]
        assert ra["steps"] == rb["steps"]
        assert np.allclose(ra["x_final"], rb["x_final"], rtol=1e-12, atol=1e-300), key
        differing = {k for k in a.data.params if a.data.params[k] != b.data.params.get(k)}
        assert differing == {"tracking.uri"}  # the two stores
        differing = {k for k in a.data.tags if a.data.tags[k] != b.data.tags.get(k)}
        assert differing == {"sweep_id", "mlflow.parentRunId", "overrides"}
        assert len(a.data.tags) == len(b.data.tags)
        assert [o for o in a.data.tags["overrides"].split() if "tracking.uri" not in o] == \
            [o for o in b.data.tags["overrides"].split() if "tracking.uri" not in o]
        assert (a.info.status, a.info.run_name) == (b.info.status, b.info.run_name)
        assert set(a.data.metrics) == set(b.data.metrics)
        assert same_files(basic, a.info.run_id, vectorized, b.info.run_id)
        for metric in metrics:
            ha, hb = basic.history(a.info.run_id, metric), vectorized.history(b.info.run_id, metric)
            assert [s for s, _ in ha] == [s for s, _ in hb], metric
            va, vb = np.array([v for _, v in ha]), np.array([v for _, v in hb])
            assert np.allclose(va, vb, rtol=1e-12, atol=0, equal_nan=True), (key, metric)
        statuses.append(ra["status"])
    return statuses


def same_files(left: Store, a: str, right: Store, b: str) -> bool:
    """The same artifacts: texts equal but for the store's path and wall-clock times, numbers
    to 1e-12 (a batch's evaluation on a test set may sum in another order than one row's: on
    some CPUs the last bit of a final test loss differs)."""
    files = [sorted(x.path for x in store.client.list_artifacts(run)) for store, run in ((left, a), (right, b))]
    assert files[0] == files[1], files
    for name in files[0]:
        texts = [Path(store.client.download_artifacts(run, name, str(store.folder))).read_text()
                 for store, run in ((left, a), (right, b))]
        if name == "trajectory.csv":  # every column but wall_time_s
            texts = [[line.split(",")[:1] + line.split(",")[2:] for line in t.splitlines()]
                     for t in texts]
        elif name == "config.yaml":
            texts = [[line for line in t.splitlines() if "mlflow.db" not in line] for t in texts]
        elif name == "result.json":
            texts = [{k: v for k, v in json.loads(t).items() if k != "wall_time_s"} for t in texts]
        assert close(texts[0], texts[1]), name
    return True


def close(x, y) -> bool:
    """x == y, with numbers (and numeric strings, as CSV cells) compared at rtol 1e-12."""
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(close(x[k], y[k]) for k in x)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(close(u, v) for u, v in zip(x, y))
    if x == y:
        return True
    try:
        u, v = float(x), float(y)
    except (TypeError, ValueError):
        return False
    return bool(np.isclose(u, v, rtol=1e-12, atol=0))


def twin_stores(tmp_path) -> tuple[Store, Store]:
    (tmp_path / "basic").mkdir()
    (tmp_path / "vectorized").mkdir()
    return Store(tmp_path / "basic"), Store(tmp_path / "vectorized")


def test_lr_seed_optimizer_x0_grid_matches_the_basic_launcher(tmp_path):
    basic, vectorized = twin_stores(tmp_path)
    grid = ("-m", "optimizer=sgd,momentum,adam", "optimizer.lr=0.01,0.1,0.3", "seed=0,1",
            "objective.x0=null,[1.0,1.0]", "tol=1e-6", "steps=120", "artifacts.plots=false")
    basic.run(*grid)
    vectorized.run(*grid, VECTORIZED)
    statuses = assert_same_runs(basic, vectorized, ("loss", "grad_norm", "suboptimality"))
    assert len(statuses) == 36
    # the grid has all three outcomes: sgd at lr 0.3 diverges (lr > 2/8), sgd at 0.1 converges
    assert {"diverged", "converged", "max_steps"} <= set(statuses)


def through_both(tmp_path, *grid: str, metrics=("loss", "grad_norm")) -> tuple[list, Store]:
    """The sweep `grid` through the basic and the vectorized launcher, each to its own store;
    the runs' statuses once assert_same_runs has compared them, and the basic store."""
    basic, vectorized = twin_stores(tmp_path)
    basic.run("-m", *grid)
    vectorized.run("-m", *grid, VECTORIZED)
    return assert_same_runs(basic, vectorized, metrics), basic


def test_finite_differences_and_other_optimizers_batch_too(tmp_path):
    statuses, _ = through_both(
        tmp_path, "objective=rosenbrock", "objective.dim=3", "gradient=finite_diff,autograd",
        "optimizer=nesterov,rmsprop,adagrad,adamw", "optimizer.lr=0.0005,0.002", "seed=0,1",
        "schedule=exponential", "schedule.gamma=0.99,0.995", "steps=40", "artifacts.plots=false")
    assert len(statuses) == 64


def test_the_newer_rules_and_schedules_batch_too(tmp_path):
    """Adamax, NAdam, RAdam, Lion, sign SGD, AdaBelief, ADOPT, AdEMAMix under one_cycle, its
    peak swept per row."""
    statuses, _ = through_both(
        tmp_path, "objective=rosenbrock",
        "optimizer=adamax,nadam,radam,lion,signsgd,adabelief,adopt,ademamix",
        "optimizer.lr=0.001,0.003", "seed=0,1", "schedule=one_cycle", "schedule.pct_start=0.2,0.4",
        "steps=40", "artifacts.plots=false", metrics=("loss", "grad_norm", "lr"))
    assert len(statuses) == 64


def test_the_rules_that_set_their_own_step_batch_too(tmp_path):
    """Adafactor, Polyak, Prodigy, Schedule-Free SGD and AdamW and Armijo's backtracking,
    their lr swept per row."""
    statuses, _ = through_both(
        tmp_path, "objective=rosenbrock",
        "optimizer=adafactor,polyak,prodigy,schedule_free_sgd,schedule_free_adamw,armijo",
        "optimizer.lr=0.0005,0.001", "seed=0,1", "steps=40", "artifacts.plots=false")
    assert len(statuses) == 24


def test_reduce_on_plateau_batches_each_row_on_its_own_losses(tmp_path):
    """schedule=plateau with its factor and threshold swept per row: each row reduces its
    rate on its own f, as the same run alone (the lr histories included)."""
    statuses, basic = through_both(
        tmp_path, "objective=rosenbrock", "optimizer=sgd,adam", "optimizer.lr=0.001",
        "schedule=plateau", "schedule.factor=0.5,0.2", "schedule.threshold=0.01,0.001",
        "schedule.patience=3", "seed=0,1", "steps=60", "artifacts.plots=false",
        metrics=("loss", "grad_norm", "lr"))
    assert len(statuses) == 16
    rates = [len({v for _, v in basic.history(r.info.run_id, "lr")}) for r in basic.runs()
             if r.data.tags.get("role") != "sweep"]
    assert max(rates) >= 3  # rows did reduce


def test_unbatchable_optimizers_invalid_rows_and_shape_changes(tmp_path):
    basic, vectorized = twin_stores(tmp_path)
    grid = ("-m", "objective=rosenbrock", "objective.dim=2,3", "optimizer=lbfgs,sgd",
            "optimizer.lr=0.001,-1", "steps=5", "artifacts.plots=false")
    proc = vectorized.run(*grid, VECTORIZED, "hydra.launcher.max_rows=1")
    basic.run(*grid)
    runs = by_hash(vectorized)
    assert len(runs) == 8
    failed = [r for r in runs.values() if r.data.tags["status"] == "failed"]
    assert len(failed) == 4 and all(r.data.params["optimizer.lr"] == "-1" for r in failed)
    assert all("optimizer.lr must lie in" in r.data.tags["error"] for r in failed)
    assert all(r.info.status == "FAILED" for r in failed)
    ok = {k: r for k, r in runs.items() if r.data.tags["status"] != "failed"}
    basic_ok = {k: r for k, r in by_hash(basic).items() if r.data.tags["status"] != "failed"}
    assert set(ok) == set(basic_ok)
    for key, run in ok.items():
        a = basic.artifact_json(basic_ok[key].info.run_id)
        b = vectorized.artifact_json(run.info.run_id)
        assert np.allclose(a["x_final"], b["x_final"], rtol=1e-12), key
    assert proc.returncode == 0


@pytest.mark.parametrize("bound", ["hydra.launcher.max_rows=2",
                                   # a row's history is 61 × (4 + 2) × 8 B ≈ 2.9 kB,
                                   # 17.6 kB with FOOTPRINT 6: two rows a batch
                                   "hydra.launcher.memory_mb=0.04"])
def test_chunked_batches_give_the_same_numbers(tmp_path, bound):
    whole, chunked = twin_stores(tmp_path)
    grid = ("-m", VECTORIZED, "optimizer=adam", "optimizer.lr=0.01,0.03,0.1", "seed=0,1,2",
            "steps=60", "artifacts.plots=false")
    whole.run(*grid)
    chunked.run(*grid, bound)
    assert len(assert_same_runs(whole, chunked)) == 9


def test_rows_per_budget_bounds_a_batch():
    from objectives import Quadratic
    from runner.sweep.batch import chunks, rows_per_budget

    rows = rows_per_budget(999, Quadratic(), memory_mb=2.0)
    # 1000 steps × (f, ‖∇f‖, 2 coordinates, seconds, step) × 8 bytes + the row's own state,
    # six times over (FOOTPRINT: everything made from the trace until it is written)
    assert rows == 2 * 2**20 // (6 * (1000 * 6 * 8 + 8 * 2 * 8)) == 7
    assert [len(c) for c in chunks(10, max_rows=4, budget_rows=rows)] == [4, 4, 2]


@pytest.mark.parametrize("launcher", ["hydra/launcher=basic", VECTORIZED])
def test_the_fast_sweeper_still_validates_every_job_before_launching(tmp_path, launcher):
    store = Store(tmp_path)
    proc = store.run("-m", "steps=5,abc", "optimizer.lr=0.1,0.2", launcher, check=False)
    assert proc.returncode != 0
    assert "abc" in proc.stderr and "Traceback" not in proc.stderr
    runs = store.runs()
    assert not [r for r in runs if r.data.tags.get("role") != "sweep"]  # no job ran
    assert all(r.info.status != "RUNNING" for r in runs)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_vectorized_sweep_keeps_what_it_computed(tmp_path, sig):
    store = Store(tmp_path)
    with Terminal("-m", VECTORIZED, "optimizer.lr=0.01,0.02,0.03", "steps=1000000",
                  "artifacts.plots=false", f"tracking.uri={store.uri}", cwd=tmp_path) as term:
        # the signal comes once the rows are being stepped (their progress bar: a step past 0)
        wait_until(lambda: re.search(r"3 runs \[[#.]+\] [1-9]\d*/1000000", term.text()))
        term.proc.send_signal(sig)
        assert term.proc.wait(timeout=120) == 128 + sig, term.text()
    assert "interrupted" in term.text() and "Traceback" not in term.text()
    runs = store.runs()
    (parent,) = [r for r in runs if r.data.tags.get("role") == "sweep"]
    rows = [r for r in runs if r is not parent]
    assert parent.info.status == "KILLED" and len(rows) == 3
    for run in rows:  # each row ends KILLED with every step it took
        assert run.info.status == "KILLED" and run.data.tags["status"] == "killed"
        steps = int(run.data.metrics["steps"])
        assert 0 < steps < 1_000_000
        assert store.history(run.info.run_id, "loss")[-1][0] == steps
        assert store.artifact_json(run.info.run_id)["steps"] == steps
