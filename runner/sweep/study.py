"""`hydra/sweeper=optuna`: an Optuna study whose trials are this runner's runs.

The search space is written as in Hydra's Optuna sweeper (`hydra.sweeper.params`, or sweep
overrides on the command line): `interval(a, b)` (int or float), `tag(log, interval(a, b))`,
`choice(a, b, ...)`, `range(a, b[, step])` (b included, as there). The study persists by
default (a JournalStorage file beside the tracking store) under a name made from what
decides its trials, so running the same command again resumes it: `n_trials` counts the
study's trials, finished ones are not run again, and trials a killed process left RUNNING
are failed and asked again with the same parameters. Each generation of `n_jobs` trials is
asked at once and handed to the launcher: joblib, Ray or submitit run them in parallel, the
vectorized launcher as one batched computation. With a pruner, every run reports its loss
every `pruner.every` steps and stops as `pruned` when the pruner says so.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.constants import (
    DIVERGED,
    FAILED,
    FINISHED,
    PRUNED,
    STATUS_TAG,
    STUDY_TAG,
    SWEEP_ENV,
    SWEEP_ID_TAG,
    TRIAL_TAG,
)
from runner.errors import ConfigError
from runner.sweep.optuna_private import trial_of

SAMPLERS = {"tpe": "TPESampler", "random": "RandomSampler", "cmaes": "CmaEsSampler",
            "qmc": "QMCSampler", "grid": "GridSampler", "gp": "GPSampler",
            "nsgaii": "NSGAIISampler", "nsgaiii": "NSGAIIISampler",
            "bruteforce": "BruteForceSampler"}
PRUNERS = {"median": "MedianPruner", "percentile": "PercentilePruner",
           "sha": "SuccessiveHalvingPruner", "hyperband": "HyperbandPruner",
           "threshold": "ThresholdPruner", "wilcoxon": "WilcoxonPruner"}
DIRECTIONS = ("minimize", "maximize")
JOURNAL = "optuna-journal.log"  # the default storage, beside the tracking store
MEMORY = "memory"  # hydra.sweeper.storage=memory: a study that ends with the process
STALE = "gradlab.stale"  # system attr of a trial failed because its process was killed


@dataclass
class SearchSpace:
    """Optuna distributions by override key, and the fixed overrides every trial gets."""

    distributions: dict[str, Any] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)


def search_space(params: Mapping[str, Any] | None, arguments: Sequence[str]) -> SearchSpace:
    """`hydra.sweeper.params` and the command's overrides as Optuna distributions."""
    from hydra.core.override_parser.types import Transformer
    from optuna import distributions as d

    from runner.sweep.hydra_private import parse

    lines = [f"{k}={v}" for k, v in (params or {}).items()] + list(arguments)
    try:
        parsed = parse(lines)
    except Exception as exc:  # noqa: BLE001 - Hydra's parser says where
        raise ConfigError(f"malformed search space: {str(exc).splitlines()[0]}") from None
    space = SearchSpace()
    for o in parsed:
        key = o.get_key_element()
        if not o.is_sweep_override():
            space.fixed.append(f"{key}={o.get_value_element_as_str()}")
            continue
        value = o.value()
        if o.is_choice_sweep() or (o.is_range_sweep() and value.shuffle):
            choices = list(o.sweep_iterator(transformer=Transformer.encode))
            space.distributions[key] = d.CategoricalDistribution(choices)
        elif o.is_range_sweep():
            if any(isinstance(v, float) for v in (value.start, value.stop, value.step)):
                dist = d.FloatDistribution(value.start, value.stop, step=value.step)
            else:
                dist = d.IntDistribution(int(value.start), int(value.stop), step=int(value.step))
            space.distributions[key] = dist
        elif o.is_interval_sweep():
            log = "log" in value.tags
            if isinstance(value.start, int) and isinstance(value.end, int):
                space.distributions[key] = d.IntDistribution(value.start, value.end, log=log)
            else:
                space.distributions[key] = d.FloatDistribution(value.start, value.end, log=log)
        else:
            raise ConfigError(f"{o.input_line}: not a search space (interval, choice, range)")
    if not space.distributions:
        raise ConfigError("the search space is empty: set hydra.sweeper.params (e.g. "
                          "'hydra.sweeper.params={optimizer.lr: tag(log, interval(1e-4, 1))}') "
                          "or sweep an override with interval(...) or choice(...)")
    space.fixed = [f for f in space.fixed if f.partition("=")[0] not in space.distributions]
    return space


