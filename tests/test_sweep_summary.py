"""Every sweep ends by saying what it found, whatever the launcher: its parent run, runs per
status, the best configuration and the report, on the console and in sweep.json."""

from __future__ import annotations

import json
import math

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow
GRID = ("optimizer.lr=0.01,0.05,0.1,0.3", "objective.x0=[1.0,1.0]", "steps=120")
LAUNCHERS = {"basic": (), "joblib": ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2"),
             "vectorized": ("hydra/launcher=vectorized",)}


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_a_sweep_ends_with_its_answer(store, launcher):
    proc = store.run("-m", *LAUNCHERS[launcher], *GRID)
    runs = store.runs()
    (parent,) = [r for r in runs if r.data.tags.get("role") == "sweep"]
    children = [r for r in runs if r is not parent]
    best = min(children, key=lambda r: r.data.metrics["final_loss"])  # MLflow's answer
    (folder,) = store.folder.glob("multirun/*/*/sweep.json")
    summary = json.loads(folder.read_text())
    assert summary["parent_run_id"] == parent.info.run_id and summary["runs"] == 4
    assert summary["statuses"] == {"diverged": 1, "max_steps": 3}  # lr 0.3 > 2/8 diverges
    assert summary["best"]["run_id"] == best.info.run_id
    assert math.isclose(summary["best"]["final_loss"], best.data.metrics["final_loss"],
                        rel_tol=1e-15)
    assert summary["incomplete"] == [] and summary["report"].endswith("report/report.html")
    assert f"sweep {parent.info.run_id}: 4 runs (1 diverged, 3 max_steps)" in proc.stdout
    assert f"(run {best.info.run_id})" in proc.stdout and "report: " in proc.stdout
    # runs named by what differs; the parent by its axes, with what every run shares as
    # params (not the swept lr), its launcher and sweeper, who ran it and at which commit
    assert {r.info.run_name for r in children} == {
        f"quad-autograd-sgd lr={lr} x0=[1.0,1.0] steps=120" for lr in (0.01, 0.05, 0.1, 0.3)}
    assert parent.info.run_name == "sweep optimizer.lr=0.01,0.05,0.1,0.3"
    assert parent.data.params["steps"] == "120" and parent.data.params["optimizer.momentum"] == "0.0"
    assert "optimizer.lr" not in parent.data.params and "tracking.uri" not in parent.data.params
    expected = {"basic": "BasicLauncher", "joblib": "JoblibLauncher",
                "vectorized": "VectorizedLauncher"}[launcher]
    assert (parent.data.tags["launcher"], parent.data.tags["sweeper"]) == (expected, "FastSweeper")
    import getpass

    assert {r.data.tags["mlflow.user"] for r in runs} == {getpass.getuser()}
    # artifacts.plots=true (the default) draws the best run's plots, and no other run's
    drawn = {r.info.run_id: {a.path for a in store.client.list_artifacts(r.info.run_id)}
             for r in children}
    assert {"loss.png", "trajectory.png"} <= drawn.pop(best.info.run_id)
    assert all("trajectory.csv" in files and "loss.png" not in files for files in drawn.values())
    if launcher == "vectorized":  # the report is rebuilt from the sweep's folder alone
        report = run_cli(str(folder.parent), "--out", str(store.folder / "again"),
                         cwd=store.folder, module="runner.report")
        assert report.returncode == 0, report.stderr[-2000:]
        assert "4 runs" in report.stdout and (store.folder / "again" / "report.html").is_file()
