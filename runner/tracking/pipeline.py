"""Finished rows of a vectorised sweep on their way into MLflow, off the main thread.

While the main thread computes the next chunk or group, one thread prepares the rows of
finished batches (helper processes write their files) and a writer thread does every MLflow
write, in order. On a SQL store (at a schema revision the bulk writer knows) a batch's rows
are committed in one transaction; anywhere else, or if that fails, run by run, so that a bad
row fails alone.

Rows come as a trace and its objective (made here: records and files read out of it), or
made already (`Made`: by the engine process of runner.sweep.engine, where torch is).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from runner.errors import first_line
from runner.results import Made, Outcome, Record
from runner.spec import RunSpec
from runner.tracking import datasets, sqlstore
from runner.tracking.client import is_transient, retrying, store_error
from runner.tracking.context import Context
from runner.tracking.files import RunFiles, Writers
from runner.tracking.runs import finished_run, log_failure, log_run

if TYPE_CHECKING:  # rows made elsewhere (runner.sweep.engine) are logged without torch
    from objectives import Objective
    from runner.loop import Trace

log = logging.getLogger(__name__)
# (spec, ctx): one configuration and where it logs
Job = tuple[RunSpec, Context]
# told of each write as it finishes: (the jobs' indices, their outcomes)
OnDone = Callable[[Sequence[int], Sequence[Outcome]], None]


def made_rows(jobs: Sequence[Job], trace: Trace, rows: Sequence[int], objective: Objective,
              start_ms: int, status: str | None = None) -> Made:
    """Rows of a trace as records and files (torch is loaded here)."""
    from runner.artifacts import read_rows

    records, files = read_rows(jobs, trace, rows, objective, status)
    return Made(records, files, datasets.inputs(objective), start_ms)


class RowWriter:
    """Where a sweep's runs are logged from. Every write is a task on the writer thread,
    returning one Outcome per job; `on_done` hears of each write as it finishes."""

    def __init__(self, on_done: OnDone | None = None) -> None:
        self.on_done = on_done
        self.files = Writers.shared()
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="mlflow-writer")
        self.preparer = ThreadPoolExecutor(1, thread_name_prefix="mlflow-rows")
        self.chunks: deque[list[Future]] = deque()  # the writes of chunks not yet logged
        self.targets: dict = {}  # (client, experiment id) -> where rows go in bulk (or None)

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc) -> None:
        """Wait for every write: nothing is lost."""
        self.preparer.shutdown(wait=True)
        self.writer.shutdown(wait=True)  # each write waits for its files

    def wait_for_room(self) -> None:
        """Before a chunk is computed: wait until at most one earlier chunk is still being
        logged, so that at most two chunks' traces are held (memory stays bounded)."""
        while len(self.chunks) > 1:
            wait(self.chunks.popleft())

    def _submit(self, indices: Sequence[int], on_done: OnDone | None, fn, *args) -> Future:
        future = self.writer.submit(fn, *args)
        on_done = on_done or self.on_done
        if on_done is not None:
            future.add_done_callback(lambda f: on_done(indices, _outcomes(f, len(indices))))
        return future

    def failure(self, index: int, job: Job, exc: Exception,
                on_done: OnDone | None = None) -> Future:
        """A configuration that cannot run: a FAILED run with the reason. Each write tells
        `on_done` (else the writer's) of its outcomes."""
        return self._submit([index], on_done, _log_failure, job, exc)

    def rows(self, indices: Sequence[int], jobs: Sequence[Job], trace: Trace,
             rows: Sequence[int], objective: Objective, start_ms: int,
             status: str | None = None) -> Future:
        """Log rows of a trace as runs (with `status` if given: an interrupted batch)."""
        return self.made(indices, jobs, self.preparer.submit(
            made_rows, jobs, trace, rows, objective, start_ms, status))

    def made(self, indices: Sequence[int], jobs: Sequence[Job], made: Made | Future,
             on_done: OnDone | None = None) -> Future:
        """Log rows already read out of their trace (or being read: a Future of them)."""
        return self.commit(indices, jobs, self.prepare(jobs, made), on_done)

    def look_up(self, jobs: Sequence[Job]) -> str | None:
        """Look up where these jobs' rows go in bulk now, while nothing is written (a plain
        sweep's engine computes), rather than when their rows are ready; a store that fails
        to answer fails them then, as without this. The local folder their runs' artifact
        folders are in, where they go in bulk (sqlstore.run_folder), else None."""
        try:
            target = bulk_target(self.targets, jobs[0][1])
        except Exception:  # noqa: BLE001 - asked again, and said, as rows are prepared
            return None
        return None if target is None else sqlstore.local_folder(target.artifact_location)

    def prepare(self, jobs: Sequence[Job], made: Made | Future,
                elsewhere: sqlstore.Elsewhere | None = None) -> Future:
        """Rows made ready to commit (prepare_rows), on the preparing thread; their files
        written `elsewhere` if given."""
        return self.preparer.submit(prepare_rows, jobs, made, self.files, self.targets,
                                    elsewhere)

    def commit(self, indices: Sequence[int], jobs: Sequence[Job], prepared: Future,
               on_done: OnDone | None = None) -> Future:
        """Commit rows once prepared (`prepare`'s Future), on the writer thread."""
        return self._submit(indices, on_done, commit_rows, jobs, prepared)