def check_keys(config, space: SearchSpace) -> None:
    """Every searched key names a value of the config (or, for a group, its options), so
    that no trial fails to compose: `optimizer.b1` with optimizer=sgd is said now."""
    from omegaconf import OmegaConf

    from runner.config import groups, options

    for key, dist in space.distributions.items():
        if key.startswith("+"):
            continue
        if key in groups():
            missing = [c for c in getattr(dist, "choices", ()) if c not in options(key)]
            if missing or not hasattr(dist, "choices"):
                raise ConfigError(f"{key}: search it with choice(...) of its options "
                                  f"({', '.join(options(key))})")
        elif OmegaConf.select(config, key.lstrip("~"), default=KeyError) is KeyError:
            head = key.partition(".")[0]
            raise ConfigError(f"{key}: the config has no such key (add it with +{key}=..."
                              + (f"; {head} is {config.hydra.runtime.choices.get(head)})"
                                 if head in groups() else ")"))


def directions(direction: str | Sequence[str]) -> list[str]:
    found = [direction] if isinstance(direction, str) else list(direction)
    bad = [x for x in found if x not in DIRECTIONS]
    if not found or bad:
        raise ConfigError(f"hydra.sweeper.direction={bad[0] if bad else '[]'}: each direction "
                          "is minimize or maximize")
    return found


def make_sampler(settings: Mapping[str, Any], space: SearchSpace):
    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    kwargs = dict(settings)
    name = str(kwargs.pop("name"))
    if name not in SAMPLERS:
        raise ConfigError(f"hydra.sweeper.sampler.name={name}: no such sampler "
                          f"({', '.join(SAMPLERS)})")
    cls = getattr(optuna.samplers, SAMPLERS[name])
    if name == "grid":
        kwargs["search_space"] = {k: _grid(k, v) for k, v in space.distributions.items()}
    if name == "bruteforce":
        points(name, space)  # a space it can list
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, ImportError) as exc:
        raise ConfigError(f"sampler {name}: {exc}") from None


def _grid(key: str, dist, sampler: str = "grid") -> list:
    """The values a distribution holds, for a sampler that lists them: choices, a range's
    values (and, for brute force, an int interval's)."""
    from optuna import distributions as d

    if isinstance(dist, d.CategoricalDistribution):
        return list(dist.choices)
    listed = isinstance(dist, d.IntDistribution) and sampler == "bruteforce"
    if not listed and (dist.step is None or getattr(dist, "log", False)):
        raise ConfigError(f"{key}: the {sampler} sampler needs choice(...) or range(...), "
                          "not an interval")
    n = int(round((dist.high - dist.low) / dist.step))
    return [dist.low + i * dist.step for i in range(n + 1)]


def points(sampler: str, space: SearchSpace) -> float:
    """How many trials a sampler has to give: the size of the space for those that list it
    (grid, brute force: asked again, they would repeat a point), else unbounded."""
    if sampler not in ("grid", "bruteforce"):
        return math.inf
    return math.prod(len(_grid(k, v, sampler)) for k, v in space.distributions.items())


def make_pruner(settings: Mapping[str, Any] | None):
    """The pruner `hydra.sweeper.pruner` names (None: no pruning)."""
    import optuna

    kwargs = dict(settings or {})
    name = kwargs.pop("name", None)
    kwargs.pop("every", None)
    if name is None:
        return None
    if name not in PRUNERS:
        raise ConfigError(f"hydra.sweeper.pruner.name={name}: no such pruner "
                          f"({', '.join(PRUNERS)}, or null for none)")
    try:
        return getattr(optuna.pruners, PRUNERS[name])(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"pruner {name}: {exc}") from None


