"""The command line as a user runs it, read back through MlflowClient."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.test_objectives import FLUX_ITERATES, FLUX_X0

FLUX = ("objective=quad", f"objective.x0=[{FLUX_X0[0]!r},{FLUX_X0[1]!r}]", "optimizer=sgd",
        "optimizer.lr=0.1", "steps=10")


@pytest.mark.parametrize("gradient, tol", [("analytic", 1e-15), ("autograd", 1e-15),
                                           ("finite_diff", 1e-8)])
def test_flux_demo_through_the_cli(store, gradient, tol):
    store.run(*FLUX, f"gradient={gradient}")
    run = store.only_run()
    result = store.artifact_json(run.info.run_id)
    assert result["status"] == "max_steps" and result["steps"] == 10
    assert np.allclose(result["x_final"], FLUX_ITERATES[-1], rtol=0, atol=tol)
    # the logged loss at step t is f at the demo's t-th iterate, f = 4x₁² + x₂²
    expected = [4 * a * a + b * b for a, b in [FLUX_X0, *FLUX_ITERATES]]
    steps, losses = zip(*store.history(run.info.run_id, "loss"))
    assert steps == tuple(range(11))
    assert np.allclose(losses, expected, rtol=1e-13, atol=1e-14 if tol < 1e-10 else 1e-9)


TEXTBOOK = ("objective=quad", "objective.diag=[1.0,1.0]", "objective.x0=[-3.0,4.0]",
            "gradient=finite_diff", "gradient.h=1e-4", "optimizer=sgd", "steps=100")


def test_textbook_descent_through_the_cli(store):
    store.run(*TEXTBOOK, "optimizer.lr=0.1")
    result = store.artifact_json(store.only_run().info.run_id)
    assert np.allclose(result["x_final"], [-6.11110793e-10, 8.14814391e-10], rtol=1e-8, atol=0)


def test_textbook_lr_10_diverges_and_exits_zero(store):
    proc = store.run(*TEXTBOOK, "optimizer.lr=10.0")
    assert "diverged" in proc.stdout
    run = store.only_run()
    result = store.artifact_json(run.info.run_id)
    assert result["status"] == run.data.tags["status"] == "diverged"
    assert run.info.status == "FINISHED"
    # x ← x − 10·2x = −19x: |x_t| = 5·19^t; the loss passes 1e15 at t = 6
    # (finite differences with h = 1e-4 at |x| ~ 1e8 are good to a few parts in 1e6)
    assert result["steps"] == 6
    assert np.allclose(result["x_final"], [-3 * (-19) ** 6, 4 * (-19) ** 6], rtol=1e-5)


def test_a_200_step_run_logs_everything(store):
    store.run("objective=rosenbrock", "objective.x0=[-1.2,1.0]", "optimizer=adam",
              "optimizer.lr=0.01", "steps=200", "seed=3")
    run = store.only_run()
    run_id, params, tags = run.info.run_id, run.data.params, run.data.tags
    assert params["optimizer.lr"] == "0.01" and params["steps"] == "200"
    assert params["objective._target_"] == "objectives.Rosenbrock"
    assert params["optimizer.b2"] == "0.999" and params["seed"] == "3"
    for key in ("loss", "grad_norm", "suboptimality", "dist_to_opt"):
        history = store.history(run_id, key)
        assert [s for s, _ in history] == list(range(201)), key
    loss = dict(store.history(run_id, "loss"))
    assert loss[0] == pytest.approx(24.2)  # Rosenbrock at (−1.2, 1)
    assert run.data.metrics["final_loss"] == loss[200]
    assert run.data.metrics["steps"] == 200
    assert run.data.metrics["evaluations"] == 201  # adam: f and ∇f once a step, t = 0 too
    assert "wall_time_s" in run.data.metrics
    assert tags["status"] == "max_steps"
    assert len(tags["config_hash"]) == 16
    assert "optimizer=adam" in tags["overrides"]
    assert tags.get("mlflow.source.git.commit") or not (Path(__file__).parent.parent / ".git").exists()
    names = {a.path for a in store.client.list_artifacts(run_id)}
    assert {"config.yaml", "result.json", "trajectory.csv", "loss.png", "trajectory.png"} <= names
    csv_path = store.client.download_artifacts(run_id, "trajectory.csv", str(store.folder))
    with open(csv_path) as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 201 and float(table[0]["x0"]) == -1.2
    assert float(table[-1]["loss"]) == loss[200]
    assert run.info.status == "FINISHED"


def test_long_runs_decimate_metrics_but_keep_every_step_in_the_csv(store):
    store.run("steps=3000", "tracking.max_points=100", "optimizer.lr=0.01", "artifacts.plots=false")
    run = store.only_run()
    history = store.history(run.info.run_id, "loss")
    assert len(history) == 100 and history[0][0] == 0 and history[-1][0] == 3000
    csv_path = store.client.download_artifacts(run.info.run_id, "trajectory.csv", str(store.folder))
    assert sum(1 for _ in open(csv_path)) == 3002


def test_tol_stops_a_converged_run(store):
    store.run("optimizer.lr=0.1", "tol=1e-6", "steps=1000", "objective.x0=[1.0,1.0]")
    result = store.artifact_json(store.only_run().info.run_id)
    assert result["status"] == "converged"
    # SGD with lr 0.1 on 4x₁² + x₂² from (1, 1): x_t = (0.2^t, 0.8^t), ∇f = (8x₁, 2x₂)
    first = next(t for t in range(1000) if np.hypot(8 * 0.2**t, 2 * 0.8**t) < 1e-6)
    assert result["steps"] == first and result["final_grad_norm"] < 1e-6


def test_a_sweep_is_one_parent_with_children(store):
    store.run("-m", "optimizer=sgd,adam", "optimizer.lr=0.01,0.1", "steps=20")
    runs = store.runs()
    parents = [r for r in runs if r.data.tags.get("role") == "sweep"]
    assert len(parents) == 1 and len(runs) == 5
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 4
    assert {r.data.tags["sweep_id"] for r in children} == {parent.data.tags["sweep_id"]}
    assert {(r.data.params["optimizer._target_"], r.data.params["optimizer.lr"]) for r in children} == {
        ("optimizers.sgd.sgd", "0.01"), ("optimizers.sgd.sgd", "0.1"),
        ("optimizers.adam.adam", "0.01"), ("optimizers.adam.adam", "0.1")}
    assert all(r.info.status == "FINISHED" for r in runs)
    summary = store.client.download_artifacts(parent.info.run_id, "summary.csv", str(store.folder))
    with open(summary) as fh:
        table = list(csv.DictReader(fh))
    assert {row["run_id"] for row in table} == {r.info.run_id for r in children}
    best = min(children, key=lambda r: r.data.metrics["final_loss"])
    assert parent.data.metrics["best_final_loss"] == best.data.metrics["final_loss"]
    assert parent.data.tags["best_run_id"] == best.info.run_id


def test_default_store_is_mlflow_db_in_the_launch_folder(tmp_path):
    from mlflow import MlflowClient

    from tests.conftest import run_cli

    proc = run_cli("steps=5", "artifacts.plots=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mlflow.db").exists()
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("gradlab")
    assert len(client.search_runs([exp.experiment_id])) == 1


HOOKED_RUN = """
import os, sys
command, log = os.getpid(), sys.argv[1]
def note(event, args):  # inherited by the forked helper
    if event == "import" and args[0] in ("torch", "mlflow", "sqlalchemy", "matplotlib"):
        with open(log, "a") as f:
            f.write(f"{'command' if os.getpid() == command else 'helper'} {args[0]}\\n")