def _outcomes(future: Future, n: int) -> list[Outcome]:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - a write that failed fails its runs only
        return [Outcome.failure(f"the run could not be recorded: {store_error(exc)}")] * n


def _log_failure(job: Job, exc: Exception) -> list[Outcome]:
    spec, ctx = job
    return [Outcome.failure(str(exc), log_failure(spec, ctx, str(exc)))]


def prepare_rows(jobs: Sequence[Job], made: Made | Future, writers: Writers | None,
                 targets: dict, elsewhere: sqlstore.Elsewhere | None = None
                 ) -> tuple[Made, sqlstore.Prepared | None]:
    """The rows and, on a store the bulk writer supports, their runs made ready to commit in
    one transaction (files under way, or written `elsewhere`); None where they are to be
    logged run by run (with their files: those written elsewhere are left unused).
    `targets` keeps each store's bulk target (sqlstore.target) for the writer's later chunks:
    read while another chunk commits, it would wait for that transaction."""
    if isinstance(made, Future):
        made = made.result()
    ctx = jobs[0][1]
    target = bulk_target(targets, ctx)
    if target is None:
        return made, None
    try:
        later = isinstance(made.files, Future)  # written elsewhere: not needed here
        files = [None] * len(made.records) if later else made.files
        runs = [finished_run(spec, record, run_files, made.start_ms, c, made.inputs)
                for (spec, c), record, run_files in zip(jobs, made.records, files)]
        return made, sqlstore.prepare(ctx.client, target, runs, writers, elsewhere)
    except Exception as exc:  # noqa: BLE001 - logged run by run, where errors are per run
        log.warning(f"preparing {len(jobs)} runs at once failed ({first_line(exc)}); "
                    "logging them one by one")
        return made, None


def bulk_target(targets: dict, ctx: Context):
    """Where a context's rows go in bulk (sqlstore.target), looked up once per store and
    experiment (`targets` keeps it)."""
    key = (id(ctx.client), ctx.experiment_id)
    if key not in targets:
        targets[key] = sqlstore.target(ctx.client, ctx.experiment_id)
    return targets[key]


def commit_rows(jobs: Sequence[Job], prepared: Future) -> list[Outcome]:
    """Commit prepared rows in one transaction; if that fails (or there was nothing to
    commit), log each run by itself, so that a bad row fails alone."""
    made, batch = prepared.result()
    if batch is not None:
        try:
            ids = retrying(sqlstore.commit, jobs[0][1].client, batch)  # atomic: safe to retry
            return [Outcome.of(run_id, record) for run_id, record in zip(ids, made.records)]
        except Exception as exc:  # noqa: BLE001 - retried run by run, where errors are per run
            if is_transient(exc):  # locked past the retry budget: run by run would wait
                raise  # as long again for each run; these runs fail, with the reason
            log.warning(f"writing {len(jobs)} runs at once failed ({first_line(exc)}); "
                        "writing them one by one")
    files = made.files.result() if isinstance(made.files, Future) else made.files
    return [_log_one(job, record, run_files, made.start_ms, made.inputs)
            for job, record, run_files in zip(jobs, made.records, files)]


def _log_one(job: Job, record: Record, files: RunFiles, start_ms: int, inputs) -> Outcome:
    spec, ctx = job
    try:
        return Outcome.of(log_run(spec, record, files, start_ms, ctx, inputs), record)
    except Exception as exc:  # noqa: BLE001 - one run's logging failure fails that run only
        return Outcome.failure(f"the run could not be recorded: {store_error(exc)}")