def storage_url(configured: str | None, tracking_uri: str, launch_dir: str | Path) -> str:
    """Where the study lives: the configured URL or journal file, else a JournalStorage file
    beside the tracking store (its SQLite file's folder; the launch folder for a server)."""
    if configured:
        url = str(configured)
        return url if "://" in url or url == MEMORY else str(Path(launch_dir, url).resolve())
    if tracking_uri.startswith("sqlite:///"):
        folder = Path(tracking_uri.removeprefix("sqlite:///")).parent
    elif tracking_uri.startswith("file:") or "://" not in tracking_uri:
        folder = Path(tracking_uri.removeprefix("file://").removeprefix("file:")).parent
    else:
        folder = Path(launch_dir)
    return str(folder / JOURNAL)


def open_storage(url: str, tracking_uri: str, backend: type | None = None):
    """An Optuna storage for `url`: None (in memory), an RDB storage for a database URL,
    else a JournalStorage file (written by `backend`, Optuna's JournalFileBackend unless
    given). An unreachable one raises ConfigError."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if url == MEMORY:
        return None
    if "://" in url:
        if url == tracking_uri:
            raise ConfigError(f"hydra.sweeper.storage={url} is the tracking database: MLflow "
                              "and Optuna both keep an alembic_version table; give the study "
                              "its own database or leave storage null (a journal file)")
        try:
            return optuna.storages.RDBStorage(url)
        except Exception as exc:  # noqa: BLE001 - any driver's error: unreachable
            raise ConfigError(f"hydra.sweeper.storage={url} cannot be opened: "
                              f"{str(exc).splitlines()[0]}") from None
    path = Path(url)
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        raise ConfigError(f"hydra.sweeper.storage={url}: {path.parent} is not a writable "
                          "folder")
    return optuna.storages.JournalStorage((backend or JournalFileBackend)(str(path)))


def study_name(experiment: str, task: Sequence[str], sweeper: Mapping[str, Any]) -> str:
    """`<experiment>-<hash>`: the same for every command that asks the same trials (the
    search space, the fixed overrides that decide results, sampler, directions, metrics,
    pruner), whatever n_trials, n_jobs, launcher or storage."""
    from runner.spec import deciding

    key = {"task": sorted(deciding(" ".join(task))),
           **{k: sweeper.get(k) for k in ("params", "sampler", "direction", "metrics",
                                          "pruner")}}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return f"{experiment}-{digest[:10]}"


def settings(sweeper: Mapping[str, Any]) -> dict[str, Any]:
    """The sweeper's config as plain values."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(sweeper, resolve=True) if OmegaConf.is_config(sweeper) \
        else dict(sweeper)


def validate(config) -> dict[str, Any]:
    """Everything the study would trip on, before any study or run exists; the plan."""
    from runner.tracking.client import resolve_uri

    cfg = settings(config.hydra.sweeper)
    if int(cfg["n_trials"]) < 1 or int(cfg["n_jobs"]) < 1:
        raise ConfigError("hydra.sweeper.n_trials and n_jobs must be at least 1")
    space = search_space(cfg.get("params"), list(config.hydra.overrides.task))
    check_keys(config, space)
    dirs = directions(cfg["direction"])
    metrics = cfg.get("metrics") or [config.sweep_metric]
    if len(metrics) != len(dirs):
        raise ConfigError(f"{len(dirs)} direction(s) but {len(metrics)} metric(s) "
                          f"({', '.join(metrics)}): give hydra.sweeper.metrics one per direction")
    make_sampler(cfg["sampler"], space)
    make_pruner(cfg.get("pruner"))
    tracking_uri = resolve_uri(config.tracking.uri, os.getcwd())
    url = storage_url(cfg.get("storage"), tracking_uri, os.getcwd())
    open_storage(url, tracking_uri)
    name = cfg.get("study_name") or study_name(config.tracking.experiment,
                                                list(config.hydra.overrides.task), cfg)
    return {"study": name, "storage": url, "directions": dirs, "metrics": list(metrics),
            "prune_every": _every(cfg.get("pruner"), int(config.steps))}


