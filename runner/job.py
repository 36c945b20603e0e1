"""One job: a configuration run alone, logged step by step, and where a job logs."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from runner.artifacts import run_files
from runner.build import Setup, build
from runner.console import Progress
from runner.constants import FAILED, KILLED, STATUS_TAG, SWEEP_ID_TAG
from runner.errors import Interrupted, interrupts_as_exceptions
from runner.loop import Trace, optimize
from runner.results import MAX_CSV_COORDINATES, Outcome, Record
from runner.spec import RunSpec
from runner.tracking import client as mlflow_client
from runner.tracking import resume
from runner.tracking.runs import Context, log_record, run_tags


def context(spec: RunSpec, sweep: Mapping | None, cwd: str | Path,
            output_dir: Path | None = None) -> Context:
    """Where a job logs: in a sweep, the tracking ids its launcher decided (`sweep`); for a
    single run, those of the spec's tracking settings (store and experiment made if need be)."""
    settings = spec.tracking
    if sweep is not None:
        uri, experiment, parent = sweep["uri"], sweep["experiment_id"], sweep["parent_run_id"]
        tags = {SWEEP_ID_TAG: sweep["sweep_id"]}
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
    """With resume=true: the outcome of this configuration's finished run, if there is one
    (runs of it that a killed process left RUNNING are ended KILLED)."""
    run = resume.finished_run(ctx.client, ctx.experiment_id, spec.hash)
    if run is None:
        resume.close_orphans(ctx.client, ctx.experiment_id, spec.hash)
        return None
    print(f"{spec.name}: already finished as run {run.info.run_id} "
          f"({run.data.tags.get(STATUS_TAG)}), skipped")
    return Outcome.skipped(run)


def execute(spec: RunSpec, ctx: Context, setup: Setup | None = None) -> Outcome:
    """Run one configuration and log it; bad input raises before any MLflow run exists."""
    setup = setup or build(spec)
    objective = setup.objective
    with mlflow_client.open_run(ctx.client, ctx.experiment_id, name=spec.name,
                                tags=run_tags(spec, ctx)) as run:
        mlflow_client.log_batch(ctx.client, run.run_id, params=spec.params)
        trace = Trace(1, spec.steps, objective.minimizer)
        start_ms = int(time.time() * 1000)
        try:
            with interrupts_as_exceptions(), Progress(spec.steps, spec.name) as bar:
                optimize(objective, setup.gradient, setup.optimizer, setup.x0[None],
                         steps=spec.steps, tol=spec.tol, max_loss=spec.max_loss, trace=trace,
                         check=setup.check, progress=bar.update,
                         keep_points=objective.dim <= MAX_CSV_COORDINATES)
        except BaseException as exc:  # keep what was recorded, then let the run end
            if trace.length:
                killed = isinstance(exc, (Interrupted, KeyboardInterrupt))
                record = Record.from_trace(trace, 0, objective, KILLED if killed else FAILED)
                log_record(run.run_id, record, run_files(spec, record, objective), start_ms, ctx)
            raise
        record = Record.from_trace(trace, 0, objective)
        log_record(run.run_id, record, run_files(spec, record, objective), start_ms, ctx)
    return Outcome.of(run.run_id, record)
