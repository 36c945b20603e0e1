"""The engine: a process that computes a batched sweep's rows, forked as the command
starts, before it loads MLflow or torch.

A batched sweep (`-m ... hydra/launcher=vectorized`) run in one process loads Hydra, MLflow
(and Optuna), opens the store, then loads torch and computes, then records: about 3.5 s of
libraries one after the other on a 2-core machine, and the computing and recording one
after the other too. Forked first, the engine loads torch (and the objectives and
optimizers) on the other core meanwhile, and the command never loads it. The command sends
the jobs' RunSpecs; the engine groups and computes them as `batch.run_group` does
in-process, on one thread, and sends back, a part at a time, each row's record and files
(`Made`), the message of a configuration that cannot run, or that a configuration is to run
alone (L-BFGS, torch.optim, a stacked step that failed), which the command then runs
itself. The engine never writes to the store.

A plain sweep sends its jobs as soon as they are composed: the command opens the store
(loading MLflow) and gets its report's figures ready while the engine computes, and records
each part as it comes, at most two waiting (the engine waits to send more: memory stays
bounded). A short one's records come first, then the engine makes their files and writes
them into the artifact folders of run ids it made, while the command makes the rows ready
and inserts them; the transaction is committed once the engine says the files are written
(if they could not be, the runs are logged one by one, with the files the engine sends
back, or made from their records if it ended). Once done, if a 2-D objective's rows were
among them, the engine gets ready to draw, and draws the best run's plots (`later`: they
need its objective) while the command builds the report; the other runs' plots need no
torch (runner.plot). Otherwise, once every job of a plain sweep is computed, the engine
ends: its memory is freed while the rows are recorded.

An Optuna study (`hydra/sweeper=optuna`) sends a generation at a time. The command tells
the study a generation's results as soon as they arrive and records the runs on its writer
thread while the engine computes the next generation (`settle` waits for them; at most
three generations are held). A process killed in between leaves told trials without runs:
the next invocation runs them again (runner.sweep.study.unrecorded); the same parameters
give the same values, bit for bit.

Only where it pays and is safe: the command line names the launcher, it does not resume
(finished runs are looked up in the store first), a study has no pruner (a pruning row
reports to its trial from inside the loop), and the platform forks. `GRADLAB_ENGINE=0`
turns it off. If the engine ends unexpectedly the command computes what it had not sent
back itself; if the command ends, the engine ends (it is killed with it on Linux, and sees
its pipe close elsewhere).

Signals: while the engine computes, the first SIGINT or SIGTERM turns into `Interrupted` as
in-process (the rows end KILLED with the steps taken and are sent back); one that comes
while it does not (loading, between groups) stops the next work it is given, before it
starts. A signal to the command is passed on; a second one kills the engine.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import os
import signal
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from runner import collector
from runner.errors import Interrupted

if TYPE_CHECKING:  # imported where used: the engine forks before numpy is loaded (0.1 s
    #                  of a command that waits for the engine's torch)
    from concurrent.futures import Future

    from runner.results import Outcome
    from runner.tracking.files import RunFiles

# what a part of rows sent to the command holds at most, in bytes of their trace
PART_BYTES = 4 * 2**20
# how long a short sweep's best run's plots wait for its files (the commit writes them
# first) before they are left to be drawn from the store
FILES_WAIT_S = 30.0
OFF_ENV = "GRADLAB_ENGINE"  # "0": every generation computed in the command's process
_RUNNING: list[Engine] = []


def wanted(argv: Sequence[str]) -> bool:
    """Whether this command line is a batched sweep the engine is for (one that resumes
    looks its finished runs up in the store first: computed in its own process)."""
    return (hasattr(os, "fork") and os.environ.get(OFF_ENV, "1") != "0"
            and bool({"-m", "--multirun"} & set(argv))
            and "hydra/launcher=vectorized" in argv and "resume=true" not in argv)


def start(argv: Sequence[str]) -> None:
    """Fork the engine if the command line is one it is for (before any import of MLflow
    or torch, and before any thread exists)."""
    if wanted(argv) and not _RUNNING:
        _RUNNING.append(Engine())


def serving() -> bool:
    """Whether this process has an engine (forked at its start, still there)."""
    return bool(_RUNNING) and _RUNNING[0].alive and _RUNNING[0].owner == os.getpid()


def for_specs(specs: Sequence[Any]) -> Engine | None:
    """The engine, if there is one and these jobs may go to it; one that may not serve the
    sweep's first jobs (a pruner, resume) ends: it will not serve any."""
    if not serving() or not specs:
        return None
    engine = _RUNNING[0]
    from runner.sweep.study import sweep_plan

    plan = sweep_plan() or {}
    if not plan.get("prune_every") and not specs[0].resume:
        return engine
    engine.stop()
    return None