def _every(pruner: Mapping[str, Any] | None, steps: int) -> int:
    """Steps between two reports to the pruner (pruner.every; null: a tenth of the run)."""
    if not pruner or pruner.get("name") is None:
        return 0
    every = pruner.get("every")
    return int(every) if every else max(1, steps // 10)


def values(result: Mapping[str, Any], metrics: Sequence[str],
           dirs: Sequence[str]) -> list[float]:
    """A run's objective values: the worst possible one where it diverged or has none."""
    out = []
    for metric, direction in zip(metrics, dirs):
        worst = math.inf if direction == "minimize" else -math.inf
        try:
            value = float(result.get(metric))
        except (TypeError, ValueError):
            value = worst
        out.append(value if math.isfinite(value) and result.get("status") != DIVERGED
                   else worst)
    return out


def sweep_plan() -> dict[str, Any] | None:
    """The study's plan as the sweep published it to its jobs (None outside a study)."""
    text = os.environ.get(SWEEP_ENV)
    return json.loads(text).get("optuna") if text else None


class RowPruner:
    """What the loop asks every `every` steps: which rows (trials) to stop. Each row reports
    its loss to its trial; a row whose trial is not found, or a store that fails, goes on."""

    def __init__(self, plan: Mapping[str, Any], trials: Sequence[int | None], pruner) -> None:
        import optuna

        self.every = int(plan["prune_every"])
        study = optuna.load_study(study_name=plan["study"],
                                  storage=open_storage(plan["storage"], ""), pruner=pruner)
        self.trials = [None if n is None else trial_of(study, n) for n in trials]

    def __call__(self, t: int, value, active) -> list[bool]:
        prune = []
        for trial, f, on in zip(self.trials, value.tolist(), active.tolist()):
            if trial is None or not on or not math.isfinite(f):
                prune.append(False)
                continue
            trial.report(f, t)
            prune.append(trial.should_prune())
        return prune


def row_pruner(trials: Sequence[int | None]) -> RowPruner | None:
    """The pruner for these rows' trials, when the sweep is a study with one."""
    plan = sweep_plan()
    if not plan or not plan.get("prune_every") or all(n is None for n in trials):
        return None
    return RowPruner(plan, trials, make_pruner(plan["pruner"]))


def outcome_state(result: Mapping[str, Any]):
    """The trial state a run's result tells: PRUNED, FAIL for a failed run, else COMPLETE."""
    from optuna.trial import TrialState

    status = result.get("status")
    return {PRUNED: TrialState.PRUNED, FAILED: TrialState.FAIL}.get(status, TrialState.COMPLETE)


def run_study(config, launcher, arguments: Sequence[str], job_idx: int = 0) -> None:
    """Ask, launch and tell generations of `n_jobs` trials until the study holds `n_trials`
    finished ones; record the sampler and the best trial on the sweep's parent run."""
    import optuna

    from runner.sweep.journal import Journal
    from runner.tracking.client import resolve_uri

    cfg, plan = settings(config.hydra.sweeper), validate(config)
    space = search_space(cfg.get("params"), arguments)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=plan["study"], sampler=make_sampler(cfg["sampler"], space),
        storage=open_storage(plan["storage"], resolve_uri(config.tracking.uri, os.getcwd()),
                             backend=Journal),
        pruner=make_pruner(cfg.get("pruner")), directions=plan["directions"],
        load_if_exists=True)
    n_trials = int(min(int(cfg["n_trials"]), points(cfg["sampler"]["name"], space)))
    sweep = _publish({**plan, "pruner": cfg.get("pruner")}, n_trials)
    known = study.get_trials()  # before the runs are read: a trial told since has its run
    parent = _Parent(sweep, study, cfg, Path(str(config.hydra.sweep.dir)))
    told, retried = retry_stale(study, parent.recorded, plan)
    lost = unrecorded(known, parent.trials_run) if sweep is not None else []
    print(f"study {plan['study']} in {plan['storage']}: {finished(study)} of {n_trials} trials "
          "finished" + (f"; of the trials a killed process left running, {told} were recorded "
                        f"by their runs, {retried} are asked again" if told + retried else "")
          + (f"; {len(lost)} told before a kill lost their runs: run again" if lost else ""))
    settle = getattr(launcher, "settle", lambda: None)  # a launch may record after it returns
    reporting = False
    try:
        if lost:  # the same parameters give the same values: the study keeps what it was told
            job_idx += len(launcher.launch([_overrides(space, t) for t in lost], job_idx))
        while (left := n_trials - finished(study)) > 0:
            trials = [study.ask(space.distributions)
                      for _ in range(min(left, int(cfg["n_jobs"])))]
            Journal.sync_all()  # the trials are on disk before any of their runs exists
            returns = launcher.launch([_overrides(space, t) for t in trials], job_idx)
            if not reporting:  # it forks: not while this process records runs meanwhile
                settle()
                parent.prepare_report()
                reporting = True
            job_idx += len(returns)
            for trial, ret in zip(trials, returns):
                try:
                    result = ret.return_value
                except Exception as exc:  # noqa: BLE001 - a job that raised: the trial failed
                    result = {"status": FAILED, "error": str(exc)}
                _tell(study, trial, result, plan)
            Journal.sync_all()
    finally:  # interrupted too: what was computed is recorded
        settle()
    parent.close()


