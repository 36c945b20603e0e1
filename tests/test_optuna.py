"""hydra/sweeper=optuna on Optuna 5: search quality with fixed seeds, a persistent study that
resumes after kill -9 (basic and vectorized launchers), parallel joblib workers, pruning,
bad input. Real Optuna studies in a JournalStorage file, real MLflow stores, the CLI as a
user runs it; every check reads the study and the runs back."""

from __future__ import annotations

import math
import os
import signal
from collections import Counter

import numpy as np
import optuna
import pytest
import yaml
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from runner.constants import BEST_RUN_TAG
from runner.sweep.study import values
from tests.conftest import Store, start_cli, wait_until

pytestmark = pytest.mark.slow

OPTUNA = ("-m", "hydra/sweeper=optuna")
ADAM = ("objective=rosenbrock", "objective.x0=[-1.2,1.0]", "optimizer=adam", "steps=200",
        "artifacts.plots=false")
SPACE = ("optimizer.lr=tag(log,interval(0.0001,1))", "optimizer.b1=interval(0.5,0.99)")
VECTORIZED = ("hydra/launcher=vectorized",)


def study_of(store: Store) -> optuna.Study:
    """The one study in the store's default journal file (beside mlflow.db)."""
    storage = JournalStorage(JournalFileBackend(str(store.folder / "optuna-journal.log")))
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage)


def trial_runs(store: Store, experiment: str = "gradlab") -> list:
    return [r for r in store.runs(experiment) if "optuna.trial" in r.data.tags]


def parent_of(store: Store, experiment: str = "gradlab"):
    """The newest sweep parent run."""
    parents = [r for r in store.runs(experiment) if r.data.tags.get("role") == "sweep"]
    return max(parents, key=lambda r: r.info.start_time)


def assert_each_trial_once(store: Store, study: optuna.Study, n: int) -> None:
    """n finished trials; each complete or pruned trial has exactly one FINISHED run with its
    number and parameters, under the newest parent; no run is left RUNNING."""
    trials = study.get_trials()
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == n
    runs = trial_runs(store)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    finished = [r for r in runs if r.info.status == "FINISHED"]
    counts = Counter(int(r.data.tags["optuna.trial"]) for r in finished)
    assert counts == Counter(t.number for t in done)  # one run each, none for a failed trial
    by_number = {int(r.data.tags["optuna.trial"]): r for r in finished}
    for trial in done:
        run = by_number[trial.number]
        assert float(run.data.params["optimizer.lr"]) == trial.params["optimizer.lr"]
        if trial.state == TrialState.COMPLETE:
            assert run.data.metrics["final_loss"] == trial.value
    parent = parent_of(store)
    assert parent.info.status == "FINISHED"
    assert {r.data.tags["mlflow.parentRunId"] for r in finished} == {parent.info.run_id}


