"""The command line: `python -m runner [overrides]`, `python -m runner -m ...` for sweeps."""

from __future__ import annotations

import contextlib
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from runner import help as help_text
from runner.config import CONF_DIR, malformed, register_schema, unknown_choice
from runner.constants import DIVERGED, EXIT_FAILED, EXIT_SIGNAL, EXIT_USAGE
from runner.errors import Interrupted, RunFailed, TrackingError, wraps_an_interrupt
from runner.spec import RunSpec

if TYPE_CHECKING:
    from runner.results import Outcome

# torch, MLflow and what uses them are imported when a job runs, not before: `--help`,
# `--cfg` and tab completion need only Hydra

register_schema()


def sweep_value(result: dict, metric: str) -> dict | float:
    """What the sweeper gets: the result (Hydra's basic sweeper and its kin, and this
    project's Optuna sweeper, which reads its metrics from it), or for another optimizing
    sweeper the `sweep_metric` to minimise: inf if the run diverged or failed."""
    from runner.sweep.callbacks import is_basic_sweeper, is_study

    target = HydraConfig.get().get("sweeper", {}).get("_target_")
    if is_basic_sweeper(target) or is_study(target):
        return result
    try:
        value = float(result.get(metric))
    except (TypeError, ValueError):
        return math.inf
    return value if math.isfinite(value) and result.get("status") != DIVERGED else math.inf


def cli() -> None:
    """`python -m runner`, `gradlab`: Hydra's exit status 1 for overrides it cannot compose
    (no job started, so HydraConfig was never set) becomes EXIT_USAGE, like all bad input."""
    if not sys.stderr.isatty():  # colour codes only on a terminal (colorlog: Optuna's log)
        os.environ.setdefault("NO_COLOR", "1")
    argv = sys.argv[1:]
    if help_text.wants_help(argv):
        try:
            text = help_text.render([a for a in argv if not a.startswith("-")])
        except Exception as exc:  # noqa: BLE001 - overrides Hydra cannot compose
            message = str(exc).split("\nConfig search path")[0].rstrip()
            print(f"error: {message}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE) from None
        with contextlib.suppress(BrokenPipeError):  # `--help | head`
            print(text, flush=True)
        return
    if (problem := malformed(argv) or unknown_choice(argv)) is not None:  # Hydra's own lists every option
        print(f"error: {problem}", file=sys.stderr)  # and its search path, 25+ lines
        raise SystemExit(EXIT_USAGE)
    try:
        main()
    except SystemExit as exc:
        if exc.code == 1 and not HydraConfig.initialized():
            raise SystemExit(EXIT_USAGE) from None
        raise


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> dict | float:
    from runner.sweep import ledger
    from runner.sweep.callbacks import sweep_info

    hc = HydraConfig.get()
    spec = RunSpec.from_config(OmegaConf.to_container(cfg, resolve=True), hc.runtime.choices,
                               hc.overrides.task)
    try:
        outcome = run(spec, hc)
    except Exception as exc:
        if wraps_an_interrupt(exc):  # a Ctrl-C, not an error: it ends the command as one
            raise KeyboardInterrupt from None
        raise
    if hc.mode == RunMode.MULTIRUN:
        ledger.append(sweep_info(), hc.overrides.task, outcome)
    return sweep_value(outcome.result, spec.config["sweep_metric"])


def run(spec: RunSpec, hc) -> Outcome:
    """One job of the CLI: a single run, or one configuration of a sweep. A single run's
    MLflow requests are made by a helper process, forked first: it loads MLflow and opens
    the store while this process loads torch and matplotlib (runner.tracking.helper)."""
    from runner.tracking.helper import HERE, Forked

    multirun = hc.mode == RunMode.MULTIRUN
    alone = not multirun and hasattr(os, "fork")
    helper = Forked("warm_up", spec.tracking, hc.runtime.cwd) if alone else HERE
    try:
        return _run(spec, hc, helper)
    finally:
        helper.close()


def _run(spec: RunSpec, hc, helper) -> Outcome:
    from runner.build import USER_ERRORS, build
    from runner.console import summary_line
    from runner.headless import pyplot
    from runner.job import execute
    from runner.results import Outcome
    from runner.sweep.callbacks import sweep_info
    from runner.tracking.ui import run_url, ui_base

    multirun = hc.mode == RunMode.MULTIRUN
    ctx = None
    try:
        if not multirun:  # bad input never creates a store (a sweep's is there already)
            setup = build(spec)
            if spec.artifacts["plots"] or spec.artifacts["gif"]:
                pyplot()  # the run draws here: loaded while the helper opens the store
        ctx = helper.call("context", spec, sweep_info() if multirun else None, hc.runtime.cwd,
                          Path(hc.runtime.output_dir))
        if multirun:  # built after: a configuration that cannot be built is a FAILED run
            setup = build(spec)
        if spec.resume and (prior := helper.call("already_finished", spec, ctx)) is not None:
            return prior
        outcome = execute(spec, ctx, setup, helper)
    except (*USER_ERRORS, TrackingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if not multirun:
            sys.exit(EXIT_USAGE)
        run_id = helper.call("log_failure", spec, ctx, str(exc)) if ctx is not None else None
        return Outcome.failure(str(exc), run_id)
    except Interrupted as exc:
        print(f"interrupted ({exc}): the run ended KILLED with the steps it took, or "
              "FINISHED if it was already complete", file=sys.stderr)
        sys.exit(EXIT_SIGNAL + exc.signum)
    except Exception as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1" or wraps_an_interrupt(exc):
            raise
        from runner.tracking.client import StoreError, store_error

        run_id = exc.run_id if isinstance(exc, RunFailed) else None
        where = f"run {run_id} ended FAILED" if run_id else "no run was recorded"
        message = str(exc) if run_id else store_error(exc)
        print(f"error: {spec.name}: {message} ({where}; set HYDRA_FULL_ERROR=1 for the "
              "traceback)", file=sys.stderr)
        if not multirun:
            sys.exit(EXIT_FAILED)
        # the store failing mid-run (a lock held past the retry budget) is no result of the
        # configuration's: the sweep counts it as not recorded
        unrecorded = isinstance(exc, RunFailed) and isinstance(exc.cause, StoreError)
        return Outcome.failure(message, run_id, unrecorded=unrecorded)
    result = outcome.result
    print(summary_line(spec.name, result["steps"], float(result["final_loss"]), outcome.status,
                       outcome.run_id))
    if not multirun and (base := ui_base(ctx.uri)):
        print(f"mlflow: {run_url(base, ctx.experiment_id, outcome.run_id)}")
    return outcome
