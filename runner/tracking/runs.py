"""One run's content in MLflow: where it logs, its tags, metrics and files, written as it
runs (a job: `start_run` ... `finish` or `stop`, requests that a single run's helper process
makes: runner.tracking.helper) or all at once (a finished row of a vectorised sweep)."""

from __future__ import annotations

import functools
import getpass
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from mlflow.entities import DatasetInput

from runner.constants import (
    ERROR_TAG,
    FAILED,
    GIT_COMMIT_TAG,
    MLFLOW_STATUS,
    PARENT_TAG,
    STATUS_TAG,
    STUDY_TAG,
    SWEEP_ID_TAG,
    USER_TAG,
)
from runner.results import Outcome, Record, evenly
from runner.spec import RunSpec
from runner.tracking import client as mlflow_client
from runner.tracking import datasets, resume
from runner.tracking.context import Context
from runner.tracking.files import RunFiles
from runner.tracking.metrics import MetricTable
from runner.tracking.sqlstore import FinishedRun

PROJECT_ROOT = Path(__file__).resolve().parents[2]


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
        parent, tags = None, {}
        experiment = mlflow_client.open_experiment(uri, settings["experiment"])
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


def warm_up(tracking: Mapping, cwd: str | Path) -> None:
    """What a single run's helper does while the command loads torch (and matplotlib, to
    draw the run's plots): MLflow's SQL store module loaded, an existing store opened (a new
    one is made only once the run's input is known to be good: `context`)."""
    uri = mlflow_client.resolve_uri(tracking["uri"], cwd)
    if "://" in uri and not uri.startswith(("http://", "https://", "file://")):
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    path = Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None
    if path is not None and path.is_file() and path.stat().st_size:
        mlflow_client.client_for(uri)


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


def start_run(spec: RunSpec, ctx: Context) -> str:
    """A new RUNNING run of the job: its id."""
    return ctx.client.create_run(ctx.experiment_id, run_name=spec.name,
                                 tags=run_tags(spec, ctx)).info.run_id


def log_start(run_id: str, params: dict, ctx: Context, data: tuple | None) -> None:
    """What a run logs before its first step: params and its data set (datasets.from_data)."""
    mlflow_client.log_batch(ctx.client, run_id, params=params)
    log_inputs(ctx, run_id, datasets.from_data(data))


def finish(run_id: str, record: Record, files: RunFiles, start_ms: int, ctx: Context) -> None:
    """A run that completed: its record, then FINISHED."""
    log_record(run_id, record, files, start_ms, ctx)
    end(run_id, ctx, "FINISHED")


def stop(run_id: str, record: Record | None, files: RunFiles | None, start_ms: int,
         ctx: Context, error: str | None) -> None:
    """What a run that stopped early leaves: every step it took (`record`), status KILLED
    (`error` None) or FAILED with the `error` tag. Best effort: the run ends either way."""
    try:
        if record is not None:
            log_record(run_id, record, files, start_ms, ctx)
        if error is not None:
            mlflow_client.log_batch(ctx.client, run_id,
                                    tags={STATUS_TAG: FAILED, ERROR_TAG: error[:5000]})
    except Exception:  # noqa: BLE001 - the store may be what failed; the run still ends
        pass
    end(run_id, ctx, "KILLED" if error is None else "FAILED")


def end(run_id: str, ctx: Context, status: str) -> None:
    """The run ends with MLflow status `status` (client.end_run); best effort."""
    mlflow_client.end_run(ctx.client, run_id, status)


@functools.cache
def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def user_and_commit() -> dict[str, str]:
    """Who ran it and at which commit: MLflow's user tag ("Created by") and git commit."""
    tags = {USER_TAG: getpass.getuser()}
    commit = git_commit()
    if commit:
        tags[GIT_COMMIT_TAG] = commit
    return tags


def run_tags(spec: RunSpec, ctx: Context) -> dict[str, str]:
    tags = {**spec.tags, **ctx.tags, **user_and_commit()}
    if ctx.parent_run_id:
        tags[PARENT_TAG] = ctx.parent_run_id
    return tags