class Engine:
    """The command's side: the engine's process and the pipe to it."""

    def __init__(self) -> None:
        from runner.forked import serving

        self.pid, self.conn = serving(_serve)
        self.alive, self.owner = True, os.getpid()  # a process forked since holds a copy
        self.draws = False  # whether its last jobs had 2-D rows: their best run's plots
        atexit.register(self.stop)

    def stop(self) -> None:
        """End the engine now (whatever it was doing: its results are not wanted)."""
        if self.alive:
            self.alive = False
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.conn.close()

    def compute(self, specs: Sequence[Any], max_rows: int, memory_mb: float,
                on_part: Callable[[list[int], str, Any], None],
                meanwhile: Callable[[], tuple[str | None, bool]],
                report_next: bool = False) -> int:
        """Have the engine compute these jobs. This process runs `meanwhile`, which gives
        the folder where the engine is to write the rows' files (their runs' artifact
        folders are in it: runner.tracking.files.run_folder), or None (they are written
        here), and whether this process then only waits for the rows (the engine then
        computes on every core); then `on_part(indices, kind, payload)` hears of each part
        as it comes: "made" (the rows' Made, their data set, and the run ids the engine made
        if it writes their files), "written" (after "made", once it has: what failed, or
        None), "failure" (a message) or "alone". With `report_next` (a plain sweep), the
        engine gets ready to draw a 2-D best run's plots once done (later). Returns the
        signal that interrupted the work (0 if none). An engine that ended leaves
        unreported the jobs it had not sent back."""
        message: tuple = ("lost",)
        with _passed_on(self) as signals:
            try:
                self.conn.send(("jobs", list(specs), max_rows, memory_mb, report_next))
            except OSError:  # it ended: everything is computed here
                self.stop()
            _release()  # the last generation's runs: recorded while these are computed
            root, idle = None, False
            try:
                root, idle = meanwhile()
            finally:  # the engine's answer: whether, and where, it writes the rows' files
                with contextlib.suppress(OSError):
                    self.conn.send(("where", root, idle))
            try:
                while self.alive and (message := self.conn.recv())[0] == "part":
                    on_part(*message[1:])
            except (EOFError, OSError):  # it ended: the rest is computed here
                self.stop()
                message = ("lost",)
        if message[0] == "interrupted":
            return message[1]
        self.draws = message[0] == "end" and message[1]
        return signals[0] if signals else 0


