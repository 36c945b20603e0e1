"""One run end to end: build, step, record, log to MLflow; the run always ends."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric
from omegaconf import DictConfig

from objectives import LinearRegression, Objective
from runner import plots, tracking
from runner.console import Progress
from runner.experiment import Config, Setup, build, config_hash, config_yaml, flat_params
from runner.files import RunFiles
from runner.loop import FAILED, KILLED, Trace, optimize
from runner.results import MAX_CSV_COORDINATES, Record
from runner.sqlstore import FinishedRun

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# a run's MLflow status by its own: interrupted or failed; any other outcome is FINISHED
MLFLOW_STATUS = {KILLED: "KILLED", FAILED: "FAILED"}


@dataclass
class Context:
    """Where and how a job logs: decided once by the launching process."""

    uri: str
    experiment_id: str
    parent_run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    name: str = "run"
    output_dir: Path | None = None
    max_points: int | None = 1000  # metric points per history sent to MLflow (None: all)


@dataclass
class Outcome:
    run_id: str
    record: Record


@functools.cache
def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def run_tags(cfg: Config, ctx: Context) -> dict[str, str]:
    tags = {"config_hash": config_hash(cfg), "mlflow.source.name": "runner", **ctx.tags}
    if ctx.parent_run_id:
        tags[tracking.PARENT_TAG] = ctx.parent_run_id
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


def execute(cfg: DictConfig, ctx: Context, setup: Setup | None = None) -> Outcome:
    """Run one configuration and log it; bad input raises before any MLflow run exists."""
    setup = setup or build(cfg)
    client = tracking.client_for(ctx.uri)
    with tracking.open_run(client, ctx.experiment_id, name=ctx.name,
                           tags=run_tags(cfg, ctx)) as run:
        run_id = run.run_id
        tracking.log_batch(client, run_id, params=flat_params(cfg))
        trace = Trace(1, cfg.steps, setup.objective.minimizer)
        start_ms = int(time.time() * 1000)
        try:
            with tracking.interrupts_as_exceptions(), Progress(cfg.steps, ctx.name) as bar:
                optimize(setup.objective, setup.gradient, setup.optimizer, setup.x0[None],
                         steps=cfg.steps, tol=cfg.tol, max_loss=cfg.divergence.max_loss,
                         trace=trace, check=setup.check, progress=bar.update,
                         keep_points=setup.objective.dim <= MAX_CSV_COORDINATES)
        except BaseException as exc:  # keep what was recorded, then let the run end
            if trace.length:
                killed = isinstance(exc, (tracking.Interrupted, KeyboardInterrupt))
                log_record(client, run_id, cfg, Record.from_trace(
                    trace, 0, setup.objective, KILLED if killed else FAILED),
                    setup.objective, start_ms, ctx)
            raise
        record = Record.from_trace(trace, 0, setup.objective)
        log_record(client, run_id, cfg, record, setup.objective, start_ms, ctx)
    return Outcome(run_id, record)


def record_failure(cfg: Config, ctx: Context, message: str) -> None:
    """In a sweep, a configuration that cannot run is still a run: FAILED, with the reason."""
    client = tracking.client_for(ctx.uri)
    tags = {**run_tags(cfg, ctx), "status": "failed", "error": message[:5000]}
    with tracking.open_run(client, ctx.experiment_id, name=ctx.name, tags=tags) as run:
        tracking.log_batch(client, run.run_id, params=flat_params(cfg))
        run.status = "FAILED"


def record_metrics(record: Record, start_ms: int, ctx: Context) -> list[Metric]:
    """The metric histories (at most ctx.max_points each), final values and gradient checks."""
    keep = record.metric_steps(ctx.max_points)
    histories = {k: v[keep] for k, v in record.histories.items()}
    stamps = start_ms + np.round(record.wall_time[keep] * 1000).astype(np.int64)
    metrics = tracking.metric_entities(keep, histories, stamps, finals=record.finals())
    if record.checks is not None:
        metrics += tracking.metric_entities(record.checks[0], {"grad_check": record.checks[1]})
    return metrics


def log_record(client: MlflowClient, run_id: str, cfg: Config, record: Record,
               objective: Objective, start_ms: int, ctx: Context,
               params: dict | None = None) -> None:
    """Metrics, the status tag (and params, if given) in one batched write, then artifacts
    (also copied to the job's output folder when it has one)."""
    tracking.log_batch(client, run_id, metrics=record_metrics(record, start_ms, ctx),
                       params=params, tags={"status": record.status})
    with tempfile.TemporaryDirectory(prefix="gradlab-") as tmp:
        run_files(cfg, record, objective, ctx).write(Path(tmp))
        client.log_artifacts(run_id, tmp)
        if ctx.output_dir is not None:
            shutil.copytree(tmp, ctx.output_dir, dirs_exist_ok=True)


def finished_run(cfg: Config, record: Record, objective: Objective, start_ms: int,
                 ctx: Context) -> FinishedRun:
    """The whole content of a run that has finished (a row of a vectorised sweep): the
    same params, tags, metrics and files as `execute` logs step by step."""
    return FinishedRun(
        name=ctx.name, tags={**run_tags(cfg, ctx), "status": record.status},
        params={k: tracking.param_text(v) for k, v in flat_params(cfg).items()},
        metrics=record_metrics(record, start_ms, ctx),
        status=MLFLOW_STATUS.get(record.status, "FINISHED"), start_ms=start_ms,
        end_ms=int(time.time() * 1000), files=run_files(cfg, record, objective, ctx))


def run_files(cfg: Config, record: Record, objective: Objective, ctx: Context) -> RunFiles:
    """config.yaml, result.json, trajectory.csv, and the plots asked for."""
    texts = {"config.yaml": config_yaml(cfg), "result.json": record.result_json()}
    artifacts = cfg["artifacts"]
    draw = None
    if artifacts["plots"] or artifacts["gif"]:
        draw = functools.partial(draw_plots, artifacts=artifacts, record=record,
                                 objective=objective, name=ctx.name)
    return RunFiles(texts, record.table(), draw)


def draw_plots(folder: Path, artifacts: dict, record: Record, objective: Objective,
               name: str) -> None:
    """The plots `artifacts` asks for (`plots`, `gif`), drawn into folder."""
    points = objective.dim == 2 and record.points is not None
    if artifacts["plots"]:
        plots.loss_curve(record, name, folder / "loss.png")
        if points:
            plots.trajectory_plot(objective, record, name, folder / "trajectory.png")
        if isinstance(objective, LinearRegression):
            plots.fit_plot(objective, record, name, folder / "fit.png")
    if artifacts["gif"] and points:
        plots.trajectory_gif(objective, record, name, folder / "trajectory.gif")
