"""The engine process of a batched sweep (runner.sweep.engine): the command never loads
torch, the results are those computed in-process to the last bit, and an engine that dies,
or a Ctrl-C that reaches it, loses nothing; a plain sweep's store opened while the engine
computes still refuses bad input in one line. Real sweeps, studies, stores and CLI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.constants import BEST_RUN_TAG
from runner.sweep import engine
from tests.conftest import Store, run_cli, start_cli, wait_until
from tests.test_faults import session_processes
from tests.test_optuna import (
    ADAM,
    OPTUNA,
    SPACE,
    VECTORIZED,
    assert_each_trial_once,
    study_of,
    trial_runs,
)

pytestmark = pytest.mark.slow

STUDY = (*OPTUNA, *VECTORIZED, "hydra.sweeper.sampler.seed=0", *SPACE, *ADAM)


def finals(store: Store) -> dict[int, tuple]:
    """Each trial's run: its final values and status, by trial number."""
    return {int(r.data.tags["optuna.trial"]): (r.data.metrics["final_loss"],
                                               r.data.metrics["final_grad_norm"],
                                               r.data.tags["status"])
            for r in trial_runs(store)}


def test_only_a_batched_sweep_command_line_forks_the_engine():
    assert engine.wanted(["-m", "hydra/sweeper=optuna", "hydra/launcher=vectorized", "x=1"])
    assert engine.wanted(["-m", "hydra/launcher=vectorized", "optimizer.lr=0.1,0.2"])
    assert not engine.wanted(["hydra/sweeper=optuna", "hydra/launcher=vectorized"])
    assert not engine.wanted(["-m", "optimizer.lr=0.1,0.2"])  # the basic launcher
    assert not engine.wanted(["-m", "hydra/launcher=vectorized", "x=1,2", "resume=true"])


