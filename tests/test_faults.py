"""Faults injected into real sweeps: a configuration that raises, a store another process
holds locked, a store that cannot grow, signals at any moment, many processes starting on a
new store. Nothing is lost, nothing is left RUNNING, and every failure is said."""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import ROOT, Store, run_cli, start_cli, wait_until
from tests.test_scale import children, fresh_store

pytestmark = pytest.mark.slow
VECTORIZED = ("hydra/launcher=vectorized",)
# sgd on ‖x‖² from (1, 1): x ← (1 − 2η)x stays in [-3, 3] for η ≤ 1; η = 1.6 leaves at step 2
FRAGILE = ("objective=python", "objective.function=tests.fixtures.fragile.fragile",
           "objective.minimizer=[0.0,0.0]", "objective.x0=[1.0,1.0]", "steps=40",
           "artifacts.plots=false")
LRS = [round(0.05 * k, 2) for k in range(1, 20)] + [1.6]


def sweep_runs(store: Store) -> tuple[object, list]:
    runs = store.runs()
    (parent,) = [r for r in runs if r.data.tags.get("role") == "sweep"]
    return parent, [r for r in runs if r is not parent]


@pytest.mark.parametrize("launcher", [(), VECTORIZED], ids=["basic", "vectorized"])
def test_one_configuration_that_raises_fails_alone(store, launcher):
    proc = store.run("-m", *launcher, *FRAGILE, "optimizer.lr=" + ",".join(map(str, LRS)))
    assert "Traceback" not in proc.stderr
    parent, runs = sweep_runs(store)
    assert len(runs) == 20 and parent.info.status == "FINISHED"
    failed = [r for r in runs if r.info.status == "FAILED"]
    assert len(failed) == 1 and len([r for r in runs if r.info.status == "FINISHED"]) == 19
    (bad,) = failed
    assert bad.data.params["optimizer.lr"] == "1.6" and bad.data.tags["status"] == "failed"
    assert bad.data.tags["error"] == "ValueError: fragile: a coordinate left [-3, 3]"
    assert int(bad.data.metrics["steps"]) == 1  # x₁ = (-2.2, -2.2) was the last good point
    assert parent.data.metrics["runs_failed"] == 1 and parent.data.metrics["runs"] == 20


def hold_lock(db: Path, ledger_glob: str, after: int, seconds: float) -> threading.Thread:
    """Once `after` jobs have ended, hold the SQLite store's write lock for `seconds`."""
    def hold() -> None:
        wait_until(lambda: sum(len(p.read_text().splitlines())
                               for p in db.parent.glob(ledger_glob)) >= after)
        connection = sqlite3.connect(db, isolation_level=None, timeout=60)
        connection.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        connection.execute("COMMIT")
        connection.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("launcher", [(), VECTORIZED], ids=["basic", "vectorized"])
def test_a_lock_held_past_the_retry_budget_is_said_and_resume_completes(store, launcher):
    # The lock is held 40 s: past a request's 20 s wait (MLflow's SQLite busy timeout) plus
    # the 1 s retry budget even for a request that starts up to 19 s after it is taken (at
    # 25 s, a job still computing when the lock was taken could wait it out and succeed on a
    # loaded machine). Vectorized: chunks of 2 rows long enough (6,000 steps, 2-6 s each)
    # that the lock, taken within a second of the first chunk being recorded, is held while
    # the next is computed
    steps = "steps=6000" if launcher else "steps=1500"
    sweep = ("-m", *launcher, "optimizer.lr=0.01,0.02,0.03,0.04,0.05,0.06", steps,
             "artifacts.plots=false", "hydra.launcher.max_rows=2" if launcher else "seed=0")
    store.run("steps=1", "artifacts.plots=false")  # the store exists
    locker = hold_lock(store.folder / "mlflow.db", "multirun/*/*/jobs.jsonl", 2, 40)
    proc = store.run(*sweep, check=False, env={"GRADLAB_STORE_RETRY_S": "1"})
    locker.join()
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "have no complete run" in proc.stderr and "database is locked" in proc.stderr
    assert "Traceback" not in proc.stderr and "resume=true" in proc.stderr
    assert not [r for r in store.runs() if r.info.status == "RUNNING"]
    resumed = store.run(*sweep, "resume=true")
    assert "no complete run" not in resumed.stderr
    finished = [r for r in children(store.client, "FINISHED")
                if f"steps={r.data.params['steps']}" == steps]
    assert sorted(float(r.data.params["optimizer.lr"]) for r in finished) == [
        0.01, 0.02, 0.03, 0.04, 0.05, 0.06]  # each configuration once


