"""Vectorised sweeps: configurations that differ only in batchable values run as one batch.

Batchable: `seed`, `objective.x0`, numeric optimizer hyperparameters and float schedule
parameters. Everything else (objective and its parameters, gradient method, optimizer,
steps, ...) forms a group's signature; each group is one stacked computation with per-row
hyperparameters and per-row stopping, and each configuration still becomes its own MLflow
run with the same contents as an unbatched run.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import torch
from omegaconf import OmegaConf

from objectives import Objective
from runner import resume, sqlstore, tracking
from runner.experiment import (
    USER_ERRORS,
    Config,
    Setup,
    batchable_values,
    build,
    build_optimizer,
    config_hash,
    flat_params,
    hyper_tensors,
)
from runner.files import Writers
from runner.job import (
    MLFLOW_STATUS,
    Context,
    Outcome,
    execute,
    finished_run,
    log_record,
    record_failure,
    run_tags,
)
from runner.loop import FAILED, KILLED, Trace, optimize
from runner.results import MAX_CSV_COORDINATES, Record

log = logging.getLogger(__name__)
# rows written per transaction (and per progress update) in a vectorised sweep
WRITE_ROWS = 128


@dataclass
class Job:
    cfg: dict  # the resolved config (plain dicts: cheap to hash, log and write)
    ctx: Context


def skip_finished(jobs: Sequence[Job], results: list, on_done) -> list[int]:
    """Fill `results` for jobs already finished in the experiment (one query); the rest."""
    ctx = jobs[0].ctx
    hashes = [config_hash(job.cfg) for job in jobs]
    found = resume.finished_runs(tracking.client_for(ctx.uri), ctx.experiment_id, hashes)
    pending = []
    for i, key in enumerate(hashes):
        if key in found:
            run = found[key]
            results[i] = {"status": run.data.tags.get("status"), "skipped": True,
                          "run_id": run.info.run_id}
            if on_done:
                on_done(1)
        else:
            pending.append(i)
    return pending


def group_jobs(jobs: Sequence[Job]) -> list[list[int]]:
    """Indices of jobs grouped by signature, in first-appearance order."""
    groups: dict[str, list[int]] = {}
    for i, job in enumerate(jobs):
        groups.setdefault(batchable_values(job.cfg)[0], []).append(i)
    return list(groups.values())


def run_jobs(jobs: Sequence[Job], *, max_rows: int = 4096, memory_mb: float = 1024,
             on_done: Callable[[int], None] | None = None) -> list[Outcome | Exception]:
    """Run every job, batched by group; each entry is an Outcome, the job's error, or (with
    resume=true) the summary of the finished run that made the job unnecessary."""
    results: list = [None] * len(jobs)
    pending = list(range(len(jobs)))
    if jobs and jobs[0].cfg.get("resume"):
        pending = skip_finished(jobs, results, on_done)
    # While the main thread computes the next chunk or group, one thread prepares the rows of
    # finished batches (helper processes write their files) and a writer thread does every
    # MLflow write, in order. Leaving the block waits for all of it, so nothing is lost.
    with Writers() as files, \
            ThreadPoolExecutor(1, thread_name_prefix="mlflow-writer") as writer, \
            ThreadPoolExecutor(1, thread_name_prefix="mlflow-rows") as preparer:
        logging_ = _Logging(writer, preparer, files, on_done)
        for group in group_jobs([jobs[i] for i in pending]):
            indices = [pending[g] for g in group]
            futures = run_group([jobs[i] for i in indices], max_rows, memory_mb, logging_)
            for i, future in zip(indices, futures):
                results[i] = future
    return [_resolve(r) for r in results]


def _resolve(result):
    """A job's result: as is, or from its future (a future of several rows and the row's
    place in it)."""
    future, k = result if isinstance(result, tuple) else (result, None)
    if not isinstance(future, Future):
        return result
    try:
        return future.result() if k is None else future.result()[k]
    except Exception as exc:  # noqa: BLE001 - a write that failed fails that run only
        return exc


class _Logging:
    """Where runs are logged from: tasks on the writer thread (each reported to `on_done` as
    it finishes, for progress) and batches of rows, prepared on another thread."""

    def __init__(self, writer: Executor, preparer: Executor, files: Writers | None,
                 on_done: Callable[[int], None] | None) -> None:
        self.writer, self.preparer, self.files, self.on_done = writer, preparer, files, on_done
        self.chunks: deque[list[Future]] = deque()  # the writes of chunks not yet logged

    def wait_for_room(self) -> None:
        """Before a chunk is computed: wait until at most one earlier chunk is still being
        logged, so that at most two chunks' traces are held (memory stays bounded)."""
        while len(self.chunks) > 1:
            wait(self.chunks.popleft())

    def submit(self, fn, *args, count: int = 1) -> Future:
        """Run fn(*args) on the writer thread; `count` jobs are done when it returns."""
        future = self.writer.submit(fn, *args)
        if self.on_done is not None:
            future.add_done_callback(lambda _: self.on_done(count))
        return future

    def rows(self, jobs: Sequence[Job], trace: Trace, rows: Sequence[int], objective: Objective,
             start_ms: int, status: str | None = None) -> Future:
        """Log rows of a trace as runs (with `status` if given: an interrupted batch)."""
        prepared = self.preparer.submit(prepare_rows, jobs, trace, rows, objective, start_ms,
                                        self.files, status)
        return self.submit(commit_rows, jobs, prepared, objective, start_ms, count=len(jobs))


