"""One job: a configuration run alone, logged step by step, and where a job logs."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from runner.artifacts import run_files
from runner.build import Setup, build
from runner.console import Progress
from runner.constants import ERROR_TAG, FAILED, KILLED, STATUS_TAG, STUDY_TAG, SWEEP_ID_TAG
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
from runner.tracking import client as mlflow_client
from runner.tracking import datasets, resume
from runner.tracking.runs import Context, log_inputs, log_record, run_tags


def context(spec: RunSpec, sweep: Mapping | None, cwd: str | Path,
            output_dir: Path | None = None) -> Context:
    """Where a job logs: in a sweep, the tracking ids its launcher decided (`sweep`); for a
    single run, those of the spec's tracking settings (store and experiment made if need be)."""
    settings = spec.tracking
    if sweep is not None:
        uri, experiment, parent = sweep["uri"], sweep["experiment_id"], sweep["parent_run_id"]
        tags = {SWEEP_ID_TAG: sweep["sweep_id"]}
        if sweep.get("optuna"):
            tags[STUDY_TAG] = sweep["optuna"]["study"]
    else:
        uri = mlflow_client.resolve_uri(settings["uri"], cwd)
        experiment, parent, tags = mlflow_client.open_experiment(uri, settings["experiment"]), None, {}
    points = metric_points(settings, sweep.get("jobs") if sweep else None)
    return Context(uri, experiment, parent, tags, output_dir, points)


def metric_points(settings: Mapping, jobs: int | None) -> int | None:
    """Points per metric history sent to MLflow: tracking.max_points for a single run; in a
    sweep of N jobs, tracking.sweep_points / N, at least 10 and at most max_points."""
    cap = settings["max_points"]
    if not jobs:
        return cap
    share = max(10, settings["sweep_points"] // jobs)
    return share if cap is None else min(cap, share)


def already_finished(spec: RunSpec, ctx: Context) -> Outcome | None:
    """With resume=true: the outcome of this configuration's finished run, if there is one,
    which joins the sweep (resume.adopt); runs of it that a killed process left RUNNING are
    ended KILLED."""
    run = resume.finished_run(ctx.client, ctx.experiment_id, spec.hash)
    if run is None:
        resume.close_orphans(ctx.client, ctx.experiment_id, spec.hash)
        return None
    resume.adopt(ctx.client, [run], ctx.parent_run_id, ctx.tags)
    print(f"{spec.name}: already finished as run {run.info.run_id} "
          f"({run.data.tags.get(STATUS_TAG)}), skipped")
    return Outcome.skipped(run)


def execute(spec: RunSpec, ctx: Context, setup: Setup | None = None) -> Outcome:
    """Run one configuration and log it; bad input raises before any MLflow run exists.

    Once open, the run always ends: FINISHED with its record; KILLED on SIGTERM or SIGINT,
    at any moment, with every step taken; FAILED on any error, with what was recorded and
    the `error` tag naming the cause (raised as RunFailed). A signal that arrives while the
    final metrics and files are written waits until they are, and the run ends FINISHED
    before Interrupted is raised.
    """
    setup = setup or build(spec)
    objective = setup.objective
    trace = Trace(1, spec.steps, objective.minimizer,
                  keep_points=objective.dim <= MAX_CSV_COORDINATES, budget=spec.history_bytes)
    start_ms = int(time.time() * 1000)
    with interrupts_as_exceptions(), mlflow_client.open_run(
            ctx.client, ctx.experiment_id, name=spec.name, tags=run_tags(spec, ctx)) as run:
        try:
            mlflow_client.log_batch(ctx.client, run.run_id, params=spec.params)
            log_inputs(ctx, run.run_id, datasets.inputs(objective))
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
                _record_stop(run.run_id, spec, objective, trace, start_ms, ctx,
                             None if killed else exc)
            if killed or not isinstance(exc, Exception):
                raise
            raise RunFailed(run.run_id, exc) from exc
        record = Record.from_trace(trace, 0, objective)
        with deferred_interrupts():  # a signal now waits, and then leaves the run FINISHED
            files = run_files(spec, record, objective, ctx.in_sweep)
            log_record(run.run_id, record, files, start_ms, ctx)
            run.completed = True
    return Outcome.of(run.run_id, record)


def _record_stop(run_id: str, spec: RunSpec, objective, trace: Trace, start_ms: int,
                 ctx: Context, error: BaseException | None) -> None:
    """What a run that stopped early leaves: every step it took, status KILLED (`error`
    None) or FAILED with the `error` tag. Best effort: the run ends either way."""
    try:
        if trace.length:
            record = Record.from_trace(trace, 0, objective, KILLED if error is None else FAILED)
            files = run_files(spec, record, objective, ctx.in_sweep)
            log_record(run_id, record, files, start_ms, ctx)
        if error is not None:
            mlflow_client.log_batch(ctx.client, run_id,
                                    tags={STATUS_TAG: FAILED, ERROR_TAG: describe(error)[:5000]})
    except Exception:  # noqa: BLE001 - the store may be what failed; the run still ends
        pass