def test_tpe_beats_the_median_of_ten_random_searches(store):
    """40 TPE trials over (lr, b1) for Adam on Rosenbrock against 10 random searches of 40
    (one random study of 400 i.i.d. trials, cut in tens by trial number)."""
    proc = store.run(*OPTUNA, "hydra.sweeper.sampler.seed=0", "hydra.sweeper.n_trials=40",
                     *SPACE, *ADAM)
    assert "\x1b[" not in proc.stderr + proc.stdout  # no colour codes off a terminal
    tpe = study_of(store)
    store.run(*OPTUNA, "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=1",
              "hydra.sweeper.n_trials=400", "hydra.sweeper.n_jobs=400", *VECTORIZED, *SPACE,
              *ADAM, "tracking.experiment=random", "hydra.sweeper.storage=random.log")
    random = optuna.load_study(study_name=None, storage=JournalStorage(
        JournalFileBackend(str(store.folder / "random.log"))))
    finals = np.array([t.value for t in sorted(random.trials, key=lambda t: t.number)])
    assert len(finals) == 400 and np.isfinite(finals).all()
    medians = np.median(finals.reshape(10, 40).min(axis=1))
    assert tpe.best_value < medians

    # the parent records the study: sampler, seed, size, storage, best trial
    parent = parent_of(store)
    params, tags = parent.data.params, parent.data.tags
    assert params["optuna.sampler"] == "tpe" and params["optuna.seed"] == "0"
    assert params["optuna.n_trials"] == "40" and params["optuna.study"] == tpe.study_name
    assert params["optuna.storage"] == str(store.folder / "optuna-journal.log")
    assert tags["optuna.best_trial"] == str(tpe.best_trial.number)
    assert float(params["best.optimizer.lr"]) == tpe.best_params["optimizer.lr"]
    best = min(trial_runs(store), key=lambda r: r.data.metrics["final_loss"])
    assert tags["best_run_id"] == best.info.run_id
    assert best.data.metrics["final_loss"] == tpe.best_value
    results = [yaml.safe_load(p.read_text())
               for p in store.folder.glob("multirun/*/*/optimization_results.yaml")]
    (result,) = [r for r in results if r["study"] == tpe.study_name]
    assert result["best_value"] == tpe.best_value
    assert_each_trial_once(store, tpe, 40)

    # the same command again: the study is complete, nothing runs, all 40 are the sweep's
    again = store.run(*OPTUNA, "hydra.sweeper.sampler.seed=0", "hydra.sweeper.n_trials=40",
                      *SPACE, *ADAM)
    assert "40 of 40 trials finished" in again.stdout
    assert len(study_of(store).trials) == 40
    assert_each_trial_once(store, study_of(store), 40)


@pytest.mark.parametrize("launcher, steps, n_jobs", [
    ((), 1000, 2),  # one trial ~0.1 s: a kill lands while one is asked or running
    (VECTORIZED, 2000, 10),  # a generation of 10 rows: seconds
])
def test_kill_9_then_the_same_command_finishes_the_study(store, launcher, steps, n_jobs):
    command = (*OPTUNA, "hydra.sweeper.sampler.seed=0", "hydra.sweeper.n_trials=60",
               f"hydra.sweeper.n_jobs={n_jobs}", *launcher, *SPACE, *ADAM[:3],
               f"steps={steps}", "artifacts.plots=false", f"tracking.uri={store.uri}")
    proc = start_cli(*command, cwd=store.folder)
    try:
        wait_until(lambda: sum(r.info.status == "FINISHED" for r in trial_runs(store)) >= 20,
                   timeout=240)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    cut = study_of(store)
    assert 0 < len(cut.get_trials(states=(TrialState.RUNNING,))) and len(cut.trials) < 60
    store.run(*command[:-1])
    study = study_of(store)
    assert_each_trial_once(store, study, 60)
    failed = study.get_trials(states=(TrialState.FAIL,))
    retries = {t.user_attrs.get("retry_of"): t for t in study.trials}
    for trial in failed:  # each asked again, with the parameters it had been given (a kill
        # while the trial was being asked can leave it none: then they are asked afresh)
        assert trial.params.items() <= retries[trial.number].params.items()


def _generations(storage, sync) -> tuple[optuna.Study, list[tuple]]:
    """Three generations of 8 trials asked, told and synced as the sweeper does."""
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.TPESampler(seed=0),
                                study_name="journal")
    space = {"x": optuna.distributions.FloatDistribution(-3, 3)}
    for _ in range(3):
        trials = [study.ask(space) for _ in range(8)]
        sync()
        for trial in trials:
            study.tell(trial, (trial.params["x"] - 1) ** 2)
        sync()
    return study, [(t.number, t.state, t.params, t.values) for t in study.get_trials()]


def test_the_journal_holds_optunas_records_and_syncs_once_a_generation(tmp_path, monkeypatch):
    from runner.sweep.journal import Journal

    synced = Counter()
    fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.update([os.readlink(
        f"/proc/self/fd/{fd}")]), fsync(fd)))
    ours, theirs = str(tmp_path / "ours.log"), str(tmp_path / "optuna.log")
    _, trials = _generations(JournalStorage(Journal(ours)), Journal.sync_all)
    _, expected = _generations(JournalStorage(JournalFileBackend(theirs)), lambda: None)
    assert trials == expected  # the same search, seed for seed
    # Optuna's own reader finds every record in the file, as the study held them
    reread = optuna.load_study(study_name="journal",
                               storage=JournalStorage(JournalFileBackend(ours)))
    assert [(t.number, t.state, t.params, t.values) for t in reread.get_trials()] == trials
    assert synced[ours] == 6  # at the asks and at the tells of each generation
    assert synced[theirs] > 24 * 3  # a create, a parameter and a value per trial, at least