def run_group(jobs: Sequence[Job], max_rows: int, memory_mb: float,
              writer: _Logging) -> list[Future]:
    """One group: build once, validate each row, step all rows together; runs are logged by
    `writer`. Returns, per job, its future or, for a batched row, (the future of its rows'
    write, its place there)."""
    out: list[Future | None] = [None] * len(jobs)
    valid, check = [], _OptimizerCheck()
    for i, job in enumerate(jobs):
        try:
            check(job.cfg)
            valid.append(i)
        except USER_ERRORS as exc:
            out[i] = writer.submit(fail, job, exc)
    if not valid:
        return out  # type: ignore[return-value]
    try:
        shared = shared_setup(jobs[valid[0]].cfg)
    except USER_ERRORS as exc:
        for i in valid:
            out[i] = writer.submit(fail, jobs[i], exc)
        return out  # type: ignore[return-value]
    rows, points = [], []
    for i in valid:
        try:
            points.append(start_point(shared.objective, jobs[i].cfg))
            rows.append(i)
        except USER_ERRORS as exc:
            out[i] = writer.submit(fail, jobs[i], exc)
    if not shared.optimizer.batchable:  # closure-based or torch.optim: one by one
        for i in rows:
            out[i] = writer.submit(_one_by_one, jobs[i])
        return out  # type: ignore[return-value]
    for chunk in chunks(len(rows), max_rows, rows_per_budget(jobs[0].cfg, shared.objective, memory_mb)):
        writer.wait_for_room()
        chunk_jobs = [jobs[rows[c]] for c in chunk]
        start_ms = int(time.time() * 1000)
        trace = Trace(len(chunk), chunk_jobs[0].cfg["steps"], shared.objective.minimizer)
        try:
            with tracking.interrupts_as_exceptions():
                step_batch(shared, chunk_jobs, torch.stack([points[c] for c in chunk]), trace)
        except BaseException as exc:  # keep what was recorded: the rows end KILLED or FAILED
            if trace.length:
                killed = isinstance(exc, (tracking.Interrupted, KeyboardInterrupt))
                writer.rows(chunk_jobs, trace, range(len(chunk)), shared.objective, start_ms,
                            KILLED if killed else FAILED)
            raise
        writes = []
        for first in range(0, len(chunk), WRITE_ROWS):
            part = range(first, min(len(chunk), first + WRITE_ROWS))
            writes.append(writer.rows([chunk_jobs[r] for r in part], trace, part,
                                      shared.objective, start_ms))
            for k, r in enumerate(part):
                out[rows[chunk[r]]] = (writes[-1], k)
        writer.chunks.append(writes)
    return out  # type: ignore[return-value]


def shared_setup(cfg: dict) -> Setup:
    """What all rows of a group share, built from the first job with x0 left out."""
    return build(OmegaConf.create({**cfg, "objective": {**cfg["objective"], "x0": None}}))


class _OptimizerCheck:
    """Builds each row's optimizer to check its values; rows mostly share them: once each."""

    def __init__(self) -> None:
        self.seen: dict[str, Exception | None] = {}

    def __call__(self, cfg: dict) -> None:
        key = repr((cfg["optimizer"], cfg["schedule"]))
        if key not in self.seen:
            try:
                build_optimizer(cfg)
                self.seen[key] = None
            except USER_ERRORS as exc:
                self.seen[key] = exc
        if self.seen[key] is not None:
            raise self.seen[key]


