"""A command's process ends without Python's teardown of its modules.

After a command's last line, CPython tears down every module it loaded, object by object:
with torch, MLflow and Hydra loaded that takes 1 to 1.5 s here, more than the work of a
short run, and frees nothing the operating system would not. So the command ends as the
interpreter's own exit does up to that point (non-daemon threads joined after the
executors' exit hooks, then `atexit` handlers: helper pools, multiprocessing's children,
logging's flush; the standard streams flushed) and then leaves with `os._exit`.

Those two steps of the interpreter's exit have no public API: `threading._shutdown` and
`atexit._run_exitfuncs`, which CPython's finalisation itself calls (fenced here).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import NoReturn


def run_and_exit(command: Callable[[], object]) -> NoReturn:
    """Run the command, then end the process with its exit status (as `sys.exit` gives
    it: None 0, a number itself, a message printed to stderr and 1). Any other exception
    propagates as usual (a traceback, Python's own exit)."""
    try:
        command()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    end(code)


def end(code: object) -> NoReturn:
    """Exit with `code` once the threads and exit hooks are done: they finish the runs'
    last writes, so a signal now (a late Ctrl-C) is ignored rather than cut them short
    with a traceback; the command's work is over either way."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    threading._shutdown()  # the executors' exit hooks, then every non-daemon thread joined
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`) or stream
            pass
    os._exit(code or 0)
