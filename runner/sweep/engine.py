"""The engine: a process that computes an Optuna study's batched generations, forked as the
command starts, before it loads MLflow or torch.

In a batched study (`hydra/sweeper=optuna hydra/launcher=vectorized`) the command loads
Hydra, MLflow and Optuna, opens the store and asks the first trials, then loads torch and
computes: about 3.5 s of libraries one after the other on a 2-core machine, a third of a
200-trial search; and each generation is computed, then recorded, then told, one after
the other. Forked first, the engine loads torch (and the objectives and optimizers) on the
other core meanwhile, and the command never loads it. Each generation, the command sends
the jobs' RunSpecs; the engine groups and computes them as `batch.run_group` does
in-process and sends back, a chunk at a time, each row's record and files (`Made`), the
message of a configuration that cannot run, or that a configuration is to run alone
(L-BFGS, torch.optim, a stacked step that failed), which the command then runs itself. The
engine never writes to the store.

The command tells the study a generation's results as soon as they arrive and records the
runs on its writer thread while the engine computes the next generation (`settle` waits
for them; at most three generations are held). A process killed in between leaves told
trials without runs: the next invocation runs them again (runner.sweep.study.unrecorded);
the same parameters give the same values, bit for bit.

Only where it pays and is safe: the command line names both plugins, the study has no pruner
(a pruning row reports to its trial from inside the loop), the jobs do not resume, and the
platform forks. `GRADLAB_ENGINE=0` turns it off. If the engine ends unexpectedly the
command computes what it had not sent back itself; if the command ends, the engine ends
(it is killed with it on Linux, and sees its pipe close elsewhere).

Signals: while the engine computes, the first SIGINT or SIGTERM turns into `Interrupted` as
in-process (the rows end KILLED with the steps taken and are sent back); one that comes
while it does not (loading, between groups) stops the next work it is given, before it
starts. Ctrl-C reaches both processes; a SIGTERM to the command is passed on. A second
signal to the command kills the engine.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import wait
from dataclasses import replace
from typing import Any

from runner import collector
from runner.errors import Interrupted
from runner.results import Made, Outcome

OFF_ENV = "GRADLAB_ENGINE"  # "0": every generation computed in the command's process
_RUNNING: list[Engine] = []


def wanted(argv: Sequence[str]) -> bool:
    """Whether this command line is a batched study the engine is for."""
    return (hasattr(os, "fork") and os.environ.get(OFF_ENV, "1") != "0"
            and bool({"-m", "--multirun"} & set(argv))
            and "hydra/launcher=vectorized" in argv and "hydra/sweeper=optuna" in argv)


def start(argv: Sequence[str]) -> None:
    """Fork the engine if the command line is one it is for (before any import of MLflow
    or torch, and before any thread exists)."""
    if wanted(argv) and not _RUNNING:
        _RUNNING.append(Engine())


def for_jobs(jobs: Sequence[tuple[Any, Any]]) -> Engine | None:
    """The engine, if there is one and these jobs may go to it; one that may not serve the
    sweep's first jobs (a pruner, resume) ends: it will not serve any."""
    if not _RUNNING or not jobs:
        return None
    engine = _RUNNING[0]
    from runner.sweep.study import sweep_plan

    plan = sweep_plan() or {}
    if engine.alive and not plan.get("prune_every") and not jobs[0][0].resume:
        return engine
    engine.stop()
    return None


class Engine:
    """The command's side: the engine's process and the pipe to it."""

    def __init__(self) -> None:
        from runner.forked import serving

        self.pid, self.conn = serving(_serve)
        self.alive = True
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
                on_part: Callable[[list[int], str, Any], None]) -> int:
        """Have the engine compute these jobs; `on_part(indices, kind, payload)` hears of
        each part as it comes: "made" (the rows' Made and data set), "failure" (a message)
        or "alone". Returns the signal that interrupted the work (0 if none). An engine
        that ended leaves unreported the jobs it had not sent back."""
        with _passed_on(self) as signals:
            try:
                self.conn.send(("jobs", list(specs), max_rows, memory_mb))
                _release()  # the last generation's runs: recorded while these are computed
                while (message := self.conn.recv())[0] == "part":
                    on_part(*message[1:])
            except (EOFError, OSError):  # it ended: the rest is computed here
                self.stop()
                message = ("lost",)
        if message[0] == "interrupted":
            return message[1]
        return signals[0] if signals else 0