sys.addaudithook(note)
sys.argv = ["runner", *sys.argv[2:]]
from runner.__main__ import main
main()
"""


@pytest.mark.parametrize("existing", [False, True])
def test_a_single_run_loads_torch_and_mlflow_in_two_processes(store, existing):
    """A single run's command imports torch and matplotlib, never MLflow or SQLAlchemy; its
    forked helper imports those two and neither of the others, so they load side by side
    (runner.tracking.helper). The run is whole either way, plots included."""
    import subprocess
    import sys

    if existing:
        store.run("steps=1", "artifacts.plots=false")
    log = store.folder / "imports.txt"
    proc = subprocess.run([sys.executable, "-c", HOOKED_RUN, str(log), "steps=5",
                           f"tracking.uri={store.uri}"], cwd=store.folder, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert sorted(log.read_text().splitlines()) == [
        "command matplotlib", "command torch", "helper mlflow", "helper sqlalchemy"]
    run = max(store.runs(), key=lambda r: r.info.start_time)
    assert run.info.status == "FINISHED" and run.data.metrics["steps"] == 5
    names = {a.path for a in store.client.list_artifacts(run.info.run_id)}
    assert {"loss.png", "trajectory.png", "trajectory.csv", "result.json"} <= names


WATCHED = ("objective=python", "objective.function=tests.fixtures.collector.watched",
           "objective.minimizer=[0.0,0.0]", "objective.x0=[1.0,1.0]", "steps=3",
           "artifacts.plots=false")


@pytest.mark.parametrize("launch", [(), ("-m", "seed=0,1"),
                                    ("-m", "seed=0,1", "hydra/launcher=vectorized")],
                         ids=["single", "basic", "vectorized"])
def test_the_collector_is_paused_while_libraries_load_and_runs_during_the_work(store, launch):
    """runner.collector: the command starts with Python's cyclic collector paused (loading
    torch and MLflow is a quarter faster) and resumes it, with what exists frozen, before
    the first step, whatever runs the steps."""
    log = store.folder / "gc.txt"
    store.run(*launch, *WATCHED, env={"GRADLAB_GC_LOG": str(log)})
    lines = log.read_text().splitlines()
    assert lines[-1] == "evaluated enabled=True frozen=True", lines  # the last step
    # built before the work begins alone or in a basic launcher's job; a vectorized
    # launch resumes it before building its groups
    paused = not launch or "hydra/launcher=vectorized" not in launch
    assert lines[0] == f"imported enabled={not paused}", lines


@pytest.mark.parametrize(
    "args, message",
    [
        (("optimizer=adamm",), "Could not find 'optimizer/adamm'"),
        (("steps=abc",), "steps"),
        (("optimizer.lr=-0.1",), "optimizer.lr must lie in"),
        (("objective.x0=[1.0,2.0,3.0]",), "x0 has 3 value"),
        (("objective=python", "gradient=analytic"), "has no closed-form gradient"),
        (("gradient=finite_diff", "gradient.h=0"), "h must be > 0"),
        (("dtype=float16",), "dtype must be one of"),
        (("objective.A=[[1.0,0.0],[0.0,-2.0]]",), "positive semidefinite"),
        (("+optimizer.betas=0.9",), "optimizer"),
    ],
)
def test_bad_input_is_a_short_clear_error(store, args, message):
    proc = store.run(*args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 25
    assert not [r for r in store.runs() if r.info.status == "RUNNING"]
    assert not store.runs()  # bad input is caught before any run is opened


def test_unreachable_tracking_server_is_a_clear_error(tmp_path):
    from tests.conftest import free_port, run_cli

    uri = f"http://127.0.0.1:{free_port()}"
    proc = run_cli(f"tracking.uri={uri}", cwd=tmp_path)
    assert proc.returncode != 0
    assert f"cannot reach the MLflow tracking server at {uri}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_hydra_help_and_cfg_work(tmp_path):
    from tests.conftest import run_cli

    proc = run_cli("--cfg", "job", "optimizer=adam", cwd=tmp_path)
    assert proc.returncode == 0 and "b2: 0.999" in proc.stdout
    proc = run_cli("--help", cwd=tmp_path)
    assert proc.returncode == 0 and "optimizer: adabelief, adafactor, adagrad, adam" in proc.stdout
    assert "hydra/launcher: basic" in proc.stdout and "lr: 0.1" in proc.stdout  # sgd's
    proc = run_cli("optimizer=adam", "--help", cwd=tmp_path)  # the config it composes
    assert proc.returncode == 0 and "b2: 0.999" in proc.stdout
    proc = run_cli("--help", "optimizer=adamm", cwd=tmp_path)
    assert proc.returncode == 2 and "Could not find 'optimizer/adamm'" in proc.stderr
    assert "Traceback" not in proc.stderr and "search path" not in proc.stderr
    proc = run_cli("--hydra-help", cwd=tmp_path)
    assert proc.returncode == 0 and "Hydra (" in proc.stdout


def test_tab_completion_of_the_gradlab_command(tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    gradlab = shutil.which("gradlab") or str(Path(sys.executable).parent / "gradlab")
    env = {**os.environ, "COMP_LINE": "gradlab optimizer=ad"}
    proc = subprocess.run([gradlab, "-sc", "query=bash"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["optimizer=adabelief", "optimizer=adafactor",
                                   "optimizer=adagrad", "optimizer=adam",
                                   "optimizer=adamax", "optimizer=adamw", "optimizer=ademamix",
                                   "optimizer=adopt"]


@pytest.mark.parametrize("args, says", [
    (("objective=quad,nope",), "objective=nope: no such option (objective: expr,"),
    (("hydra/launcher=slurm", "optimizer.lr=0.1,0.2"), "needs SLURM (sbatch is not on PATH)"),
])
def test_a_sweep_that_cannot_launch_says_so_and_leaves_no_run(tmp_path, args, says):
    import shutil

    from tests.conftest import run_cli

    if "slurm" in args[0] and shutil.which("sbatch"):
        pytest.skip("SLURM is installed here")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = run_cli("-m", *args, f"tracking.uri={uri}", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith("error: the sweep cannot start: ") and says in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "mlflow.db").exists()  # no store, so no run of any status