def test_the_engine_forks_before_numpy_is_loaded():
    """The command's first imports (runner.__main__'s) leave numpy to the engine and the
    command, each on its core: loaded before the fork, it would delay the engine's torch."""
    code = ("import sys\nfrom runner import collector\nfrom runner.sweep import engine\n"
            "print(sorted({'numpy', 'torch', 'mlflow', 'hydra'} & set(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert proc.stdout.strip() == "[]", proc.stderr


def both_ways(tmp_path: Path, *args: str, said: dict[str, str] | None = None
              ) -> dict[str, Store]:
    """The command run with the engine and without, each to its own store; the first one's
    own process never loads torch, the second one's does. `said` gets each one's stderr."""
    stores = {}
    for name, env in (("engine", {}), ("in_process", {engine.OFF_ENV: "0"})):
        store = stores[name] = Store(tmp_path / name)
        proc = run_cli(*args, f"tracking.uri={store.uri}", cwd=store.folder,
                       module="tests.fixtures.torch_loaded", env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert f"torch loaded: {name == 'in_process'}" in proc.stderr
        assert "at once failed" not in proc.stdout, proc.stdout  # each batch in one transaction
        if said is not None:
            said[name] = proc.stderr
    return stores


def run_files(store: Store) -> dict[str, dict]:
    """Each configuration's artifact files, by run name: config.yaml (but the store's uri),
    result.json and trajectory.csv (but the seconds)."""
    found = {}
    for run in store.runs():
        if run.data.tags.get("role") == "sweep":
            continue
        folder = Path(store.client.download_artifacts(run.info.run_id, "", str(
            store.folder / "files" / run.info.run_id)))
        files = {p.name: p.read_text() for p in folder.iterdir() if p.suffix != ".png"}
        if "config.yaml" in files:
            files["config.yaml"] = files["config.yaml"].replace(store.uri, "")
        if "result.json" in files:
            result = json.loads(files["result.json"])
            result.pop("wall_time_s")
            files["result.json"] = result
        if "trajectory.csv" in files:
            files["trajectory.csv"] = [line.split(",", 2)[::2]
                                       for line in files["trajectory.csv"].splitlines()]
        found[run.info.run_name] = files
    return found


def test_the_command_never_loads_torch_and_gets_the_same_bits(tmp_path: Path):
    stores = both_ways(tmp_path, *STUDY, "hydra.sweeper.n_trials=12", "hydra.sweeper.n_jobs=4")
    for store in stores.values():
        assert_each_trial_once(store, study_of(store), 12)
    with_engine, in_process = (finals(s) for s in stores.values())
    assert len(with_engine) == 12 and with_engine == in_process
    values = [{t.number: t.values for t in study_of(s).trials} for s in stores.values()]
    assert values[0] == values[1]


# minibatch SGD on digits (each row its own batches and evaluations), and a bad rate: a
# FAILED run with its reason
MLP_SWEEP = ("-m", *VECTORIZED, "objective=mlp", "sampling=minibatch", "optimizer=momentum",
             "optimizer.lr=0.05,0.1,-1", "seed=0,1", "steps=60")


def by_name(store: Store) -> dict[str, tuple]:
    """Each configuration's run: its status and metrics but the seconds it took, by name."""
    return {r.info.run_name: (r.info.status, {k: v for k, v in r.data.metrics.items()
                                              if k != "wall_time_s"})
            for r in store.runs() if r.data.tags.get("role") != "sweep"}


def test_a_plain_sweep_is_computed_by_the_engine_to_the_same_bits(tmp_path: Path):
    """And a short sweep's files are written by the engine, while the command inserts their
    rows: the same files, the command writing none itself; the engine, with no 2-D best run
    to draw, has ended by the sweep's close (its memory freed)."""
    said: dict[str, str] = {}
    stores = both_ways(tmp_path, *MLP_SWEEP, said=said)
    with_engine, in_process = (by_name(s) for s in stores.values())
    assert len(with_engine) == 6 and with_engine == in_process
    files = [run_files(s) for s in stores.values()]
    assert len(files[0]) == 6 and files[0] == files[1]
    finished = [f for f in files[0].values() if "trajectory.csv" in f]
    assert len(finished) == 4 and all(len(f["trajectory.csv"]) == 62 for f in finished)
    assert "run files written here: 0" in said["engine"]
    assert "run files written here: 0" not in said["in_process"]
    assert "engine at the close: False" in said["engine"]
    statuses = sorted(status for status, _ in with_engine.values())
    assert statuses == ["FAILED"] * 2 + ["FINISHED"] * 4
    histories = []
    for store in stores.values():
        (run,) = [r for r in store.runs() if r.info.run_name.endswith("lr=0.1 seed=1 steps=60")]
        histories.append([store.history(run.info.run_id, k) for k in ("loss", "test_loss")])
        assert len(histories[-1][0]) == 61
        # the best run's plots: drawn by the engine, or by a process forked in-process
        (parent,) = [r for r in store.runs() if r.data.tags.get("role") == "sweep"]
        files = store.client.list_artifacts(parent.data.tags[BEST_RUN_TAG])
        assert "loss.png" in {f.path for f in files}
    assert histories[0] == histories[1]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core")
def test_a_large_batch_takes_every_core_once_the_command_waits_to_the_same_bits(
        tmp_path: Path):
    """The engine computes on one thread while the command loads MLflow and opens its store,
    then, for a batch large enough to be worth threads (loop.SMALL_BATCH), on every core:
    the in-process sweep's results (there on every core throughout), to the bit. (5,000
    steps: the engine still computes, seconds after, when the command is done.)"""
    from runner.loop import SMALL_BATCH

    said: dict[str, str] = {}
    stores = both_ways(tmp_path, "-m", *VECTORIZED, "objective=mlp", "sampling=minibatch",
                       "optimizer=momentum", "optimizer.lr=0.01,0.05,0.1", "seed=range(0,10)",
                       "steps=5000", "eval_every=1000", "artifacts.plots=false", said=said)
    assert 30 * 2410 >= SMALL_BATCH  # 30 MLPs of 2,410 weights
    with_engine, in_process = (by_name(s) for s in stores.values())
    assert len(with_engine) == 30 and with_engine == in_process
    assert f"engine threads: {os.cpu_count()}" in said["engine"]


def test_a_short_plain_sweeps_report_is_built_from_its_rows_as_the_store_gives_them(
        tmp_path: Path):
    """A plain sweep whose every row comes from the engine has its report built from the
    rows while they are committed: the same files, to the byte (figures, tables, the page
    but the minute it was generated), as a report built from the store afterwards. A sweep
    with a failed configuration builds it from the store (test above)."""
    import re

    from runner.report.build import build

    store = Store(tmp_path)
    proc = run_cli("-m", *VECTORIZED, "objective=mlp", "sampling=minibatch",
                   "optimizer=momentum", "optimizer.lr=0.05,0.1", "seed=0,1,2", "steps=60",
                   f"tracking.uri={store.uri}", cwd=tmp_path, module="tests.fixtures.report_early")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "report built early: True" in proc.stderr
    (folder,) = [p.parent for p in tmp_path.glob("multirun/*/*/sweep.json")]
    info = json.loads((folder / "sweep.json").read_text())
    (parent,) = [r for r in store.runs() if r.data.tags.get("role") == "sweep"]
    again = tmp_path / "again"
    build(store.client, info["experiment_id"], info["parent_run_id"], again,
          title=f"sweep-{parent.data.tags['sweep_id']}")
    early = folder / "report"
    names = sorted(p.name for p in early.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    assert {"report.html", "runs.csv", "best.csv", "convergence.png"} <= set(names)
    logged = {f.path for f in store.client.list_artifacts(info["parent_run_id"], "report")}
    assert logged == {f"report/{n}" for n in names}
    stamp = re.compile(r"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC")
    for name in names:
        ours, theirs = (early / name).read_bytes(), (again / name).read_bytes()
        if name == "report.html":
            ours, theirs = (stamp.sub("", t.decode()) for t in (ours, theirs))
        assert ours == theirs, name
    best = store.client.list_artifacts(parent.data.tags[BEST_RUN_TAG])
    assert "loss.png" in {f.path for f in best}


def test_an_early_report_of_other_runs_than_the_store_holds_is_built_again(tmp_path: Path):
    """If the runs a report was built from early (report_early) are not the children the
    store holds once committed (a batch written again run by run gets new ids), the sweep's
    report is built from the store: every child in it, none of the others."""
    from runner.sweep import summary

    store = Store(tmp_path)
    store.run("-m", "optimizer.lr=0.01,0.02,0.03", "steps=20", "hydra/launcher=basic")
    (parent,) = [r for r in store.runs() if r.data.tags.get("role") == "sweep"]
    info = {"uri": store.uri, "experiment_id": parent.info.experiment_id,
            "parent_run_id": parent.info.run_id, "sweep_id": "x"}
    children = summary.children(store.client, info["experiment_id"], info["parent_run_id"])
    assert len(children) == 3
    summary.prepare_report(warm=True)
    summary.report_early(info, children[:2], {"loss": {}, "suboptimality": {}})
    out = tmp_path / "out"
    out.mkdir()
    summary.record_on_parent(store.client, info, out, found=children)
    assert not summary._EARLY and not summary._READY
    ids = {line.split(",")[0] for line in (out / "report" / "runs.csv").read_text().splitlines()[1:]}
    assert ids == {r.info.run_id for r in children}


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _engine_pid(pid: int) -> int:
    """The command's first child: the engine, forked before anything else."""
    return min(_children(pid))


@contextlib.contextmanager
def _study(store: Store, *args: str) -> Iterator[subprocess.Popen]:
    """The batched study with `args` running in the background (killed whole if a check
    fails before it ends)."""
    proc = start_cli(*STUDY[:-2], *args, "artifacts.plots=false", f"tracking.uri={store.uri}",
                     cwd=store.folder)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_an_engine_killed_mid_study_loses_nothing(store: Store):
    with _study(store, "steps=5000", "hydra.sweeper.n_trials=30",
                "hydra.sweeper.n_jobs=5") as proc:
        wait_until(lambda: len(trial_runs(store)) >= 5, timeout=240)
        os.kill(_engine_pid(proc.pid), signal.SIGKILL)
        assert proc.wait(timeout=300) == 0, (store.folder / "cli.log").read_text()[-3000:]
    assert_each_trial_once(store, study_of(store), 30)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_ctrl_c_records_the_generation_being_computed_as_killed(store: Store):
    with _study(store, "steps=200000", "hydra.sweeper.n_trials=8",
                "hydra.sweeper.n_jobs=4") as proc:
        log = store.folder / "cli.log"
        wait_until(lambda: "Launching 4 jobs vectorized" in log.read_text(), timeout=120)
        computing = _engine_pid(proc.pid)
        maps = Path(f"/proc/{computing}/maps")
        wait_until(lambda: "libtorch_cpu" in maps.read_text(), timeout=120)  # torch loaded
        time.sleep(6)  # the first generation is being computed (200,000 steps: minutes)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the command and the engine
        code = proc.wait(timeout=120)
    assert code != 0 and "interrupted" in log.read_text(), log.read_text()[-3000:]
    runs = trial_runs(store)
    assert len(runs) == 4 and {r.info.status for r in runs} == {"KILLED"}, log.read_text()
    assert all(0 < r.data.metrics["steps"] < 200000 for r in runs)
    wait_until(lambda: not Path(f"/proc/{computing}").exists(), timeout=10)


def test_trials_told_whose_runs_were_lost_are_run_again_with_the_same_values(store: Store):
    """A batched study tells a generation once computed and records it while the next one is
    computed: a kill in between leaves told trials without runs (here: deleted)."""
    command = (*STUDY, "hydra.sweeper.n_trials=8", "hydra.sweeper.n_jobs=4")
    store.run(*command)
    lost = [r for r in trial_runs(store) if r.data.tags["optuna.trial"] in ("1", "6")]
    for run in lost:
        store.client.delete_run(run.info.run_id)
    again = store.run(*command)
    assert "8 of 8 trials finished; 2 told before a kill lost their runs: run again" \
        in again.stdout
    assert_each_trial_once(store, study_of(store), 8)  # the new runs: the values told


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_an_engine_killed_mid_sweep_loses_nothing(store: Store):
    """Chunks of 25 rows: the engine is killed once some are recorded; the command computes
    the rest itself, each configuration one FINISHED run."""
    proc = start_cli("-m", *VECTORIZED, "optimizer.lr=0.01,0.02", "seed=range(0,50)",
                     "steps=20000", "hydra.launcher.max_rows=25", "artifacts.plots=false",
                     f"tracking.uri={store.uri}", cwd=store.folder)
    try:
        wait_until(lambda: store.folder.joinpath("mlflow.db").exists()
                   and len(store.runs()) >= 26, timeout=240)  # the parent and a chunk
        os.kill(_engine_pid(proc.pid), signal.SIGKILL)
        assert proc.wait(timeout=300) == 0, (store.folder / "cli.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    runs = [r for r in store.runs() if r.data.tags.get("role") != "sweep"]
    assert len(runs) == 100 and {r.info.status for r in runs} == {"FINISHED"}
    assert len({r.info.run_name for r in runs}) == 100


@pytest.mark.parametrize("fault, says", [
    ("dies", "the engine ended before writing them"),
    ("fails", "No space left on device"),
])
def test_an_engine_that_cannot_write_the_files_loses_nothing(tmp_path: Path, fault, says):
    """A short sweep's rows came, but the engine died before their files were written, or
    could not write them: the runs are logged one by one, each with its files (made from
    its record, or sent by the engine)."""
    store = Store(tmp_path)
    proc = run_cli(*MLP_SWEEP, f"tracking.uri={store.uri}", cwd=tmp_path,
                   module="tests.fixtures.engine_fails_writing",
                   env={"GRADLAB_TEST_ENGINE": fault})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "one by one" in proc.stdout and says in proc.stdout, proc.stdout
    files = run_files(store)
    finished = {name: f for name, f in files.items() if "trajectory.csv" in f}
    assert len(files) == 6 and len(finished) == 4
    for name, f in finished.items():
        assert len(f["trajectory.csv"]) == 62 and f["result.json"]["steps"] == 60
        assert f"seed: {name.split('seed=')[1].split()[0]}\n" in f["config.yaml"]


@pytest.mark.parametrize("uri, says", [
    ("sqlite:///{tmp}", "it is a folder"),
    ("postgresql://gradlab@127.0.0.1:{port}/mlflow", "cannot reach the tracking database"),
])
def test_a_plain_sweep_whose_store_is_unusable_stops_in_one_line(tmp_path, uri, says):
    """The store opens while the engine computes: still one line, no run, no process."""
    from tests.conftest import free_port

    uri = uri.format(tmp=tmp_path, port=free_port())
    proc = start_cli("-m", *VECTORIZED, "optimizer.lr=0.1,0.2", "steps=200000",
                     f"tracking.uri={uri}", cwd=tmp_path)
    code = proc.wait(timeout=120)
    log = (tmp_path / "cli.log").read_text()
    errors = [line for line in log.splitlines() if not line.startswith("[")]  # Hydra's log
    assert code == 2 and says in log and len(errors) == 1, log[-2000:]
    assert "Traceback" not in log
    wait_until(lambda: not session_processes(proc.pid), timeout=10)  # the engine too


def test_a_chunk_of_long_histories_comes_in_parts_with_every_step(tmp_path: Path):
    """Rows whose histories exceed engine.PART_BYTES together are sent in several parts
    (sent whole, a chunk's records were pickled whole in both processes: twice the memory,
    tests/test_faults): the runs and their histories are those of the in-process sweep."""
    steps, rows = 20_000, 8
    # a 2-D row keeps (steps + 1) x (f, |grad f|, evaluations, x1, x2) float64s at least
    assert rows * (steps + 1) * 5 * 8 > engine.PART_BYTES  # two parts at least
    said: dict[str, str] = {}
    stores = both_ways(tmp_path, "-m", *VECTORIZED, "objective=quad", "optimizer.lr=1e-5",
                       f"seed=range(0,{rows})", f"steps={steps}", "artifacts.plots=false",
                       said=said)
    assert "engine at the close: True" in said["engine"]  # a 2-D best run's plots: its own
    with_engine, in_process = (by_name(s) for s in stores.values())
    assert len(with_engine) == rows and with_engine == in_process
    tables, configs = [], []
    for store in stores.values():
        runs = {r.info.run_name: r.info.run_id for r in store.runs()
                if r.data.tags.get("role") != "sweep"}
        configs.append({name: Path(store.client.download_artifacts(  # but the store's uri
            run_id, "config.yaml", str(store.folder / name))).read_text().replace(store.uri, "")
            for name, run_id in runs.items()})
        (last,) = [run_id for name, run_id in runs.items() if "seed=7 steps" in name]
        lines = Path(store.client.download_artifacts(last, "trajectory.csv", str(
            store.folder))).read_text().splitlines()
        assert lines[0].startswith("step,wall_time_s,") and len(lines) == 1 + steps + 1
        tables.append([line.split(",", 2)[::2] for line in lines])  # but the seconds
    assert tables[0] == tables[1] and configs[0] == configs[1]
    assert all(f"\nseed: {name.split('seed=')[1].split()[0]}\n" in text
               for name, text in configs[0].items())


def test_a_plain_sweeps_parts_wait_asleep_for_the_writer(monkeypatch):
    """The command waits for room among the writes under way without spinning (a loop that
    spun held the interpreter lock from the writer thread: each commit took seconds)."""
    import concurrent.futures
    import threading

    calls = []
    real_wait = concurrent.futures.wait

    def counted(*args, **kwargs):
        calls.append(1)
        return real_wait(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "wait", counted)  # imported where used
    done, slow, slower = (concurrent.futures.Future() for _ in range(3))
    done.set_result(None)
    threading.Timer(0.3, slow.set_result, [None]).start()
    threading.Timer(5.0, slower.set_result, [None]).start()
    engine.room_for_one([done, slow, slower])
    assert slow.done() and not slower.done() and len(calls) == 1