def _overrides(space: SearchSpace, trial) -> list[str]:
    """A trial's job: the fixed overrides, its parameters and its number."""
    return [*space.fixed, *(f"{k}={_text(v)}" for k, v in trial.params.items()),
            f"tracking.trial={trial.number}"]


def unrecorded(trials: Sequence, trials_run: set[int]) -> list:
    """Trials the study was told of that have no run: a batched study tells a generation
    once computed and records it while the next one is computed, so a process killed then
    leaves them so (failed trials that were asked again never had one)."""
    from optuna.trial import TrialState

    retried = {t.user_attrs.get("retry_of") for t in trials}
    return [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.FAIL)
            and t.number not in trials_run and t.number not in retried]


def finished(study) -> int:
    """The study's finished trials: complete, pruned, or failed for a reason of their own
    (not a trial failed because its process was killed, which is asked again)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        t.state == TrialState.FAIL and t.number not in retried) for t in trials)


def retry_stale(study, recorded: Mapping[int, Any],
                plan: Mapping[str, Any]) -> tuple[int, int]:
    """Trials a killed process left RUNNING: told from their run where it finished before
    the kill (`recorded`: trial number -> finished MLflow run); else failed, and their
    parameters asked again. How many of each."""
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    told = 0
    for trial in stale:
        run = recorded.get(trial.number)
        if run is not None:
            _tell(study, trial.number, {**run.data.metrics, "run_id": run.info.run_id,
                                        "status": run.data.tags.get(STATUS_TAG)}, plan)
            told += 1
        else:
            study.tell(trial.number, state=TrialState.FAIL)
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
    return told, len(stale) - told


def _tell(study, trial, result: Any, plan: Mapping[str, Any]) -> None:
    """Tell the study a trial's (or trial number's) result: its state and values."""
    from optuna.trial import TrialState

    if not isinstance(result, Mapping):
        result = {"status": FAILED, "error": f"the job returned {result!r}"}
    state = outcome_state(result)
    if not isinstance(trial, int):  # a Trial, not a number: it takes attributes
        if result.get("run_id"):
            trial.set_user_attr("run_id", result["run_id"])
        if state == TrialState.FAIL:
            trial.set_user_attr("error", str(result.get("error"))[:500])
    told = values(result, plan["metrics"], plan["directions"]) \
        if state == TrialState.COMPLETE else None
    try:
        study.tell(trial, told, state=state)
    except RuntimeError as exc:  # grid or brute force, their space done, ask it to stop
        if "Study.stop" not in str(exc):
            raise


def _text(value: Any) -> str:
    """A parameter as an override's value: floats to every digit."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    return repr(value) if isinstance(value, float) else str(value)


def _publish(plan: Mapping[str, Any], n_trials: int) -> dict[str, Any] | None:
    """Hand the study's plan to the jobs (through the sweep's environment entry)."""
    text = os.environ.get(SWEEP_ENV)
    if not text:
        return None
    sweep = {**json.loads(text), "optuna": dict(plan), "jobs": n_trials}
    os.environ[SWEEP_ENV] = json.dumps(sweep)
    return sweep