def test_four_joblib_workers_share_one_study(store):
    store.run(*OPTUNA, "hydra/launcher=joblib", "hydra.launcher.n_jobs=4",
              "hydra.sweeper.n_jobs=4", "hydra.sweeper.n_trials=16",
              "hydra.sweeper.sampler.seed=0", *SPACE, *ADAM)
    study = study_of(store)
    assert len(study.trials) == 16
    assert_each_trial_once(store, study, 16)
    assert len({r.data.tags["mlflow.source.name"] for r in trial_runs(store)}) == 1


def test_a_median_pruner_stops_trials_and_saves_steps(store):
    common = (*OPTUNA, "hydra.sweeper.sampler.seed=0", "hydra.sweeper.n_trials=30",
              "hydra.sweeper.n_jobs=1", "optimizer.lr=tag(log,interval(0.0001,1))", *ADAM[:3],
              "steps=400", "artifacts.plots=false")
    store.run(*common, "tracking.experiment=plain")
    store.run(*common, "hydra.sweeper.pruner.name=median", "hydra.sweeper.pruner.every=40",
              "tracking.experiment=pruned", "hydra.sweeper.storage=pruned.log")

    def steps(experiment: str) -> int:
        return sum(int(r.data.metrics["steps"]) for r in trial_runs(store, experiment))

    pruned = [r for r in trial_runs(store, "pruned") if r.data.tags["status"] == "pruned"]
    assert pruned and all(r.info.status == "FINISHED" for r in pruned)
    assert all(int(r.data.metrics["steps"]) % 40 == 0 and r.data.metrics["steps"] < 400
               for r in pruned)
    assert steps("pruned") < steps("plain") == 30 * 400
    study = optuna.load_study(study_name=None, storage=JournalStorage(
        JournalFileBackend(str(store.folder / "pruned.log"))))
    assert {t.number for t in study.get_trials(states=(TrialState.PRUNED,))} == {
        int(r.data.tags["optuna.trial"]) for r in pruned}


def test_pruned_rows_of_a_vectorized_generation_stop_and_the_rest_run_on(store):
    store.run(*OPTUNA, *VECTORIZED, "hydra.sweeper.sampler.seed=0", "hydra.sweeper.n_trials=30",
              "hydra.sweeper.n_jobs=10", "hydra.sweeper.pruner.name=median",
              "optimizer.lr=tag(log,interval(0.0001,1))", *ADAM[:3], "steps=400",
              "artifacts.plots=false")
    runs = trial_runs(store)
    statuses = Counter(r.data.tags["status"] for r in runs)
    assert statuses["pruned"] > 0 and statuses["max_steps"] > 0
    for run in runs:
        assert (run.data.metrics["steps"] == 400) == (run.data.tags["status"] == "max_steps")
    assert_each_trial_once(store, study_of(store), 30)
    # the sweep's report adds the optimization history and the parameters' importances
    (report,) = store.folder.glob("multirun/*/*/report")
    page = (report / "report.html").read_text()
    assert "Optimization history" in page and "Parameter importances" in page
    assert (report / "history.png").stat().st_size and (report / "importance.png").stat().st_size


@pytest.mark.parametrize("sampler", ["grid", "bruteforce"])
def test_a_sampler_that_lists_its_space_runs_each_point_once(store, sampler):
    """Grid and brute force, asked 3 at a time for more trials than the space has points:
    each of its 4 points is one trial and one run, none repeated."""
    store.run(*OPTUNA, f"hydra.sweeper.sampler.name={sampler}", "hydra.sweeper.n_trials=10",
              "hydra.sweeper.n_jobs=3", "optimizer.lr=choice(0.01,0.1)", "seed=range(0,1)",
              "steps=10", "artifacts.plots=false")
    points = sorted((float(r.data.params["optimizer.lr"]), int(r.data.params["seed"]))
                    for r in trial_runs(store))
    assert points == [(0.01, 0), (0.01, 1), (0.1, 0), (0.1, 1)]
    assert len(study_of(store).get_trials()) == 4


