"""Scale out and hold up: joblib and Ray sweeps, kills, resume, a tracking server that
goes away, PostgreSQL. Real engines throughout; each check counts runs through MlflowClient."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from tests.conftest import (
    ROOT,
    MlflowServer,
    Store,
    free_port,
    postgres,
    run_cli,
    start_cli,
    wait_until,
)

pytestmark = pytest.mark.slow

GRID = ("optimizer.lr=0.01,0.02,0.05,0.1", "seed=0,1,2,3")  # 16 configurations
STEPS = 30
QUICK = (f"steps={STEPS}", "artifacts.plots=false")
JOBLIB = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
LONG = ("steps=1000000", "artifacts.plots=false")  # minutes: always interrupted first
PARENT = "mlflow.parentRunId"
HISTORIES = ("loss", "grad_norm", "suboptimality", "dist_to_opt")  # per step, on quad


def all_runs(client: MlflowClient) -> list:
    """Every run in every experiment (a misfiled run shows up too)."""
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids, max_results=5000) if ids else []


def children(client: MlflowClient, status: str | None = None) -> list:
    return [r for r in all_runs(client) if r.data.tags.get("role") != "sweep"
            and status in (None, r.info.status)]


def assert_complete_sweep(client: MlflowClient, n: int, steps: int = STEPS) -> None:
    """One FINISHED parent with n FINISHED children, all in `gradlab`, one per config, each
    with its whole loss history."""
    runs = all_runs(client)
    (parent,) = [r for r in runs if r.data.tags.get("role") == "sweep"]
    kids = [r for r in runs if r is not parent]
    experiment = client.get_experiment_by_name("gradlab").experiment_id
    assert len(kids) == n and parent.info.status == "FINISHED"
    assert {r.info.experiment_id for r in runs} == {experiment}
    assert all(r.data.tags.get(PARENT) == parent.info.run_id for r in kids)
    unfinished = [(r.info.status, r.data.tags.get("error")) for r in kids
                  if r.info.status != "FINISHED"]
    assert not unfinished, unfinished
    assert len({r.data.tags["config_hash"] for r in kids}) == n
    for run in kids:
        for key in HISTORIES:
            assert len(client.get_metric_history(run.info.run_id, key)) == steps + 1, key
    assert parent.data.metrics["runs"] == n


def assert_each_config_finished_once(client: MlflowClient, n: int) -> None:
    finished = Counter(r.data.tags["config_hash"] for r in children(client, "FINISHED"))
    assert len(finished) == n and set(finished.values()) == {1}, finished
    assert not [r for r in all_runs(client) if r.info.status == "RUNNING"]


def fresh_store(folder: Path) -> Store:
    folder.mkdir()
    return Store(folder)


# -- launchers --------------------------------------------------------------------------------

def hydra_node(group: str, option: str, tmp_path: Path) -> dict:
    """The composed hydra.<group> node for hydra/<group>=<option>."""
    proc = run_cli(f"hydra/{group}={option}", "--cfg", "hydra", "-p", f"hydra.{group}",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout.split("\n", 1)[1])


@pytest.mark.parametrize("path", sorted((ROOT / "conf/hydra").glob("*/*.yaml")),
                         ids=lambda p: f"{p.parent.name}={p.stem}")
def test_hydra_configs_compose_onto_their_plugins(tmp_path, path):
    node = hydra_node(path.parent.name, path.stem, tmp_path)
    module, name = node["_target_"].rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name))


def test_joblib_defaults_to_one_worker_per_core(tmp_path):
    assert hydra_node("launcher", "joblib", tmp_path)["n_jobs"] == -1  # joblib: every core


def test_16_job_joblib_sweeps_lose_nothing(tmp_path):
    for i in range(3):
        store = fresh_store(tmp_path / f"round{i}")
        proc = store.run("-m", *JOBLIB, *GRID, *QUICK)
        assert "Joblib.Parallel(n_jobs=2," in proc.stdout + proc.stderr
        assert_complete_sweep(store.client, 16)


def test_16_job_ray_sweeps_lose_nothing(tmp_path):
    for i in range(3):  # a local Ray started on demand each time
        store = fresh_store(tmp_path / f"round{i}")
        store.run("-m", "hydra/launcher=ray_cluster", *GRID, *QUICK)
        assert_complete_sweep(store.client, 16)


@contextlib.contextmanager
def ray_cluster(folder: Path) -> Iterator[str]:
    """An existing one-node Ray cluster (its workers never see our environment)."""
    port = free_port()
    with open(folder / "ray.log", "w") as log:
        head = subprocess.Popen(
            [str(Path(sys.executable).parent / "ray"), "start", "--head", "--port", str(port),
             "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats",
             "--block"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=folder,
            env={**os.environ, "RAY_AUTH_MODE": "disabled"})  # cwd: the workers' sweep dirs
    try:
        wait_until(lambda: "Ray runtime started" in (folder / "ray.log").read_text())
        yield f"127.0.0.1:{port}"
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops what it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        # `ray start` records its address for later ray.init(); drop ours, or they would hang
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if current.exists() and current.read_text().strip().endswith(f":{port}"):
            current.unlink()


def test_ray_sweep_on_an_existing_cluster_files_every_run(tmp_path):
    store = fresh_store(tmp_path / "store")
    with ray_cluster(tmp_path) as address:
        store.run("-m", "hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address={address}",
                  *GRID, *QUICK)
    assert_complete_sweep(store.client, 16)


def test_submitit_local_runs_at_most_max_batch_size_jobs_at_once(store):
    store.run("-m", "hydra/launcher=submitit_local", "hydra/sweeper=batched",
              "hydra.sweeper.max_batch_size=1", "optimizer.lr=0.01,0.02", *QUICK)
    first, second = sorted(children(store.client), key=lambda r: r.info.start_time)
    assert first.data.tags[PARENT] == second.data.tags[PARENT]
    assert first.info.end_time <= second.info.start_time


# -- what a sweeper gets -----------------------------------------------------------------------

@pytest.mark.parametrize("sweeper", ["fast", "basic", "optuna"])
def test_the_sweepers_get_the_whole_result(sweeper):
    """Hydra's basic sweeper and its kin, and the Optuna sweeper (which reads its metrics
    from it, see runner.sweep.study.values), get a run's whole result."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    from runner.app import sweep_value

    result = {"status": "max_steps", "final_loss": 0.5}
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", [f"hydra/sweeper={sweeper}"], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    try:
        assert sweep_value(result, cfg.sweep_metric) == result
    finally:
        HydraConfig.instance().cfg = None