@contextlib.contextmanager
def _passed_on(engine: Engine):
    """While the engine computes: a SIGTERM (or SIGINT) here is noted and passed on to it,
    or, if it comes again, ends the engine (the runs in its hands are lost)."""
    noted: list[int] = []

    def handler(signum, frame):
        noted.append(signum)
        if len(noted) > 1:
            engine.stop()
            raise Interrupted(signum)
        if signum == signal.SIGTERM:  # Ctrl-C reached the engine itself
            with contextlib.suppress(ProcessLookupError):
                os.kill(engine.pid, signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield noted
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_jobs(engine: Engine, jobs: Sequence[tuple[Any, Any]], *, max_rows: int,
             memory_mb: float, on_done: Callable[[Sequence[int], Sequence[Outcome]], None],
             here: Callable[[Sequence[int]], list[Outcome]]) -> list[Outcome]:
    """batch.run_jobs with the computing done by the engine, returning as soon as every
    job's result is known: the rows it sends are recorded here, by a writer that goes on
    while the engine computes the next generation (`settle` waits for it; `on_done` hears
    of each run as it is recorded). What is to run alone, or what an engine that ended did
    not send, is computed and recorded in this process by `here` (loading torch). An
    interrupted engine's rows are recorded KILLED, then `Interrupted` is raised, as
    in-process."""
    from runner.tracking import datasets

    early: list[Outcome | None] = [None] * len(jobs)
    writer = _writer()
    writes: list = []

    def on_part(indices: list[int], kind: str, payload: Any) -> None:
        if kind == "made":
            made, data = payload
            _held(writes, writer.made, indices, [jobs[i] for i in indices],
                  replace(made, inputs=datasets.from_data(data)), on_done)
            for i, record in zip(indices, made.records):
                early[i] = Outcome(None, record.result())
        elif kind == "failure":
            _held(writes, writer.failure, indices[0], jobs[indices[0]], _Failure(payload),
                  on_done)
            early[indices[0]] = Outcome.failure(payload)
        # "alone": left to run here

    signum = engine.compute([spec for spec, _ in jobs], max_rows, memory_mb, on_part)
    _WRITES.append(writes)
    if signum:
        settle()
        raise Interrupted(signum)
    while len(_WRITES) > 2:  # the generation before the last one is recorded (memory)
        wait(_WRITES.pop(0))
    rest = [i for i, outcome in enumerate(early) if outcome is None]
    if rest:
        for i, outcome in zip(rest, here(rest)):
            early[i] = outcome
    return early


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
    from runner.sweep import batch  # torch, the objectives and optimizers: the point

    collector.resume()
    while True:
        try:
            _, specs, max_rows, memory_mb = conn.recv()
        except (EOFError, OSError):
            return
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
            conn.send(("end",))
        except Interrupted as exc:
            noted.clear()
            conn.send(("interrupted", exc.signum))


def _die_with_parent() -> None:
    """Be killed when the command dies (Linux's PR_SET_PDEATHSIG), mid-computation too."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


class _Sent:
    """run_group's sink in the engine: every part goes to the command at once."""

    def __init__(self, conn) -> None:
        self.conn = conn

    def failure(self, index: int, job, exc: Exception) -> None:
        self.conn.send(("part", [index], "failure", str(exc)))

    def alone(self, index: int) -> None:
        self.conn.send(("part", [index], "alone", None))

    def wait_for_room(self) -> None:
        """The pipe is the bound: a part waits to be sent until the command reads."""

    def rows(self, indices: Sequence[int], jobs, trace, rows: Sequence[int], objective,
             start_ms: int, status: str | None = None) -> None:
        from runner.artifacts import read_rows

        records, files = read_rows(jobs, trace, rows, objective, status)
        data = objective.data()
        self.conn.send(("part", list(indices), "made",
                        (Made(records, files, (), start_ms),
                         None if data is None else tuple(data))))

    def chunk(self, writes: list) -> None:
        pass

