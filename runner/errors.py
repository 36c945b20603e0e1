"""Errors phrased for the user, and signals turned into an exception that ends runs KILLED."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class ConfigError(ValueError):
    """A config value the runner cannot use; phrased for the user."""


class TrackingError(RuntimeError):
    """The tracking store cannot be used; phrased for the user."""


class Interrupted(BaseException):
    """Raised in the main thread by SIGTERM/SIGINT so open runs end as KILLED."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def first_line(exc: BaseException) -> str:
    """An error's first line, or its type's name when it has no message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """Turn SIGTERM (and SIGINT) into `Interrupted` in the main thread, for this block."""
    def handler(signum, frame):
        raise Interrupted(signum)

    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        previous = {}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