# -- faults -----------------------------------------------------------------------------------

def running(store: Store) -> Callable[[], bool]:
    return lambda: any(r.info.status == "RUNNING" and r.data.tags.get("role") != "sweep"
                       for r in store.runs())


def test_sigterm_ends_a_run_killed_with_its_metrics_so_far(store):
    proc = start_cli(*LONG, f"tracking.uri={store.uri}", cwd=store.folder)
    wait_until(running(store))
    time.sleep(8)  # well into the loop (at 3 s a full suite on 2 loaded cores once saw no step)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM, (store.folder / "cli.log").read_text()
    run = store.only_run()
    assert run.info.status == "KILLED" and run.data.tags["status"] == "killed"
    steps = int(run.data.metrics["steps"])
    assert 0 < steps < 1_000_000
    history = store.history(run.info.run_id, "loss")
    assert history[0][0] == 0 and history[-1][0] == steps


@pytest.mark.parametrize("launcher, sig", [((), signal.SIGINT), ((), signal.SIGTERM),
                                           (JOBLIB, signal.SIGTERM)])
def test_an_interrupted_sweep_leaves_nothing_running(store, launcher, sig):
    proc = start_cli("-m", *launcher, "optimizer.lr=0.01,0.02,0.03", *LONG,
                     f"tracking.uri={store.uri}", cwd=store.folder)
    wait_until(running(store))
    time.sleep(2)
    proc.send_signal(sig)
    assert proc.wait(timeout=120) != 0
    runs = store.runs()
    (parent,) = [r for r in runs if r.data.tags.get("role") == "sweep"]
    assert parent.info.status == "KILLED"
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert "KILLED" in {r.info.status for r in runs if r is not parent}


