"""One job: a configuration run alone, its run started before its first step and ended
however it stops. Its MLflow requests go through a helper (runner.tracking.helper): made in
this process in a sweep, in a forked helper process for a single run."""

from __future__ import annotations

import time

from runner import collector
from runner.artifacts import run_files
from runner.build import Setup, build
from runner.console import Progress
from runner.constants import FAILED, KILLED
from runner.errors import (
    Interrupted,
    RunFailed,
    deferred_interrupts,
    describe,
    interrupts_as_exceptions,
)
from runner.loop import Trace, optimize
from runner.results import MAX_CSV_COORDINATES, Outcome, Record
from runner.spec import RunSpec
from runner.sweep.study import row_pruner
from runner.tracking.context import Context
from runner.tracking.files import drawn
from runner.tracking.helper import HERE, Forked, Here


def execute(spec: RunSpec, ctx: Context, setup: Setup | None = None,
            helper: Here | Forked = HERE) -> Outcome:
    """Run one configuration and log it; bad input raises before any MLflow run exists.

    Once open, the run always ends: FINISHED with its record; KILLED on SIGTERM or SIGINT,
    at any moment, with every step taken; FAILED on any error, with what was recorded and
    the `error` tag naming the cause (raised as RunFailed). A signal that arrives while the
    run is created, or while the final metrics and files are written, waits until they are
    (the run then ends FINISHED before Interrupted is raised).
    """
    setup = setup or build(spec)
    collector.resume()  # the libraries are loaded: the work begins
    objective = setup.objective
    trace = Trace(1, spec.steps, objective.minimizer,
                  keep_points=objective.dim <= MAX_CSV_COORDINATES, budget=spec.history_bytes)
    start_ms = int(time.time() * 1000)
    data = objective.data()
    data = None if data is None else tuple(data)  # plain: the helper does not load objectives
    with interrupts_as_exceptions():
        with deferred_interrupts(raise_on_exit=False) as pending:
            run_id = helper.call("start_run", spec, ctx)
        try:
            pending.raise_now()
            helper.call("log_start", run_id, spec.params, ctx, data)
            with Progress(spec.steps, spec.name) as bar:
                optimize(objective, setup.gradient, setup.optimizer, setup.x0[None],
                         steps=spec.steps, tol=spec.tol, max_loss=spec.max_loss,
                         stall=spec.stall(setup.optimizer.stall_steps), trace=trace,
                         check=setup.check, sampling=setup.draws([spec.seed]),
                         evaluate_every=spec.eval_every, progress=bar.update,
                         prune=row_pruner([spec.trial]) if ctx.in_sweep else None)
        except BaseException as exc:  # keep what was recorded, then let the run end
            killed = isinstance(exc, (Interrupted, KeyboardInterrupt))
            with deferred_interrupts():
                _stop(helper, run_id, spec, objective, trace, start_ms, ctx,
                      None if killed else exc)
            if killed or not isinstance(exc, Exception):
                raise
            raise RunFailed(run_id, exc) from exc
        with deferred_interrupts():  # a signal now waits, and then leaves the run FINISHED
            try:
                record = Record.from_trace(trace, 0, objective)
                with drawn(run_files(spec, record, objective, ctx.in_sweep)) as files:
                    helper.call("finish", run_id, record, files, start_ms, ctx)
            except BaseException:
                _best_effort(helper, "end", run_id, ctx, "FAILED")
                raise
    return Outcome.of(run_id, record)


def _stop(helper: Here | Forked, run_id: str, spec: RunSpec, objective, trace: Trace, start_ms: int,
          ctx: Context, error: BaseException | None) -> None:
    """Record a run that stopped early (runs.stop): every step it took, KILLED (`error`
    None) or FAILED with the cause. Best effort: the run ends either way."""
    cause = None if error is None else describe(error)
    try:
        if trace.length:
            record = Record.from_trace(trace, 0, objective, KILLED if error is None else FAILED)
            with drawn(run_files(spec, record, objective, ctx.in_sweep)) as files:
                _best_effort(helper, "stop", run_id, record, files, start_ms, ctx, cause)
            return
    except Exception:  # noqa: BLE001 - what could not be read out is lost, the run still ends
        pass
    _best_effort(helper, "stop", run_id, None, None, start_ms, ctx, cause)


def _best_effort(helper: Here | Forked, name: str, *args) -> None:
    try:
        helper.call(name, *args)
    except Exception:  # noqa: BLE001 - the store, or the helper, may be what failed
        pass