@contextlib.contextmanager
def _passed_on(engine: Engine):
    """While the engine computes: a SIGTERM or SIGINT here is noted and passed on to it (a
    Ctrl-C at a terminal reaches it twice: the second is noted there, and the command ends
    before giving it more work), or, if it comes again, ends the engine (the runs in its
    hands are lost)."""
    noted: list[int] = []

    def handler(signum, frame):
        noted.append(signum)
        if len(noted) > 1:
            engine.stop()
            raise Interrupted(signum)
        with contextlib.suppress(ProcessLookupError):
            os.kill(engine.pid, signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield noted
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_jobs(engine: Engine, specs: Sequence[Any], open_jobs: Callable[[], Sequence[Any]], *,
             max_rows: int, memory_mb: float,
             on_done: Callable[[Sequence[int], Sequence[Outcome]], None],
             here: Callable[[Sequence[int]], list[Outcome]]) -> list[Outcome]:
    """batch.run_jobs with the computing done by the engine: the specs go to it, then
    `open_jobs` gives each its context here (a plain sweep opens its store meanwhile), and
    the rows it sends are recorded on a writer thread as they come (`on_done` hears of each
    run as it is recorded). In a study this returns as soon as every job's result is known,
    and the writer goes on while the engine computes the next generation (`settle` waits
    for it); in a plain sweep, once every run is recorded, with at most two parts of rows
    waiting for the writer (the engine waits to send more: memory stays bounded). What is
    to run alone, or what an engine that ended did not send, is computed and recorded in
    this process by `here` (loading torch). An interrupted engine's rows are recorded
    KILLED, then `Interrupted` is raised, as in-process."""
    from concurrent.futures import Future, wait

    from runner.results import Outcome
    from runner.sweep.study import sweep_plan

    in_study = sweep_plan() is not None
    early: list[Outcome | None] = [None] * len(specs)
    recorded: dict[int, Outcome] = {}
    jobs: list = []
    writes: list = []
    # a short plain sweep's rows, kept once prepared: its report is built from them
    batches: list | None = [] if not in_study and short(specs) else None
    made: set[int] = set()  # the jobs whose rows came (not a failure, not to run alone)
    # a short plain sweep's files are written by the engine while their rows go in here:
    # where (the folder of their runs' artifact folders), and each part's until written
    root: list[str | None] = [None]
    writing: dict[int, tuple] = {}  # first index -> (sqlstore.Elsewhere, Made, indices)

    def told(indices: Sequence[int], outcomes: Sequence[Outcome]) -> None:
        recorded.update(zip(indices, outcomes))
        on_done(indices, outcomes)

    def meanwhile() -> tuple[str | None, bool]:
        jobs.extend(open_jobs())
        if not in_study:
            _report_ready(batches is not None)
            if jobs:
                found = _writer().look_up(jobs)
                root[0] = found if batches is not None else None
        return root[0], not in_study  # a study records the last generation meanwhile

    def write(fn: Callable[..., Any], *args) -> None:
        if in_study:  # recorded once the next generation is sent: not while it is asked
            _held(writes, fn, *args)
            return
        room_for_one(writes)
        writes.append(fn(*args))

    def on_part(indices: list[int], kind: str, payload: Any) -> None:
        from runner.tracking import datasets, sqlstore

        writer = _writer()
        if kind == "made":
            rows, data, ids = payload
            part, rows = [jobs[i] for i in indices], replace(rows, inputs=datasets.from_data(data))
            if batches is None:
                write(writer.made, indices, part, rows, told)
            else:
                elsewhere = None
                if ids is not None:  # the files come once written (the fallback's: `written`)
                    rows = replace(rows, files=Future())
                    elsewhere = sqlstore.Elsewhere(root[0], ids)
                    writing[indices[0]] = elsewhere, rows, indices
                batches.append(writer.prepare(part, rows, elsewhere))
                write(writer.commit, indices, part, batches[-1], told)
            made.update(indices)
            for i, record in zip(indices, rows.records):
                early[i] = Outcome(None, record.result())
        elif kind == "written":
            (problem, files), (elsewhere, rows, _) = payload, writing.pop(indices[0])
            rows.files.set_result(files or [_copied(elsewhere.root, i) for i in elsewhere.ids])
            elsewhere.done(problem)
        elif kind == "failure":
            write(writer.failure, indices[0], jobs[indices[0]], _Failure(payload), told)
            early[indices[0]] = Outcome.failure(payload)
        # "alone": left to run here

    try:
        signum = engine.compute(specs, max_rows, memory_mb, on_part, meanwhile,
                                report_next=not in_study)
    finally:  # an engine that ended before writing a part's files: its commit fails, and
        #  the runs are logged one by one with files made here (all but plots of their own)
        for elsewhere, rows, indices in writing.values():
            rows.files.set_result([r.files(jobs[i][0].yaml) for i, r in zip(indices, rows.records)])
            elsewhere.done("the engine ended before writing them")
    if batches is not None and not signum and len(made) == len(specs):
        _report_early(batches, len(specs))
    batches = None
    if not in_study and not signum and not engine.draws and whole_sweep(len(specs)):
        engine.stop()  # no more work for it: its memory is freed while the rows go in
    _WRITES.append(writes)
    if signum or not in_study:
        settle()
    if signum:
        raise Interrupted(signum)
    while len(_WRITES) > 2:  # the generation before the last one is recorded (memory)
        wait(_WRITES.pop(0))
    rest = [i for i, outcome in enumerate(early) if outcome is None]
    if rest:
        for i, outcome in zip(rest, here(rest)):
            early[i] = outcome
    if not in_study:  # recorded: with their run ids
        early = [recorded.get(i, outcome) for i, outcome in enumerate(early)]
    return early


def room_for_one(writes: Sequence[Future]) -> None:
    """Wait (asleep: the writer thread needs the interpreter lock) until at most one of
    `writes` is unfinished."""
    from concurrent.futures import FIRST_COMPLETED, wait

    pending = [w for w in writes if not w.done()]
    while len(pending) > 1:
        pending = list(wait(pending, return_when=FIRST_COMPLETED).not_done)


def _report_ready(early: bool) -> None:
    """While a plain sweep is computed: what its report needs loaded (pyplot, a first
    figure drawn: about half a second that its end no longer waits for), and, if `early`,
    the process that builds it (forked now: warm too) as soon as the rows are prepared."""
    from runner.headless import warm_up
    from runner.sweep import summary

    warm_up()
    if early:
        summary.prepare_report(warm=True)


def short(specs: Sequence[Any]) -> bool:
    """Whether a sweep's trajectories are short (under the file writers' `here_lines` lines
    in all): its files are written in place, not by the writer processes, and a plain
    sweep keeps its rows once prepared until its report has them (100 runs of 210 steps:
    21,100 lines, 64,000 metric rows, 20 MB)."""
    from runner.tracking.files import Writers

    return sum(spec.steps + 1 for spec in specs) < Writers.shared().here_lines


def whole_sweep(count: int) -> bool:
    """Whether `count` jobs launched are a plain sweep's every job (none are to come)."""
    from runner.sweep.callbacks import sweep_info

    info = sweep_info()
    return info is not None and info.get("jobs") == count


def _report_early(batches: list[Future], count: int) -> None:
    """The report of a plain sweep whose rows all came from the engine (`batches`, being
    prepared to be committed), built from them while they are committed: the tail of a
    short sweep (summary.report_early). Not where this launch is not the whole sweep, or a
    part is logged run by run (its ids are made as it is written)."""
    from runner.report.data import KEYS
    from runner.sweep import summary
    from runner.sweep.callbacks import sweep_info
    from runner.tracking import sqlstore

    if not whole_sweep(count):
        return
    info = sweep_info()
    try:
        prepared = [future.result()[1] for future in batches]
    except Exception:  # noqa: BLE001 - its commit says what failed; the report reads the store
        return
    if all(p is not None for p in prepared):
        # the best run's plots early only from files written in place (none by the writer
        # processes), once the commit has written them (FILES_WAIT_S: else from the store)
        summary.report_early(
            info, *sqlstore.read_back(prepared, KEYS),
            plots=bool(info.get("best_plots") and not any(p.pending for p in prepared)),
            files=lambda: all(p.written.wait(FILES_WAIT_S) for p in prepared))


def later(fn: Callable[..., Any], *args, default: Any = None) -> Callable[[], Any]:
    """fn(*args) computed by the engine, idle once the sweep is computed, with torch and
    pyplot loaded (a best run's plots build its objective); without one, or in a process
    forked from the one that owns it, in a forked process (runner.forked.forked). Calling
    what is returned waits for the value; `default` if the engine ends first."""
    from runner.forked import forked

    if not serving():
        return forked(fn, *args, default=default)
    engine = _RUNNING[0]
    try:
        engine.conn.send(("call", fn, args))
    except Exception:  # noqa: BLE001 - arguments that do not pickle, an engine that ended
        return forked(fn, *args, default=default)

    def value() -> Any:
        try:
            kind, payload = engine.conn.recv()
        except (EOFError, OSError):
            engine.stop()
            return default
        return payload if kind == "value" else default

    return value


# the writer of a batched study's runs, kept across its generations, and their writes;
# a generation's writes are held until the next one is sent to the engine: recorded while
# the engine computes, not while this process tells and asks (one interpreter lock)
_WRITER: list = []
_WRITES: list[list] = []
_HELD: list[Callable[[], None]] = []


def _held(writes: list, write: Callable[..., Any], *args) -> None:
    _HELD.append(lambda: writes.append(write(*args)))


def _release() -> None:
    while _HELD:
        _HELD.pop(0)()


def _writer():
    if not _WRITER:
        from runner.tracking.pipeline import RowWriter

        _WRITER.append(RowWriter())
    return _WRITER[0]


def settle() -> None:
    """Wait until every run the engine's jobs made is recorded."""
    from concurrent.futures import wait

    _release()
    while _WRITES:
        wait(_WRITES.pop(0))


class _Failure(Exception):
    """A configuration that cannot run, as the engine found it (its message)."""


# ---- the engine's process


def _serve(conn) -> None:
    noted: list[int] = []  # a signal that came while not computing: it stops the next work
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: noted.append(signum))
    _die_with_parent()
    import torch

    from runner import loop
    from runner.sweep import batch  # torch, the objectives and optimizers: the point

    # one thread while the command works on the other core (loading MLflow, recording):
    # torch's second thread would fight it (measured: 100 MLPs' sweep 0.7 s slower with two);
    # a large batch takes them all once the command waits for its rows (loop.SHARED_CORES:
    # 100 MLPs' sweep 0.2 s faster, the same bits)
    cores = torch.get_num_threads()
    torch.set_num_threads(1)
    sink = None
    loop.SHARED_CORES[:] = [lambda: cores if sink is not None and sink.awaited() else 1]

    collector.resume()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] == "call":
            _call(conn, *message[1:])
            continue
        _, specs, max_rows, memory_mb, report_next = message
        jobs = [(spec, None) for spec in specs]
        sink = _Sent(conn)

        def go_on() -> None:
            if noted:
                raise Interrupted(noted[0])

        try:
            for group in batch.group_jobs(jobs):
                go_on()
                batch.run_group(group, jobs, max_rows, memory_mb, sink)
            go_on()
            conn.send(("end", sink.plane))
        except Interrupted as exc:
            noted.clear()
            conn.send(("interrupted", exc.signum))
            continue
        finally:
            sink.root()  # the command's "where", read now if no rows asked for it
        if report_next and sink.plane:  # a 2-D best run's plots may come next (later),
            #  drawn warm (the others' need no objective: runner.plot draws them elsewhere)
            from runner import plot  # noqa: F401 - what they are drawn with
            from runner.headless import warm_up

            warm_up()