def record_metrics(record: Record, start_ms: int, ctx: Context) -> MetricTable:
    """The metric histories (at most ctx.max_points each), final values and gradient checks
    (a final value with a history of its own, `evaluations`, is that history's last point)."""
    now = int(time.time() * 1000)
    keep = evenly(len(record.index), ctx.max_points)
    histories = {k: v[keep] for k, v in record.histories.items()}
    stamps = start_ms + np.round(record.wall_time[keep] * 1000).astype(np.int64)
    finals = {k: v for k, v in record.finals().items() if k not in histories}
    metrics = (MetricTable.of(record.index[keep], histories, stamps)
               + MetricTable.finals(finals, now))
    if record.checks is not None:
        metrics += MetricTable.of(record.checks[0], {"grad_check": record.checks[1]}, now)
    if record.evals is not None:  # train/test loss, accuracy, epochs: every eval_every steps
        steps, series = record.evals
        keep = evenly(len(steps), ctx.max_points)
        at = np.minimum(np.searchsorted(record.index, steps[keep]), len(record.index) - 1)
        stamps = start_ms + np.round(record.wall_time[at] * 1000).astype(np.int64)
        metrics += MetricTable.of(steps[keep], {k: v[keep] for k, v in series.items()}, stamps)
    return metrics


def log_record(run_id: str, record: Record, files: RunFiles, start_ms: int, ctx: Context,
               params: dict | None = None) -> None:
    """Metrics, the status tag (and params, if given) in one batched write, then artifacts
    (also copied to the job's output folder when it has one)."""
    client = ctx.client
    mlflow_client.log_batch(client, run_id, metrics=record_metrics(record, start_ms, ctx),
                            params=params, tags={STATUS_TAG: record.status})
    with tempfile.TemporaryDirectory(prefix="gradlab-") as tmp:
        files.write(Path(tmp))
        client.log_artifacts(run_id, tmp)
        if ctx.output_dir is not None:
            shutil.copytree(tmp, ctx.output_dir, dirs_exist_ok=True)


def log_run(spec: RunSpec, record: Record, files: RunFiles, start_ms: int, ctx: Context,
            inputs: Sequence[DatasetInput] = ()) -> str:
    """A finished run logged through the public client, request by request; its id."""
    with mlflow_client.open_run(ctx.client, ctx.experiment_id, name=spec.name,
                                tags=run_tags(spec, ctx)) as run:
        log_inputs(ctx, run.run_id, inputs)
        log_record(run.run_id, record, files, start_ms, ctx, params=spec.params)
        run.status = MLFLOW_STATUS.get(record.status, run.status)
    return run.run_id


def log_failure(spec: RunSpec, ctx: Context, message: str) -> str:
    """In a sweep, a configuration that cannot run is still a run: FAILED, with the reason."""
    tags = {**run_tags(spec, ctx), STATUS_TAG: FAILED, ERROR_TAG: message[:5000]}
    with mlflow_client.open_run(ctx.client, ctx.experiment_id, name=spec.name, tags=tags) as run:
        mlflow_client.log_batch(ctx.client, run.run_id, params=spec.params)
        run.status = MLFLOW_STATUS[FAILED]
    return run.run_id


def log_inputs(ctx: Context, run_id: str, inputs: Sequence[DatasetInput]) -> None:
    """The run's data sets (see `datasets`), if it has any."""
    if inputs:
        ctx.client.log_inputs(run_id, datasets=list(inputs))


def finished_run(spec: RunSpec, record: Record, files: RunFiles, start_ms: int,
                 ctx: Context, inputs: Sequence[DatasetInput] = ()) -> FinishedRun:
    """The whole content of a run that has finished (a row of a vectorised sweep): the
    same params, tags, metrics and files as a single run logs step by step."""
    return FinishedRun(
        name=spec.name, tags={**run_tags(spec, ctx), STATUS_TAG: record.status},
        params=spec.params, metrics=record_metrics(record, start_ms, ctx),
        status=MLFLOW_STATUS.get(record.status, "FINISHED"), start_ms=start_ms,
        end_ms=int(time.time() * 1000), files=files, inputs=inputs)
