"""A function computed in a forked process while this one goes on (where the platform forks).

The child runs only the function: it ignores Ctrl-C (the caller decides), computes with
torch on one thread (where torch is loaded: the OpenMP pool it would use is the parent's,
not forked), hands back the pickled value through a pipe and ends with os._exit, so nothing
of the caller's (atexit handlers, buffered output) runs twice. A function that fails, or a
value that cannot be pickled, gives `default`.

A child forked early can get ready first (`prepare`: the imports its work needs, while the
caller does something else) and then wait for the go (`Later.release`, or asking for the
value), so that the function sees the state of that moment; the go can bring the last
arguments, known only then. If the caller ends before, the child ends too, having computed
nothing.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import Any


class Later:
    """The value of a function computed in a forked process: calling waits for it."""

    def __init__(self, pid: int, read: int, gate: int | None, default: Any) -> None:
        self.pid, self.read, self.gate, self.default = pid, read, gate, default

    def release(self, *args) -> None:
        """Let a child forked with `prepare` compute, now (once), with `args` after those
        given to `forked`. They go through the gate, their length first: processes forked
        since hold copies of it, so that its end cannot tell they are all there."""
        if self.gate is not None:
            data = pickle.dumps(args)
            with contextlib.suppress(OSError), os.fdopen(self.gate, "wb") as gate:
                gate.write(len(data).to_bytes(8, "little") + data)  # a child that ended:
            self.gate = None  #                                       its value is the default

    def stop(self) -> None:
        """End the child now, its value unwanted."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        os.close(self.read)
        if self.gate is not None:
            os.close(self.gate)
            self.gate = None

    def __call__(self) -> Any:
        self.release()
        with os.fdopen(self.read, "rb") as pipe:
            data = pipe.read()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        try:
            return pickle.loads(data)
        except Exception:  # noqa: BLE001 - the function failed: nothing was written
            return self.default


class _Here(Later):
    """Where the platform does not fork: the value computed here, when asked for."""

    def __init__(self, fn: Callable[..., Any], args: tuple) -> None:
        self.fn, self.args, self.gate = fn, args, True  # gate: not released yet

    def release(self, *args) -> None:
        if self.gate:
            self.args, self.gate = (*self.args, *args), False

    def stop(self) -> None:
        self.gate = False

    def __call__(self) -> Any:
        return self.fn(*self.args)


def forked(fn: Callable[..., Any], *args, default: Any = None,
           prepare: Callable[[], Any] | None = None) -> Later:
    """Start fn(*args) in a forked process; returns what waits for its value. With
    `prepare`, the child runs it at once but fn only once released (`Later.release`, which
    may add arguments)."""
    if not hasattr(os, "fork"):
        return _Here(fn, args)
    read, write = os.pipe()
    gate_read, gate = os.pipe() if prepare is not None else (None, None)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            if gate is not None:
                os.close(gate)
                with contextlib.suppress(Exception):
                    prepare()
                header = _read(gate_read, 8)  # the arguments' length
                given = _read(gate_read, int.from_bytes(header, "little")) if header else b""
                if not given:  # the caller ended (or gave up): nothing to do
                    os._exit(0)
                args = (*args, *pickle.loads(given))
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(1)
            with os.fdopen(write, "wb") as out:
                out.write(pickle.dumps(fn(*args)))
        finally:
            os._exit(0)
    os.close(write)
    if gate_read is not None:
        os.close(gate_read)
    return Later(pid, read, gate, default)


def _read(fd: int, size: int) -> bytes:
    """`size` bytes from a pipe, or fewer where its writers all closed it first."""
    chunks, left = [], size
    while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def serving(serve: Callable[..., Any], *args) -> tuple[int, Any]:
    """Fork a process that runs serve(conn, *args) on its end of a pipe and then ends (never
    back into the caller's code); this process's pid for it and its own end of the pipe."""
    from multiprocessing.connection import Pipe

    ours, theirs = Pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the child would write this process's buffered output again
    pid = os.fork()
    if pid == 0:
        try:
            ours.close()
            serve(theirs, *args)
        finally:
            os._exit(0)
    theirs.close()
    return pid, ours