def test_a_store_that_cannot_grow_is_said_and_resume_completes(store):
    store.run("steps=1", "artifacts.plots=false")  # the store exists
    limit = (store.folder / "mlflow.db").stat().st_size + 60_000  # a few runs' rows more

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    sweep = ("-m", "optimizer.lr=" + ",".join(f"0.0{k}" for k in range(1, 9)), "steps=400",
             "artifacts.plots=false", f"tracking.uri={store.uri}")
    proc = subprocess.run([sys.executable, "-m", "runner", *sweep], cwd=store.folder,
                          capture_output=True, text=True, timeout=600, preexec_fn=small_files,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "have no complete run" in proc.stderr or "summary was not recorded" in proc.stderr
    assert not [r for r in store.runs() if r.info.status == "RUNNING"]
    assert len(children(store.client, "FINISHED")) < 9  # the limit did bite
    resumed = store.run(*sweep, "resume=true")
    assert "no complete run" not in resumed.stderr
    finished = [r for r in children(store.client, "FINISHED") if r.data.params["steps"] == "400"]
    assert len(finished) == 8 and len({r.data.tags["config_hash"] for r in finished}) == 8


def session_processes(pid: int) -> list[str]:
    out = subprocess.run(["ps", "-s", str(pid), "-o", "pid=,args="], capture_output=True,
                         text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def assert_nothing_left(store: Store, proc: subprocess.Popen) -> None:
    wait_until(lambda: not session_processes(proc.pid), timeout=30)
    runs = store.runs()
    assert not [r for r in runs if r.info.status == "RUNNING"], [
        (r.info.run_name, r.data.tags.get("role")) for r in runs]
    for run in runs:
        if run.data.tags.get("role") == "sweep":
            continue
        assert run.info.status in ("FINISHED", "KILLED"), run.info.status
        if run.info.status == "KILLED":
            assert run.data.tags["status"] == "killed"
        else:  # complete: its metrics and files
            assert "final_loss" in run.data.metrics
            assert store.artifact_json(run.info.run_id)["steps"] == 40000


def catches(pid: int, sig: int) -> bool:
    """Whether the process has a handler for `sig` (Python's for SIGINT is set as it
    starts: a Ctrl-C before it ends the process as the default action does)."""
    with open(f"/proc/{pid}/status") as status:
        mask = next(line for line in status if line.startswith("SigCgt:")).split()[1]
    return bool(int(mask, 16) >> (sig - 1) & 1)


def signal_at_moments(tmp_path: Path, args: tuple[str, ...], sig: int,
                      moments: int) -> list[set[str]]:
    """`sig` at `moments` evenly spread moments of the command's life, from the start of
    the process to its last file written; each time: the exit a signal gives (128 + it; a
    SIGTERM before Python starts may end it by the default action), a line saying so, no
    traceback, never a run left RUNNING, never a process left behind. The runs' statuses
    at each moment ({"none"} where no run existed yet)."""
    reference = fresh_store(tmp_path / "reference")
    start = time.monotonic()
    proc = start_cli(*args, f"tracking.uri={reference.uri}", cwd=reference.folder)
    assert proc.wait(timeout=300) == 0
    life = time.monotonic() - start
    outcomes = []
    for k in range(moments):
        store = fresh_store(tmp_path / f"t{k}")
        proc = start_cli(*args, f"tracking.uri={store.uri}", cwd=store.folder)
        if sig == signal.SIGINT:
            wait_until(lambda pid=proc.pid: catches(pid, sig), timeout=30)
        time.sleep(life * (k + 0.5) / moments)
        proc.send_signal(sig)
        code = proc.wait(timeout=120)
        log = (store.folder / "cli.log").read_text()
        assert code in (0, 128 + sig, -signal.SIGTERM), log[-2000:]
        assert "Traceback" not in log, log[-3000:]
        assert code != 128 + sig or "interrupted" in log, log[-2000:]
        assert_nothing_left(store, proc)
        outcomes.append({r.info.status for r in store.runs()} or {"none"})
    return outcomes


@pytest.mark.parametrize("sig, moments", [(signal.SIGTERM, 20), (signal.SIGINT, 10)])
def test_a_signal_at_any_moment_of_a_run_ends_it_killed_or_finished(tmp_path, sig, moments):
    # 40,000 steps: the loop is about a third of the process's life (start-up, the store,
    # the final write and the plots are the rest), so some moments fall inside it
    outcomes = signal_at_moments(tmp_path, ("steps=40000", "optimizer.lr=0.001"), sig, moments)
    seen = set().union(*outcomes)
    assert "KILLED" in seen and ("FINISHED" in seen or "none" in seen), outcomes


def test_a_signal_once_the_work_is_over_lets_the_command_end_as_it_would(tmp_path):
    """Ctrl-C while the exit hooks run (the runs' last writes are joined there): ignored,
    no traceback, the exit status of the work."""
    store = Store(tmp_path)
    exiting = tmp_path / "exiting"
    env = {"PYTHONPATH": f"{ROOT / 'tests' / 'fixtures' / 'slow_exit'}:{ROOT}",
           "GRADLAB_TEST_EXITING": str(exiting)}
    proc = start_cli("steps=50", f"tracking.uri={store.uri}", cwd=tmp_path, env=env)
    wait_until(exiting.exists, timeout=120)
    proc.send_signal(signal.SIGINT)
    log = (tmp_path / "cli.log").read_text
    assert proc.wait(timeout=60) == 0, log()
    assert "Traceback" not in log() and "KeyboardInterrupt" not in log(), log()
    assert store.only_run().info.status == "FINISHED"


@pytest.mark.parametrize("launcher", [(), VECTORIZED], ids=["basic", "vectorized"])
def test_ctrl_c_at_any_moment_of_a_sweep_ends_it_killed(tmp_path, launcher):
    """From loading the libraries to the report: the sweep's run ends KILLED (or FINISHED
    once its runs are), each of its runs KILLED with its steps or complete."""
    args = ("-m", *launcher, "optimizer.lr=0.001,0.002", "steps=40000")
    outcomes = signal_at_moments(tmp_path, args, signal.SIGINT, 8)
    assert "KILLED" in set().union(*outcomes), outcomes


def test_ctrl_c_as_the_sweeps_run_is_made_ends_it_killed(tmp_path):
    """The moment between the sweep's run being created and the sweep knowing its id: the
    run still ends KILLED, found at exit by the sweep's id."""
    store = Store(tmp_path)
    proc = run_cli("-m", "optimizer.lr=0.001,0.002", "steps=100", f"tracking.uri={store.uri}",
                   cwd=tmp_path, module="tests.fixtures.signal_after_parent")
    assert proc.returncode == 128 + signal.SIGINT, proc.stderr[-2000:]
    assert "interrupted" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    (run,) = store.runs()
    assert run.data.tags["role"] == "sweep" and run.info.status == "KILLED"


@pytest.mark.parametrize("args", [(), ("-m", "optimizer.lr=0.1,0.2")], ids=["run", "sweep"])
def test_a_ctrl_c_while_a_class_is_made_ends_the_command_as_a_ctrl_c(tmp_path, args):
    """Python 3.11 turns a KeyboardInterrupt raised while a class is made (where a Ctrl-C
    while torch loads can land) into a RuntimeError: the command still ends as a Ctrl-C
    ends it, in one line, no traceback, no run left RUNNING."""
    store = Store(tmp_path)
    proc = run_cli(*args, "steps=100", f"tracking.uri={store.uri}", cwd=tmp_path,
                   module="tests.fixtures.interrupted_in_a_class")
    assert proc.returncode == 128 + signal.SIGINT, proc.stdout + proc.stderr
    assert "interrupted" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert not [r for r in store.runs() if r.info.status == "RUNNING"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_no_process_of_a_vectorized_sweep_survives_it(tmp_path, sig):
    store = Store(tmp_path)
    proc = start_cli("-m", *VECTORIZED, "optimizer.lr=0.01,0.02", "seed=range(0,200)",
                     "steps=20000", "artifacts.plots=false", "hydra.launcher.max_rows=100",
                     f"tracking.uri={store.uri}", cwd=tmp_path)
    # the helper processes that write files start with the first batch's runs
    wait_until(lambda: len(session_processes(proc.pid)) >= 3, timeout=240)
    proc.send_signal(sig)
    proc.wait(timeout=120)
    wait_until(lambda: not session_processes(proc.pid), timeout=30)
    if sig == signal.SIGTERM:
        assert not [r for r in store.runs() if r.info.status == "RUNNING"]


def test_a_single_runs_helper_ends_with_its_command_killed_by_sigkill(tmp_path):
    """kill -9 of a single run: its helper process, which records the run, exits with it;
    the run stays RUNNING (as any store's run would), for a resume to end KILLED."""
    store = Store(tmp_path)
    proc = start_cli("steps=2000000", "artifacts.plots=false", f"tracking.uri={store.uri}",
                     cwd=tmp_path)
    wait_until(lambda: (tmp_path / "mlflow.db").exists() and store.runs(), timeout=240)
    assert len(session_processes(proc.pid)) == 2  # the command and its helper
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    wait_until(lambda: not session_processes(proc.pid), timeout=10)
    (run,) = store.runs()
    assert run.info.status == "RUNNING"


ONE_RUN = """
import sys
from runner.tracking.client import client_for, open_experiment
uri = sys.argv[1]
experiment = open_experiment(uri, "gradlab")
client = client_for(uri)
run = client.create_run(experiment).info.run_id
client.set_terminated(run, "FINISHED")
"""


# repetitions of the concurrent start: 10 in a stress run (GRADLAB_STRESS=1), 3 in CI
REPEATS = 10 if os.environ.get("GRADLAB_STRESS") else 3


def test_eight_processes_start_together_on_a_new_store(tmp_path):
    """REPEATS times: 8 processes open a store that does not exist yet and record a run (the
    runner's own store opening, without torch); then once with the whole CLI."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for rep in range(REPEATS):
        uri = f"sqlite:///{tmp_path / f'new{rep}.db'}"
        procs = [subprocess.Popen([sys.executable, "-c", ONE_RUN, uri], env=env,
                                  stderr=subprocess.PIPE, text=True) for _ in range(8)]
        errors = [p.communicate(timeout=300)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), errors
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name("gradlab").experiment_id
        assert len(client.search_runs([experiment])) == 8
    store = fresh_store(tmp_path / "cli")
    procs = [start_cli(f"optimizer.lr=0.0{k}", "steps=5", "artifacts.plots=false",
                       f"tracking.uri={store.uri}", cwd=store.folder) for k in range(1, 9)]
    assert [p.wait(timeout=600) for p in procs] == [0] * 8
    assert len(children(store.client, "FINISHED")) == 8
    store.run("steps=5", "artifacts.plots=false")  # the store is usable afterwards


@pytest.mark.parametrize("uri, says", [
    ("sqlite:////proc/gradlab/mlflow.db", "does not exist"),
    ("sqlite:///{tmp}", "it is a folder"),
    ("postgresql://gradlab@127.0.0.1:{port}/mlflow", "cannot reach the tracking database"),
])
def test_an_unusable_store_is_one_line_and_no_run(tmp_path, uri, says):
    from tests.conftest import free_port

    uri = uri.format(tmp=tmp_path, port=free_port())
    start = time.monotonic()
    proc = run_cli("steps=5", f"tracking.uri={uri}", cwd=tmp_path)
    took = time.monotonic() - start
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr[-2000:]
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    print(f"{uri}: refused in {took:.1f} s")  # for the record (-s), not asserted


def peak_tree_rss_mb(proc: subprocess.Popen, timeout: float = 600) -> float:
    """The CLI's whole process tree (its session: helpers included), summed and sampled
    every 0.1 s until it exits: the highest total resident memory seen, in MB."""
    peak, deadline = 0, time.monotonic() + timeout
    while proc.poll() is None:
        assert time.monotonic() < deadline, "timed out"
        out = subprocess.run(["ps", "-s", str(proc.pid), "-o", "rss="], capture_output=True,
                             text=True).stdout
        peak = max(peak, sum(int(v) for v in out.split()))
        time.sleep(0.1)
    return peak / 1024


# a single run's history is bounded by artifacts.history_mb: 10x the steps, the same memory
LONG_STEPS = 10**6 if os.environ.get("GRADLAB_STRESS") else 200_000


def test_a_long_run_records_within_its_history_budget(tmp_path):
    peaks = {}
    for steps in (LONG_STEPS // 10, LONG_STEPS):
        store = fresh_store(tmp_path / str(steps))
        proc = start_cli(f"steps={steps}", "optimizer.lr=1e-5", "artifacts.history_mb=1",
                         "artifacts.plots=false", f"tracking.uri={store.uri}",
                         cwd=store.folder)
        peaks[steps] = peak_tree_rss_mb(proc)
        assert proc.returncode == 0, (store.folder / "cli.log").read_text()[-2000:]
        (run,) = store.runs()
        assert run.data.metrics["steps"] == steps
        with open(store.client.download_artifacts(run.info.run_id, "trajectory.csv",
                                                  str(store.folder))) as f:
            rows = sum(1 for _ in f) - 1
        assert rows <= 2**20 // 48 + 2  # 48 bytes a kept step in 2-D: step, t, f, ‖∇f‖, x
    print(f"peak RSS: {peaks}")  # for the record (-s)
    # without a budget, 1.6 KB a step: +290 MB for the 180,000 more steps
    assert peaks[LONG_STEPS] - peaks[LONG_STEPS // 10] < 40, peaks


def test_a_vectorized_sweep_stays_within_memory_mb(tmp_path):
    """memory_mb=128 bounds what the batches in flight cost (rows_per_budget, FOOTPRINT):
    the stated bound for the whole tree is 1.2 GB, the processes' own size (about 730 MB:
    the command with MLflow 300, the engine with torch 275, two writers 70 each, the
    resource tracker 12; in one process, 590) plus the budget plus what the allocators keep,
    which varies with how the writers' work overlaps (measured: 860-880 MB; 1.5 GB before
    the bound; 1.15-1.3 GB while the engine sent a chunk's rows in one message)."""
    store = Store(tmp_path)
    proc = start_cli("-m", *VECTORIZED, "hydra.launcher.memory_mb=128",
                     "optimizer.lr=0.001,0.002,0.005,0.01", "seed=range(0,50)", "steps=20000",
                     "artifacts.plots=false", f"tracking.uri={store.uri}", cwd=tmp_path)
    peak = peak_tree_rss_mb(proc, timeout=900)
    assert proc.returncode == 0, (tmp_path / "cli.log").read_text()[-2000:]
    assert len(children(store.client, "FINISHED")) == 200
    print(f"peak RSS of the sweep's processes: {peak:.0f} MB")
    assert peak < 1200, peak


def test_a_run_the_store_failed_to_record_counts_as_incomplete():
    """A ledger line of a run that ended FAILED because the store failed while recording it
    (a lock held past the retry budget) is one line of the sweep's incomplete list, as a
    configuration with no run is; a configuration that failed by itself is not."""
    from runner.results import Outcome
    from runner.sweep import ledger

    entries = [ledger.Entry("optimizer.lr=0.1", "r1", "failed", "ValueError: fragile"),
               ledger.Entry("optimizer.lr=0.2", None, "failed", "database is locked"),
               ledger.Entry("optimizer.lr=0.3", "r3", "failed", "MlflowException: locked",
                            unrecorded=True)]
    lines = ledger.incomplete(entries, [], 3, 2)
    assert lines == ["optimizer.lr=0.2: no run was recorded (database is locked)",
                     "optimizer.lr=0.3: run r3 ended FAILED while the store failed to record "
                     "it (MlflowException: locked)"]
    assert Outcome.failure("x", "r3", unrecorded=True).result["unrecorded"] is True
    assert "unrecorded" not in Outcome.failure("x", "r1").result