def start_point(objective: Objective, cfg: dict) -> torch.Tensor:
    x0 = cfg["objective"].get("x0")
    if x0 is None:
        return objective.initial_point(cfg["seed"])
    return objective.point(x0, "x0")


def rows_per_budget(cfg: Config, objective: Objective, memory_mb: float) -> int:
    """Rows whose trace fits in memory_mb: (steps + 1) × (3 metrics + kept coordinates)."""
    per_value = torch.finfo(objective.dtype).bits // 8
    kept = objective.dim if objective.dim <= MAX_CSV_COORDINATES else 0
    per_row = (cfg["steps"] + 1) * (3 + kept) * per_value + 8 * objective.dim * 8
    return max(1, int(memory_mb * 2**20 // per_row))


def chunks(n: int, max_rows: int, budget_rows: int) -> Iterator[list[int]]:
    size = max(1, min(max_rows, budget_rows))
    for start in range(0, n, size):
        yield list(range(start, min(n, start + size)))


def step_batch(shared: Setup, jobs: Sequence[Job], x0: torch.Tensor, trace: Trace) -> Trace:
    """Step all rows at once with per-row hyperparameters (tensors of shape (B, 1)),
    recording into `trace`."""
    cfg = jobs[0].cfg
    optimizer = build_optimizer(cfg, **hyper_tensors([job.cfg for job in jobs], x0.dtype, x0.device))
    return optimize(shared.objective, shared.gradient, optimizer, x0, steps=cfg["steps"],
                    tol=cfg["tol"], max_loss=cfg["divergence"]["max_loss"], check=shared.check,
                    trace=trace, keep_points=shared.objective.dim <= MAX_CSV_COORDINATES)


def prepare_rows(jobs: Sequence[Job], trace: Trace, rows: Sequence[int], objective: Objective,
                 start_ms: int, files: Writers | None,
                 status: str | None) -> tuple[list[Record], sqlstore.Prepared | None]:
    """The rows' records and, on a SQL store, their runs made ready to commit in one
    transaction (files under way); None where they are to be logged run by run."""
    records = [Record.from_trace(trace, row, objective, status) for row in rows]
    ctx = jobs[0].ctx
    client = tracking.client_for(ctx.uri)
    if not sqlstore.supports(client):
        return records, None
    try:
        runs = [finished_run(job.cfg, record, objective, start_ms, job.ctx)
                for job, record in zip(jobs, records)]
        return records, sqlstore.prepare(client, ctx.experiment_id, runs, files)
    except Exception as exc:  # noqa: BLE001 - logged run by run, where errors are per run
        log.warning(f"preparing {len(jobs)} runs at once failed ({tracking.first_line(exc)}); "
                    "logging them one by one")
        return records, None


def commit_rows(jobs: Sequence[Job], prepared: Future, objective: Objective,
                start_ms: int) -> list[Outcome | Exception]:
    """Commit prepared rows in one transaction; if that fails (or there was nothing to
    commit), log each run by itself, so that a bad row fails alone."""
    records, batch = prepared.result()
    if batch is not None:
        try:
            ids = sqlstore.commit(tracking.client_for(jobs[0].ctx.uri), batch)
            return [Outcome(run_id, record) for run_id, record in zip(ids, records)]
        except Exception as exc:  # noqa: BLE001 - retried run by run, where errors are per run
            log.warning(f"writing {len(jobs)} runs at once failed ({tracking.first_line(exc)}); "
                        "writing them one by one")
    return [log_row(job, record, objective, start_ms) for job, record in zip(jobs, records)]


def log_row(job: Job, record: Record, objective: Objective, start_ms: int) -> Outcome | Exception:
    try:
        client = tracking.client_for(job.ctx.uri)
        with tracking.open_run(client, job.ctx.experiment_id, name=job.ctx.name,
                               tags=run_tags(job.cfg, job.ctx)) as run:
            log_record(client, run.run_id, job.cfg, record, objective, start_ms, job.ctx,
                       params=flat_params(job.cfg))
            run.status = MLFLOW_STATUS.get(record.status, run.status)
        return Outcome(run.run_id, record)
    except Exception as exc:  # noqa: BLE001 - one run's logging failure fails that run only
        return exc


def fail(job: Job, exc: Exception) -> Exception:
    record_failure(job.cfg, job.ctx, str(exc))
    return exc


def _one_by_one(job: Job) -> Outcome | Exception:
    try:
        return execute(OmegaConf.create(job.cfg), job.ctx)
    except USER_ERRORS as exc:
        return fail(job, exc)
