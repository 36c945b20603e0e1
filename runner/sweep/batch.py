"""Vectorised sweeps: configurations that differ only in batchable values run as one batch.

Batchable: `seed`, `objective.x0`, numeric optimizer hyperparameters and float schedule
parameters (RunSpec.batch_values). Everything else (objective and its parameters, gradient
method, optimizer, steps, ...) forms a group's signature; each group is one stacked
computation with per-row hyperparameters and per-row stopping, and each configuration still
becomes its own MLflow run with the same contents as an unbatched run. Optimizers whose rows
are not independent (L-BFGS, torch.optim) run one configuration at a time, on this thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Protocol

import torch

from objectives import Objective
from runner import collector
from runner.build import (
    USER_ERRORS,
    Setup,
    build,
    build_optimizer,
    hyper_tensors,
    start_point,
)
from runner.console import Progress
from runner.constants import KILLED
from runner.errors import RunFailed, interrupts_as_exceptions
from runner.loop import Trace, optimize
from runner.results import MAX_CSV_COORDINATES, Outcome
from runner.spec import RunSpec
from runner.sweep.study import row_pruner

if TYPE_CHECKING:  # the engine process (runner.sweep.engine) computes without MLflow
    from runner.tracking.pipeline import Job, OnDone, RowWriter

# rows written per transaction (and per progress update) in a vectorised sweep
WRITE_ROWS = 128
# What a batch's rows cost in all, as a multiple of their recorded trace: two batches in
# flight (one computed while the one before is logged), each with its trace, the records
# and trajectory tables made from it, the copies sent to the writer processes and the CSV
# text they make. Measured on a 200-run, 20,000-step 2-D sweep: about 6 (tests/test_faults).
FOOTPRINT = 6


def run_jobs(jobs: Sequence[Job], *, max_rows: int = 4096, memory_mb: float = 1024,
             on_done: OnDone | None = None) -> list[Outcome]:
    """Run every job, batched by group; one Outcome per job (with resume=true, a job already
    finished in the experiment is that run's outcome)."""
    from runner.tracking.pipeline import RowWriter

    collector.resume()  # torch is loaded: the work begins
    outcomes: list[Outcome | None] = [None] * len(jobs)

    def done(indices: Sequence[int], found: Sequence[Outcome]) -> None:
        for i, outcome in zip(indices, found):
            outcomes[i] = outcome
        if on_done is not None:
            on_done(indices, found)

    pending = list(range(len(jobs)))
    if jobs and jobs[0][0].resume:
        pending = skip_finished(jobs, done)
    with RowWriter(done) as writer:
        sink = Local(writer, jobs, done)
        for group in group_jobs([jobs[i] for i in pending]):
            run_group([pending[g] for g in group], jobs, max_rows, memory_mb, sink)
    return [o if o is not None else Outcome.failure("no run was recorded") for o in outcomes]


class Sink(Protocol):
    """Where run_group's rows go: logged here (Local), or sent to the process that logs
    them (runner.sweep.engine)."""

    def failure(self, index: int, job: Job, exc: Exception) -> None: ...

    def alone(self, index: int) -> None: ...

    def wait_for_room(self) -> None: ...

    def rows(self, indices: Sequence[int], jobs: Sequence[Job], trace: Trace,
             rows: Sequence[int], objective: Objective, start_ms: int,
             status: str | None = None) -> Future | None: ...

    def chunk(self, writes: list) -> None: ...


class Local:
    """Rows logged in this process, by a RowWriter; a configuration run alone runs here."""

    def __init__(self, writer: RowWriter, jobs: Sequence[Job], done: OnDone) -> None:
        self.writer, self.jobs, self.done = writer, jobs, done
        self.failure, self.rows = writer.failure, writer.rows
        self.wait_for_room = writer.wait_for_room

    def alone(self, index: int) -> None:
        self.done([index], [_one_by_one(self.jobs[index])])

    def chunk(self, writes: list) -> None:
        self.writer.chunks.append(writes)


def skip_finished(jobs: Sequence[Job], done: OnDone) -> list[int]:
    """Report jobs already finished in the experiment (one query), which join the sweep
    (resume.adopt); the indices of the rest."""
    from runner.tracking import resume

    ctx = jobs[0][1]
    found = resume.finished_runs(ctx.client, ctx.experiment_id, [spec.hash for spec, _ in jobs])
    resume.adopt(ctx.client, [found[spec.hash] for spec, _ in jobs if spec.hash in found],
                 ctx.parent_run_id, ctx.tags)
    pending = []
    for i, (spec, _) in enumerate(jobs):
        if spec.hash in found:
            done([i], [Outcome.skipped(found[spec.hash])])
        else:
            pending.append(i)
    return pending


def group_jobs(jobs: Sequence[Job]) -> list[list[int]]:
    """Indices of jobs grouped by signature, in first-appearance order."""
    groups: dict[str, list[int]] = {}
    for i, (spec, _) in enumerate(jobs):
        groups.setdefault(spec.signature, []).append(i)
    return list(groups.values())


def run_group(indices: list[int], jobs: Sequence[Job], max_rows: int, memory_mb: float,
              writer: Sink) -> None:
    """One group: build once, validate each row, step all rows together; rows go to
    `writer`, and so do the configurations to run alone."""
    valid = _valid_rows(jobs, indices, writer)
    if not valid:
        return
    try:
        shared = build(jobs[valid[0]][0].with_x0(None), with_x0=False)  # x0 is per row
    except USER_ERRORS as exc:
        for i in valid:
            writer.failure(i, jobs[i], exc)
        return
    except Exception:  # noqa: BLE001 - not bad input: each configuration fails on its own
        for i in valid:
            writer.alone(i)
        return
    rows, points = [], []
    for i in valid:
        try:
            points.append(start_point(shared.objective, jobs[i][0]))
            rows.append(i)
        except USER_ERRORS as exc:
            writer.failure(i, jobs[i], exc)
    if not shared.optimizer.batchable:  # closure-based or torch.optim: one by one
        for i in rows:
            writer.alone(i)
        return
    steps = jobs[rows[0]][0].steps
    for chunk in chunks(len(rows), max_rows, rows_per_budget(steps, shared.objective, memory_mb)):
        writer.wait_for_room()
        chunk_jobs = [jobs[rows[c]] for c in chunk]
        chunk_indices = [rows[c] for c in chunk]
        start_ms = int(time.time() * 1000)
        trace = Trace(len(chunk), steps, shared.objective.minimizer,
                      keep_points=shared.objective.dim <= MAX_CSV_COORDINATES,
                      budget=int(memory_mb * 2**20 / FOOTPRINT))
        try:
            with interrupts_as_exceptions(), Progress(steps, _runs(len(chunk))) as bar:
                step_batch(shared, [spec for spec, _ in chunk_jobs],
                           torch.stack([points[c] for c in chunk]), trace,
                           progress=bar.update if bar.enabled else None)
        except Exception:  # noqa: BLE001 - one row's error fails the whole stacked step:
            # run the chunk's rows alone, so that only the configurations at fault fail
            for i in chunk_indices:
                writer.alone(i)
            continue
        except BaseException:  # interrupted: the rows end KILLED with every step taken
            if trace.length:
                writer.rows(chunk_indices, chunk_jobs, trace, range(len(chunk)),
                            shared.objective, start_ms, KILLED)
            raise
        writes: list[Future | None] = []
        for first in range(0, len(chunk), WRITE_ROWS):
            part = range(first, min(len(chunk), first + WRITE_ROWS))
            writes.append(writer.rows([chunk_indices[r] for r in part],
                                      [chunk_jobs[r] for r in part], trace, part,
                                      shared.objective, start_ms))
        writer.chunk(writes)


def _one_by_one(job: Job) -> Outcome:
    """A configuration run alone, here; whatever fails, it ends as its own FAILED run."""
    from runner.job import execute
    from runner.tracking.client import store_error
    from runner.tracking.runs import log_failure

    spec, ctx = job
    try:
        return execute(spec, ctx)
    except USER_ERRORS as exc:
        return Outcome.failure(str(exc), log_failure(spec, ctx, str(exc)))
    except RunFailed as exc:  # the run exists, ended FAILED with the cause
        return Outcome.failure(str(exc), exc.run_id)
    except Exception as exc:  # noqa: BLE001 - before the run opened (a build error)
        message = store_error(exc)
        try:
            return Outcome.failure(message, log_failure(spec, ctx, message))
        except Exception as again:  # noqa: BLE001 - the store itself failed: no run
            return Outcome.failure(f"{message}; not recorded: {store_error(again)}")


def _valid_rows(jobs: Sequence[Job], indices: Sequence[int], writer: Sink) -> list[int]:
    """The rows whose optimizer values are good; the others are failed runs. The group's
    optimizer built once with every row's values (as (B, 1) tensors, which rules check as
    they check one run's (1, 1)) passes them all at once; where it does not, each row's is
    built to find which (an Optuna generation has 20 different optimizers: 20 builds)."""
    specs = [jobs[i][0] for i in indices]
    try:
        build_optimizer(specs[0], **hyper_tensors(specs, torch.float64, "cpu"))
        return list(indices)
    except Exception:  # noqa: BLE001 - found row by row below, each with its own message
        pass
    valid, check = [], _OptimizerCheck()
    for i in indices:
        try:
            check(jobs[i][0])
            valid.append(i)
        except USER_ERRORS as exc:
            writer.failure(i, jobs[i], exc)
    return valid


class _OptimizerCheck:
    """Builds each row's optimizer to check its values; rows mostly share them: once each."""

    def __init__(self) -> None:
        self.seen: dict[str, Exception | None] = {}

    def __call__(self, spec: RunSpec) -> None:
        key = repr((spec.config["optimizer"], spec.config["schedule"]))
        if key not in self.seen:
            try:
                build_optimizer(spec)
                self.seen[key] = None
            except USER_ERRORS as exc:
                self.seen[key] = exc
        if self.seen[key] is not None:
            raise self.seen[key]


def rows_per_budget(steps: int, objective: Objective, memory_mb: float) -> int:
    """Rows whose whole footprint fits in memory_mb: a row's trace, (steps + 1) × (f, ‖∇f‖,
    the kept coordinates or ‖x − x*‖, the seconds and the step), costs FOOTPRINT times as
    much by the time it is written (see there); plus its optimizer state."""
    per_value = torch.finfo(objective.dtype).bits // 8
    kept = objective.dim if objective.dim <= MAX_CSV_COORDINATES else 1
    per_row = (steps + 1) * (4 + kept) * per_value + 8 * objective.dim * 8
    return max(1, int(memory_mb * 2**20 // (FOOTPRINT * per_row)))


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def chunks(n: int, max_rows: int, budget_rows: int) -> Iterator[list[int]]:
    size = max(1, min(max_rows, budget_rows))
    for start in range(0, n, size):
        yield list(range(start, min(n, start + size)))


def step_batch(shared: Setup, specs: Sequence[RunSpec], x0: torch.Tensor, trace: Trace,
               progress: Callable[[int], None] | None = None) -> Trace:
    """Step all rows at once with per-row hyperparameters (tensors of shape (B, 1)),
    recording into `trace`; `progress` hears of the step reached now and then (a terminal's
    progress bar)."""
    spec = specs[0]
    optimizer = build_optimizer(spec, **hyper_tensors(specs, x0.dtype, x0.device))
    return optimize(shared.objective, shared.gradient, optimizer, x0, steps=spec.steps,
                    tol=spec.tol, max_loss=spec.max_loss, stall=spec.stall(optimizer.stall_steps),
                    check=shared.check, sampling=shared.draws([s.seed for s in specs]),
                    evaluate_every=spec.eval_every, trace=trace,
                    prune=row_pruner([s.trial for s in specs]), progress=progress)