@pytest.mark.parametrize("args, message", [
    (("hydra.sweeper.sampler.name=nope", SPACE[0]), "no such sampler"),
    (("hydra/sweeper/sampler=nope", SPACE[0]), "the samplers are tpe, random"),
    ((), "the search space is empty"),
    (("optimizer.lr=interval(0.1",), "no viable alternative"),
    (("hydra.sweeper.direction=minimise", SPACE[0]), "each direction is minimize or maximize"),
    (("hydra.sweeper.storage=postgresql://nobody@127.0.0.1:9/none", SPACE[0]),
     "cannot be opened"),
    (("hydra.sweeper.storage=/no/such/folder/study.log", SPACE[0]), "not a writable folder"),
    (("optimizer.b1=interval(0.5,0.9)",), "optimizer.b1: the config has no such key"),
    (("hydra.sweeper.sampler.name=bruteforce", SPACE[0]),
     "the bruteforce sampler needs choice(...) or range(...)"),
])
def test_bad_input_is_one_line_and_leaves_no_study_or_run(store, args, message):
    proc = store.run(*OPTUNA, "steps=20", *args, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error: "), lines
    assert not (store.folder / "optuna-journal.log").exists()
    assert not store.client.search_experiments(filter_string="name != 'Default'")
    assert not store.runs()


@pytest.mark.parametrize("result, direction, expected", [
    ({"status": "max_steps", "final_loss": 0.5}, "minimize", 0.5),
    ({"status": "diverged", "final_loss": 0.5}, "minimize", math.inf),
    ({"status": "max_steps", "final_loss": math.nan}, "minimize", math.inf),
    ({"status": "max_steps"}, "minimize", math.inf),
    ({"status": "diverged", "final_loss": 0.5}, "maximize", -math.inf),
])
def test_a_run_without_a_usable_value_scores_the_worst(result, direction, expected):
    assert values(result, ["final_loss"], [direction]) == [expected]


def test_a_study_report_is_built_by_the_process_made_ready_for_it(store, monkeypatch):
    """A study's report is built by a process forked while its trials ran (it loads pyplot
    meanwhile), on connections of its own: the same tables as a report built in the sweep's
    process; the best run's plots are drawn by a process forked from it. Built here, a report
    fails (below) where the prepared process builds it fine, which shows who built it; if
    that process has ended (killed), the sweep builds it."""
    from runner.sweep import summary

    store.run(*OPTUNA, *VECTORIZED, "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=3",
              "hydra.sweeper.sampler.seed=0", *ADAM, *SPACE)
    (parent,) = [r for r in store.runs() if r.data.tags.get("role") == "sweep"]
    info = {"uri": store.uri, "experiment_id": parent.info.experiment_id,
            "parent_run_id": parent.info.run_id, "sweep_id": "again"}

    def built(how: str) -> dict[str, bytes]:
        out = store.folder / how
        out.mkdir()
        summary.record_on_parent(store.client, info, out, best_plots=how == "prepared")
        assert not summary._READY  # taken, whatever happened to it
        return {p.name: p.read_bytes() if p.suffix in (".csv", ".md") else b""  # tables
                for p in sorted((out / "report").iterdir()) if p.name != "report.html"}

    here = built("here")
    summary.prepare_report()
    with monkeypatch.context() as patch:  # the process was forked before: it builds fine
        patch.setattr(summary, "_build", lambda *args: "RuntimeError: built here")
        assert built("prepared") == here
    best = store.client.get_run(parent.info.run_id).data.tags[BEST_RUN_TAG]
    assert "loss.png" in {a.path for a in store.client.list_artifacts(best)}  # drawn there
    summary.prepare_report()
    os.kill(summary._READY[0].pid, signal.SIGKILL)
    assert built("killed") == here
    assert {"runs.csv", "best.md", "history.png", "importance.png"} <= set(here)
