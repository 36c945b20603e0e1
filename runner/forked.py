"""A function computed in a forked process while this one goes on (where the platform forks).

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
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(1)
            with os.fdopen(write, "wb") as out:
                out.write(pickle.dumps(fn(*args)))
        finally:
            os._exit(0)
    os.close(write)

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
