"""A function computed in a forked process while this one goes on (where the platform forks),
and a process forked early to compute one later (`Warm`), its imports done in the meantime.

The child runs only the function: it ignores Ctrl-C (the caller decides), computes with
torch on one thread (where torch is loaded: the OpenMP pool it would use is the parent's,
not forked), hands back the pickled value through a pipe and ends with os._exit, so nothing
of the caller's (atexit handlers, buffered output) runs twice. A function that fails, or a
value that cannot be pickled, gives `default`.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import Any


def forked(fn: Callable[..., Any], *args, default: Any = None) -> Callable[[], Any]:
    """Start fn(*args) in a forked process; returns what waits for its value."""
    if not hasattr(os, "fork"):
        return lambda: fn(*args)
    read, write = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            _child_setup()
            with os.fdopen(write, "wb") as out:
                out.write(pickle.dumps(fn(*args)))
        finally:
            os._exit(0)
    os.close(write)
    return _waiter(read, pid, default)


def _waiter(read: int, pid: int, default: Any) -> Callable[[], Any]:
    def result() -> Any:
        with os.fdopen(read, "rb") as pipe:
            data = pipe.read()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        try:
            return pickle.loads(data)
        except Exception:  # noqa: BLE001 - the function failed: nothing was written
            return default

    return result


def _child_setup() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


class Warm:
    """A process forked now, that runs `warm_up()` (imports, say) at once and then waits for
    one function to compute (`call`), while this process goes on: by the time the function
    is wanted, its imports are done, on another core. Unused, it ends with `close` or when
    this process ends (its request pipe closes). Where there is no fork, `call` computes
    in the caller."""

    def __init__(self, warm_up: Callable[[], None]) -> None:
        self.pid = None
        if not hasattr(os, "fork"):
            return
        request, self._request = os.pipe()
        self._reply, reply = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(self._request)
                os.close(self._reply)
                _child_setup()
                with contextlib.suppress(Exception):
                    warm_up()
                with os.fdopen(request, "rb") as pipe:
                    data = pipe.read()
                if data:
                    fn, args = pickle.loads(data)
                    with os.fdopen(reply, "wb") as out:
                        out.write(pickle.dumps(fn(*args)))
            finally:
                os._exit(0)
        os.close(request)
        os.close(reply)
        self.pid = pid

    def call(self, fn: Callable[..., Any], *args, default: Any = None) -> Callable[[], Any]:
        """Start fn(*args) in the warm process (once; a function and arguments that pickle);
        returns what waits for its value (`default` if it failed)."""
        if self.pid is None:
            return lambda: fn(*args)
        pid, self.pid = self.pid, None
        try:
            with os.fdopen(self._request, "wb") as pipe:
                pipe.write(pickle.dumps((fn, args)))
        except OSError:  # the process is gone: compute here
            self._end(pid)
            return lambda: fn(*args)
        return _waiter(self._reply, pid, default)

    def close(self) -> None:
        """End the process if it was not called."""
        if self.pid is not None:
            os.close(self._request)
            self._end(self.pid)
            self.pid = None

    def _end(self, pid: int) -> None:
        os.close(self._reply)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
