"""Hydra callbacks: a sweep gets one MLflow parent run, created before any job starts."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shlex
import shutil
import signal
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from runner import collector
from runner.config import groups, options
from runner.constants import (
    COMMAND_TAG,
    EXIT_INCOMPLETE,
    EXIT_SIGNAL,
    EXIT_USAGE,
    OVERRIDES_TAG,
    ROLE_TAG,
    SWEEP_ENV,
    SWEEP_ID_TAG,
    SWEEP_ROLE,
    UNHASHED,
)
from runner.errors import first_line, interrupted_between_runs
from runner.sweep import engine, hydra_private, ledger
from runner.tracking import ui

# The launching process hands the sweep's tracking ids to its jobs through SWEEP_ENV: jobs
# (in-process, joblib workers, ...) never race to create the database or experiment.


def is_basic_sweeper(target: str | None) -> bool:
    """Hydra's basic sweeper or a subclass (`fast`, `batched`): a grid, not an optimizer."""
    from hydra.utils import get_class

    return target is None or hydra_private.BASIC_SWEEPER in {
        f"{k.__module__}.{k.__qualname__}" for k in get_class(target).__mro__}


def is_study(target: str | None) -> bool:
    """This project's Optuna sweeper (hydra/sweeper=optuna)."""
    return str(target).endswith("gradlab_optuna.optuna_sweeper.OptunaSweeper")


def sweep_info() -> dict[str, str] | None:
    text = os.environ.get(SWEEP_ENV)
    return json.loads(text) if text else None


# a plain sweep's opening, waiting until its jobs are on their way to the engine
_DEFERRED: list[Callable[[], None]] = []


def opened() -> dict[str, str] | None:
    """The sweep's tracking ids, its store opened now if that waited (SweepTracking)."""
    while _DEFERRED:
        _DEFERRED.pop()()
    return sweep_info()


def open_sweep(cfg: DictConfig, launch_dir: str | Path, overrides: list[str],
               sweep_dir: str | Path | None = None,
               hydra_overrides: Sequence[str] = ()) -> dict[str, str]:
    """Create the store, experiment and parent run once; publish their ids (and the ledger
    the jobs note their ends in) to the jobs."""
    from runner.tracking import client as mlflow_client
    from runner.tracking.runs import user_and_commit

    uri = mlflow_client.resolve_uri(cfg.tracking.uri, launch_dir)
    mlflow_client.check_reachable(uri)
    client = mlflow_client.client_for(uri)
    experiment = mlflow_client.experiment_id(client, cfg.tracking.experiment)
    command = " ".join(overrides)
    hydra_cfg = cfg.get("hydra") or {}
    sweeper = hydra_cfg.get("sweeper") or {}
    if cfg.resume or is_study(sweeper.get("_target_")):  # a study always resumes
        close_stale_parents(client, experiment, command)
    sweep_id = uuid.uuid4().hex[:8]
    info = {"uri": uri, "experiment_id": experiment, "sweep_id": sweep_id}
    # before the parent run exists: a Ctrl-C while it is made still ends it KILLED at exit
    atexit.register(_end_if_running, info)
    axes = [*swept(overrides), *(f"{k}={v}" for k, v in (sweeper.get("params") or {}).items())]
    tags = {SWEEP_ID_TAG: sweep_id, ROLE_TAG: SWEEP_ROLE, OVERRIDES_TAG: command,
            COMMAND_TAG: shlex.join(["python", "-m", "runner", "-m", *[
                o for o in hydra_overrides if not o.startswith("hydra.mode=")], *overrides]),
            **{role: str((hydra_cfg.get(role) or {}).get("_target_", "")).rpartition(".")[2]
               for role in ("launcher", "sweeper")}, **user_and_commit()}
    params = fixed_params(cfg, axes)
    parent = client.create_run(
        experiment, run_name=" ".join(["sweep", *axes]) if axes else f"sweep-{sweep_id}",
        tags=tags).info.run_id
    info.update(parent_run_id=parent, jobs=hydra_private.count_jobs(overrides) if
                is_basic_sweeper(sweeper.get("_target_")) else None, ledger=None,
                best_plots=cfg.artifacts.plots is True)  # drawn as it ends (close_sweep)
    if sweep_dir is not None:
        Path(sweep_dir).mkdir(parents=True, exist_ok=True)
        info["ledger"] = ledger.path_in(sweep_dir)
        Path(info["ledger"]).unlink(missing_ok=True)
    os.environ[SWEEP_ENV] = json.dumps(info)
    mlflow_client.log_batch(client, parent, params=params)
    client.set_experiment_tag(experiment, *ui.view_tag(parent, sweep_id, axes,
                                                       cfg.sweep_metric))
    return info


