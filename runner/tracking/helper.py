"""Where a job's MLflow requests are made: in this process (`HERE`), or for a single run in a
helper process forked when the command starts (`Forked`).

A 1-step run spent longer loading libraries than running: torch and matplotlib for the
computation and its plots, MLflow and its SQL store (SQLAlchemy's ORM) for the record, one
after the other. With a helper they load in two processes at once: the command forks it
before importing torch; the helper imports MLflow and opens the store if it exists, then
makes the run's requests (the functions of runner.tracking.runs: open the experiment, start,
finish or stop the run) as the command sends them, with plain data: a Context, numpy
arrays, a Record, the files (plots already drawn). Neither process loads what the other one
needs.

The helper ignores SIGINT and SIGTERM (Ctrl-C reaches the whole process group): the command
decides how the run ends and has the helper record it. If the command dies (SIGKILL), the
helper sees the pipe close and exits; a run it had started stays RUNNING, as it would
without a helper, until a resume ends it KILLED.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import signal
import sys

from runner import collector
from runner.errors import TrackingError

REQUESTS = "runner.tracking.runs"  # the module whose functions a request names


def request(name: str, *args, **kwargs):
    return getattr(importlib.import_module(REQUESTS), name)(*args, **kwargs)


class Here:
    """Requests made in this process: a sweep's jobs, whose launcher has MLflow loaded."""

    def call(self, name: str, *args, **kwargs):
        return request(name, *args, **kwargs)

    def close(self) -> None:
        pass


HERE = Here()


class Forked:
    """A helper process making the requests; `warm_up` (a request's name and arguments) is
    what it does first, while this process goes on (loading torch)."""

    def __init__(self, *warm_up) -> None:
        from runner.forked import serving

        self.used = False
        self.owed = 0  # replies not read yet: a call an interrupt cut short leaves its own
        self.pid, self.conn = serving(_serve, warm_up)

    def call(self, name: str, *args, **kwargs):
        """The request's result, or its exception raised here."""
        self.used = True
        try:
            self.conn.send((name, args, kwargs))
            self.owed += 1
            for _ in range(self.owed - 1):  # the replies of calls cut short come first
                self.conn.recv()
                self.owed -= 1
            ok, value = self.conn.recv()
            self.owed -= 1
        except (EOFError, OSError):
            raise TrackingError("the process recording the run ended unexpectedly") from None
        if ok:
            return value
        raise _rebuilt(*value)

    def close(self) -> None:
        """Let the helper finish what it was asked and end; one never asked anything (bad
        input found before the run) is ended at once."""
        with contextlib.suppress(OSError):
            self.conn.close()
        if not self.used:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _serve(conn, warm_up: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(Exception):  # only to save time: a request does it anyway
        request(*warm_up)
    collector.resume()  # MLflow is loaded (the command paused the collector at its start)
    while True:
        try:
            name, args, kwargs = conn.recv()
        except (EOFError, OSError):
            break
        try:
            reply = (True, request(name, *args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - raised again in the command
            reply = (False, _portable(exc))
        for stream in (sys.stdout, sys.stderr):  # what it printed comes before the reply
            stream.flush()
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - a result that cannot be pickled
            conn.send((False, _portable(exc)))


def _portable(exc: BaseException) -> tuple[bytes | None, str, str]:
    """An exception as it crosses the pipe: pickled where it can be, and its type and text."""
    try:
        pickled = pickle.dumps(exc)
        pickle.loads(pickled)
    except Exception:  # noqa: BLE001
        pickled = None
    return pickled, type(exc).__name__, str(exc)


def _rebuilt(pickled: bytes | None, kind: str, text: str) -> BaseException:
    if pickled is not None:
        with contextlib.suppress(Exception):
            return pickle.loads(pickled)
    return RuntimeError(f"{kind}: {text}")