def test_kill_9_halfway_then_resume_finishes_each_config_once(store):
    sweep = ("-m", *JOBLIB, *GRID, "steps=3000", "artifacts.plots=false",
             f"tracking.uri={store.uri}")
    proc = start_cli(*sweep, cwd=store.folder)
    wait_until(lambda: len(children(store.client, "FINISHED")) >= 4)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(children(store.client, "FINISHED"))
    assert done_before < 16

    resumed = run_cli(*sweep, "resume=true", cwd=store.folder)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("already finished as run") == done_before
    assert_each_config_finished_once(store.client, 16)
    # one logical sweep: the resumed parent has all 16 runs, and its summary says so
    assert_resumed_sweep_covers(store, 16)
    again = run_cli(*sweep, "resume=true", cwd=store.folder)  # nothing left to compute
    assert again.returncode == 0 and again.stdout.count("already finished as run") == 16
    assert_resumed_sweep_covers(store, 16)


def assert_resumed_sweep_covers(store: Store, n: int) -> None:
    """The newest sweep's parent has every configuration as a child, FINISHED, and its
    sweep.json counts them all and names the best of them."""
    newest = max(store.folder.glob("multirun/*/*/sweep.json"), key=lambda p: p.parent.name)
    summary = json.loads(newest.read_text())
    parent = store.client.get_run(summary["parent_run_id"])
    kids = [r for r in all_runs(store.client)
            if r.data.tags.get(PARENT) == parent.info.run_id]
    assert parent.info.status == "FINISHED" and len(kids) == n == summary["runs"]
    assert sum(summary["statuses"].values()) == n and summary["incomplete"] == []
    lowest = min(r.data.metrics["final_loss"] for r in kids)  # ties: any of them
    assert summary["best"]["final_loss"] == lowest
    assert summary["best"]["run_id"] in {r.info.run_id for r in kids
                                         if r.data.metrics["final_loss"] == lowest}


def test_an_unreachable_server_stops_a_sweep_before_any_job(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    proc = run_cli("-m", *JOBLIB, *GRID, f"tracking.uri={uri}", cwd=tmp_path)
    assert proc.returncode == 2
    assert f"sweep cannot start: cannot reach the MLflow tracking server at {uri}" in proc.stderr
    assert "Launching" not in proc.stdout + proc.stderr and not (tmp_path / "multirun").exists()


def test_a_server_lost_mid_sweep_fails_visibly_and_resume_completes(tmp_path):
    sweep = ("-m", *JOBLIB, "optimizer.lr=0.01,0.02,0.05,0.1", "seed=0,1", "steps=4000",
             "artifacts.plots=false")
    server = MlflowServer(tmp_path)
    try:  # the URI comes from the environment: the resumed command is the same sweep
        proc = start_cli(*sweep, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": server.uri})
        client = MlflowClient(server.uri)
        wait_until(lambda: len(children(client, "FINISHED")) >= 2)
    finally:
        server.stop()
    start = time.time()
    assert proc.wait(timeout=300) != 0
    assert time.time() - start < 240  # bounded retries, no hang
    assert "error:" in (tmp_path / "cli.log").read_text()

    server = MlflowServer(tmp_path)  # the same database, on a new port
    try:
        resumed = run_cli(*sweep, "resume=true", cwd=tmp_path,
                          env={"MLFLOW_TRACKING_URI": server.uri})
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert_each_config_finished_once(MlflowClient(server.uri), 8)
    finally:
        server.stop()


# -- PostgreSQL -------------------------------------------------------------------------------

def test_a_postgresql_backed_server_holds_a_4_worker_sweep(tmp_path):
    with postgres() as database:
        server = MlflowServer(tmp_path, backend=database)
        try:
            proc = run_cli("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4", *GRID, *QUICK,
                           f"tracking.uri={server.uri}", cwd=tmp_path)
            assert proc.returncode == 0, proc.stderr[-3000:]
            assert_complete_sweep(MlflowClient(server.uri), 16)
        finally:
            server.stop()