def close_sweep(info: dict[str, str], output_dir: Path | None = None,
                plots: bool | str = False) -> list[str]:
    """Summarise the children on the parent run and end it: FINISHED when every
    configuration has a complete run, else FAILED; with `plots` true (artifacts.plots), draw
    the best run's plots. What is incomplete, a line each."""
    from runner.sweep import summary  # the report's modules: only when a sweep ends
    from runner.tracking import client as mlflow_client

    client = mlflow_client.client_for(info["uri"])
    children = summary.children(client, info["experiment_id"], info["parent_run_id"])
    running = [r for r in children if r.info.status == "RUNNING"]  # left by killed workers
    mlflow_client.end_as_killed(client, running)
    problems = ledger.incomplete(ledger.read(info), [r.info.run_id for r in running],
                                 info.get("jobs"), len(children))
    # one search of the children serves the summary too, unless some were just ended
    table = summary.record_on_parent(client, info, output_dir,
                                     found=None if running else children,
                                     best_plots=plots is True)
    client.set_terminated(info["parent_run_id"], "FAILED" if problems else "FINISHED")
    os.environ.pop(SWEEP_ENV, None)
    closing = summary.closing(info, table, output_dir, problems)
    if output_dir is not None and output_dir.is_dir():
        (output_dir / summary.SWEEP_JSON).write_text(json.dumps(closing, indent=2) + "\n")
    print(summary.closing_lines(closing))
    return problems


def swept(overrides: Sequence[str]) -> list[str]:
    """The overrides that sweep (`optimizer.lr=0.01,0.1`, `seed=range(0,100)`), as written."""
    try:
        parsed = hydra_private.parse(list(overrides))
    except Exception:  # noqa: BLE001 - unparsable here: Hydra itself says why
        return []
    return [o.input_line for o in parsed if o.is_sweep_override()]


def fixed_params(cfg: DictConfig, axes: Sequence[str]) -> dict[str, str]:
    """The sweep's configuration where every run shares it, as params: each leaf of the
    config but those under a swept key (a swept group, `optimizer=sgd,adam`, takes its whole
    node) and those that do not change results."""
    from omegaconf import OmegaConf

    from runner.spec import RunSpec

    keys = [axis.lstrip("+~").partition("=")[0] for axis in axes]
    config = {k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
              for k, v in cfg.items() if k != "hydra"}
    params = RunSpec.from_config(config).params
    return {k: v for k, v in params.items() if k.partition(".")[0] not in UNHASHED and not any(
        k == key or k.startswith(f"{key}.") for key in keys)}


def close_stale_parents(client, experiment: str, overrides: str) -> None:
    """A resumed sweep ends the parent runs that a killed run of it left RUNNING, and
    their children left RUNNING too."""
    from runner.spec import deciding
    from runner.sweep import summary
    from runner.tracking import client as mlflow_client

    key = deciding(overrides)
    stale = mlflow_client.search_all(
        client, experiment, f"tags.{ROLE_TAG} = '{SWEEP_ROLE}' and attributes.status = 'RUNNING'")
    for run in stale:
        if deciding(run.data.tags.get(OVERRIDES_TAG, "")) == key:
            children = summary.children(client, experiment, run.info.run_id)
            mlflow_client.end_as_killed(client, [r for r in children
                                                 if r.info.status == "RUNNING"])
            client.set_terminated(run.info.run_id, "KILLED")


def check_sweeper(config: DictConfig) -> None:
    """An Optuna study's settings (sampler, directions, search space, storage), judged
    before any study or run exists."""
    if is_study(config.hydra.sweeper.get("_target_")):
        from runner.sweep.study import validate

        validate(config)


# launchers that hand jobs to a program which must be on PATH
LAUNCHER_PROGRAMS = {"SlurmLauncher": (
    "sbatch", "SLURM", "hydra/launcher=submitit_local runs the same jobs on this machine")}