def _call(conn, fn: Callable[..., Any], args: tuple) -> None:
    """Send fn(*args), or that it failed (the caller has a default): a value that does not
    pickle fails before anything is written."""
    try:
        conn.send(("value", fn(*args)))
    except Exception as exc:  # noqa: BLE001 - the caller's default stands for it
        conn.send(("failed", str(exc)))


def _die_with_parent() -> None:
    """Be killed when the command dies (Linux's PR_SET_PDEATHSIG), mid-computation too."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def _copied(root: str, run_id: str) -> RunFiles:
    """A run's files as the engine wrote them: RunFiles that copy its artifact folder."""
    from runner.tracking.files import RunFiles, copy_folder, run_folder

    return RunFiles({}, None, functools.partial(copy_folder, run_folder(root, run_id)))


def _write_files(root: str, ids: Sequence[str], files: Sequence[Any]) -> str | None:
    """Each run's files (RunFiles) into its artifact folder; what failed, if anything did."""
    from pathlib import Path

    from runner.tracking.files import run_folder

    try:
        for run_id, run_files in zip(ids, files):
            run_files.write(Path(run_folder(root, run_id)))
    except Exception as exc:  # noqa: BLE001 - the command's commit fails with it
        return f"{type(exc).__name__}: {exc}"
    return None