class _Parent:
    """The sweep's parent run: the study's settings at the start, its best trial at the end;
    the runs of trials an earlier invocation finished become its children too."""

    def __init__(self, sweep: Mapping[str, Any] | None, study, cfg: Mapping[str, Any],
                 folder: Path) -> None:
        self.sweep, self.study, self.folder = sweep, study, folder
        self.recorded: dict[int, Any] = {}  # trial number -> its finished run
        self.trials_run: set[int] = set()  # the trials that have a run, however it ended
        if sweep is None:
            return
        from runner.tracking import client as mlflow_client
        from runner.tracking import resume

        self.client = mlflow_client.client_for(sweep["uri"])
        plan, sampler = sweep["optuna"], dict(cfg["sampler"])
        params = {"optuna.study": plan["study"], "optuna.storage": plan["storage"],
                  "optuna.sampler": sampler.pop("name"), "optuna.seed": sampler.pop("seed", None),
                  **{f"optuna.sampler.{k}": v for k, v in sampler.items()},
                  "optuna.n_trials": sweep["jobs"], "optuna.n_jobs": cfg["n_jobs"],
                  "optuna.direction": ",".join(plan["directions"]),
                  "optuna.metrics": ",".join(plan["metrics"]),
                  "optuna.pruner": json.dumps(cfg.get("pruner"))}
        mlflow_client.log_batch(self.client, sweep["parent_run_id"], params=params,
                                tags={STUDY_TAG: plan["study"]})
        earlier = [r for r in mlflow_client.search_all(
            self.client, sweep["experiment_id"], f"tags.`{STUDY_TAG}` = '{plan['study']}'")
            if TRIAL_TAG in r.data.tags]
        self.trials_run = {int(r.data.tags[TRIAL_TAG]) for r in earlier}
        self.recorded = {int(r.data.tags[TRIAL_TAG]): r for r in earlier
                         if r.info.status == "FINISHED" and r.data.tags.get(STATUS_TAG) in FINISHED}
        resume.adopt(self.client, list(self.recorded.values()), sweep["parent_run_id"],
                     {SWEEP_ID_TAG: sweep["sweep_id"]})
        from runner.report import search  # the report's importances: ready when it ends

        search.prepare_importances(plan["study"], plan["storage"])

    def prepare_report(self) -> None:
        """Once a generation has run (the launcher's processes loaded), make the report's
        process ready (runner.sweep.summary), where the sweep has a report."""
        if self.sweep is not None:
            from runner.sweep import summary

            summary.prepare_report()

    def close(self) -> None:
        """The best trial (the Pareto front for several directions): printed, on the parent
        run, and in optimization_results.yaml in the sweep folder (as Hydra's sweeper)."""
        import yaml

        best = self.study.best_trials
        if not best:  # no complete trial
            return
        results = {"name": "optuna", "study": self.study.study_name,
                   "best_trials": [{"number": t.number, "params": t.params, "values": t.values}
                                   for t in best]}
        if len(best) == 1:
            results.update(best_params=best[0].params, best_value=best[0].values[0])
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "optimization_results.yaml").write_text(yaml.safe_dump(results))
        if self.sweep is None:
            return
        from runner.tracking import client as mlflow_client

        tags = {"optuna.best_trials": ",".join(str(t.number) for t in best)}
        params = {}
        if len(self.study.directions) > 1:
            print(f"{len(best)} trial(s) on the Pareto front: " + ", ".join(
                f"{t.number} {t.values}" for t in best[:10]))
        else:
            params = {f"best.{k}": v for k, v in best[0].params.items()}
            tags["optuna.best_trial"] = best[0].number
            tags["optuna.best_value"] = repr(best[0].values[0])
            print(f"best trial {best[0].number}: {best[0].values[0]:.6g} with " + " ".join(
                f"{k}={_text(v)}" for k, v in best[0].params.items()))
        mlflow_client.log_batch(self.client, self.sweep["parent_run_id"], params=params,
                                tags=tags)