def check_launch(config: DictConfig) -> None:
    """What would stop the sweep once started, said before any run exists: a sweep axis
    naming an option its config group does not have; a launcher whose program is missing."""
    composed = groups()
    for override in hydra_private.parse(list(config.hydra.overrides.task)):
        if override.key_or_group in composed and override.is_sweep_override():
            known = options(override.key_or_group)
            missing = [v for v in override.sweep_string_iterator() if v not in known]
            if missing:
                raise ValueError(f"{override.key_or_group}={missing[0]}: no such option "
                                 f"({override.key_or_group}: {', '.join(known)})")
    target = str(config.hydra.launcher.get("_target_", ""))
    for name, (program, system, instead) in LAUNCHER_PROGRAMS.items():
        if target.endswith(name) and shutil.which(program) is None:
            raise ValueError(f"{target.rsplit('.', 1)[-1]} needs {system} ({program} is not on "
                             f"PATH); {instead}")


def _end_if_running(info: dict[str, str]) -> None:
    """At exit, a parent run still RUNNING was interrupted: end it as KILLED, with the child
    runs its killed workers left RUNNING."""
    from runner.sweep import summary
    from runner.tracking import client as mlflow_client

    with contextlib.suppress(Exception):
        client = mlflow_client.client_for(info["uri"])
        if "parent_run_id" in info:
            parent = client.get_run(info["parent_run_id"])
        else:  # interrupted while it was made: found by its sweep id, if it was
            found = client.search_runs([info["experiment_id"]],
                                       f"tags.`{SWEEP_ID_TAG}` = '{info['sweep_id']}'")
            if not found:
                return
            (parent,) = found
        if parent.info.status != "RUNNING":
            return
        children = summary.children(client, info["experiment_id"], parent.info.run_id)
        mlflow_client.end_as_killed(client, [r for r in children if r.info.status == "RUNNING"])
        client.set_terminated(parent.info.run_id, "KILLED")


def _exit(signum: int, frame: object) -> None:
    print(interrupted_between_runs(signum), file=sys.stderr)
    raise SystemExit(EXIT_SIGNAL + signum)


@contextlib.contextmanager
def _or_exit(what: str, code: int = EXIT_USAGE) -> Iterator[None]:
    """Hydra turns a callback's exception into a warning and goes on: stop with the reason
    (exit `code`: 2 before anything ran, 3 for a sweep whose record is incomplete)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - any failure here means the sweep cannot go on
        print(f"error: {what}: {first_line(exc)}", file=sys.stderr)
        raise SystemExit(code) from None


class SweepTracking(Callback):
    """Opens the sweep's parent run at multirun start and summarises it at the end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # SIGTERM unwinds like Ctrl-C (a launcher stops its workers, the exit handler ends
        # the runs) instead of ending the process on the spot with runs left RUNNING
        with contextlib.suppress(ValueError):  # not the main thread
            signal.signal(signal.SIGTERM, _exit)
        with _or_exit("the sweep cannot start"):
            check_sweeper(config)
            check_launch(config)
        cwd = os.getcwd()

        def opening() -> None:
            with _or_exit("the sweep cannot start"):
                open_sweep(config, cwd, list(config.hydra.overrides.task),
                           str(config.hydra.sweep.dir), list(config.hydra.overrides.hydra))

        # a plain sweep for the engine: its jobs go there first, then MLflow loads (opened)
        if engine.serving() and not config.resume and not is_study(
                config.hydra.sweeper.get("_target_")):
            _DEFERRED.append(opening)
        else:
            opening()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        collector.resume()  # if no job did (a launcher whose jobs run elsewhere)
        info = opened()
        if info is None:
            return
        with _or_exit("the sweep's summary was not recorded (its runs are)", EXIT_INCOMPLETE):
            problems = close_sweep(info, Path(str(config.hydra.sweep.dir)),
                                   config.artifacts.plots)
        if problems:
            print(f"error: {len(problems)} configuration(s) of the sweep have no complete run "
                  f"(sweep run {info['parent_run_id']} ended FAILED):", file=sys.stderr)
            for line in problems[:20]:
                print(f"  {line}", file=sys.stderr)
            if len(problems) > 20:
                print(f"  ... and {len(problems) - 20} more", file=sys.stderr)
            print("Run the same command with resume=true to complete them.", file=sys.stderr)
            raise SystemExit(EXIT_INCOMPLETE)