class _Sent:
    """run_group's sink in the engine: every part goes to the command at once."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.plane = False  # whether a 2-D objective's rows were sent
        self.where: list[tuple] = []  # the command's answer, once read: (root, idle)
        self.sent = False  # whether rows were sent

    def root(self) -> str | None:
        """Where the rows' files are to be written (the folder of their runs' artifact
        folders), if here: the command says so once it has opened its store."""
        if not self.where:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):  # the command ended: so does this, at its next read
                message = ("where", None, False)
            self.where.append(message[1:])
        return self.where[0][0]

    def awaited(self) -> bool:
        """Whether the command is waiting for these rows, with nothing else to do: it has
        said so (with where their files go), and no rows were sent since."""
        if self.sent or not (self.where or self.conn.poll(0)):
            return False
        self.root()
        return self.where[0][1]

    def failure(self, index: int, job, exc: Exception) -> None:
        self.conn.send(("part", [index], "failure", str(exc)))

    def alone(self, index: int) -> None:
        self.conn.send(("part", [index], "alone", None))

    def wait_for_room(self) -> None:
        """The pipe is the bound: a part waits to be sent until the command reads."""

    def rows(self, indices: Sequence[int], jobs, trace, rows: Sequence[int], objective,
             start_ms: int, status: str | None = None) -> None:
        """The rows' records and files, sent in parts of at most PART_BYTES of their trace
        (each part's records and files, pickled, cost about 3.5 times that in each process:
        a long history's chunk sent whole doubled the sweep's memory). Where the command says
        (`root`), a part's records go first, with run ids made here; then its files are made
        and written here, into those runs' artifact folders, while the command makes the
        rows ready and inserts them; then whether that failed (with the files, the command's
        fallback, if it did: runs logged one by one)."""
        from runner.artifacts import read_records, rows_files
        from runner.results import Made

        self.plane, self.sent = self.plane or objective.dim == 2, True
        data = objective.data()
        inputs = None if data is None else tuple(data)
        size = max(1, int(PART_BYTES * trace.batch // max(1, trace.kept_bytes)))
        for first in range(0, len(rows), size):
            part = range(first, min(len(rows), first + size))
            part_jobs = [jobs[k] for k in part]
            records = read_records(trace, [rows[k] for k in part], objective, status)
            root, sent = self.root(), [indices[k] for k in part]
            if root is None:
                made = Made(records, rows_files(part_jobs, records, objective), (), start_ms)
                self.conn.send(("part", sent, "made", (made, inputs, None)))
                continue
            ids = [uuid.uuid4().hex for _ in part]
            self.conn.send(("part", sent, "made", (Made(records, [], (), start_ms), inputs, ids)))
            files = rows_files(part_jobs, records, objective)
            problem = _write_files(root, ids, files)
            self.conn.send(("part", sent, "written", (problem, files if problem else None)))

    def chunk(self, writes: list) -> None:
        pass

