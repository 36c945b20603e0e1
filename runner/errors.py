"""Errors phrased for the user, and signals turned into an exception that ends runs KILLED."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class ConfigError(ValueError):
    """A config value the runner cannot use; phrased for the user."""


class TrackingError(RuntimeError):
    """The tracking store cannot be used; phrased for the user."""


class RunFailed(RuntimeError):
    """A run that was open failed; it has ended FAILED with `error` naming the cause."""

    def __init__(self, run_id: str, cause: BaseException) -> None:
        super().__init__(describe(cause))
        self.run_id, self.cause = run_id, cause


def describe(exc: BaseException) -> str:
    """`Type: first line of the message`, what a FAILED run's `error` tag says."""
    return f"{type(exc).__name__}: {first_line(exc)}"


class Interrupted(BaseException):
    """Raised in the main thread by SIGTERM/SIGINT so open runs end as KILLED."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def wraps_an_interrupt(exc: BaseException) -> bool:
    """Whether an exception was caused by a Ctrl-C (Python 3.11 turns a KeyboardInterrupt
    raised while a class is made, in a descriptor's `__set_name__`, into a RuntimeError:
    a Ctrl-C while torch loads can end so)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def interrupted_between_runs(signum: int) -> str:
    """What a command says when a signal ends it while no run is being computed (loading,
    composing, between a sweep's jobs)."""
    return (f"interrupted ({signal.Signals(signum).name}): what was recorded is kept (a sweep: "
            "resume=true completes it)")


# Notes SQLAlchemy puts on a line of their own before the error itself (an autoflush's
# "(raised as a result of Query-invoked autoflush; ...)\n(sqlite3.OperationalError) database
# is locked"): the line a user needs is the one after
_LEADING_NOTES = ("(raised as a result of ",)


def first_line(exc: BaseException) -> str:
    """An error's first line that says what went wrong (past SQLAlchemy's leading notes), or
    its type's name when it has no message."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    while len(lines) > 1 and lines[0].startswith(_LEADING_NOTES):
        lines.pop(0)
    return lines[0] if lines else type(exc).__name__


class Pending:
    """A signal that arrived while interrupts were deferred, if one did."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def raise_now(self) -> None:
        """Raise Interrupted for the signal that arrived (once)."""
        signum, self.signum = self.signum, None
        if signum is not None:
            raise Interrupted(signum)


@contextlib.contextmanager
def deferred_interrupts(raise_on_exit: bool = True) -> Iterator[Pending]:
    """SIGTERM and SIGINT wait until the block is done, then raise Interrupted (unless the
    caller raises it itself from the Pending it is given): for writes that must not be cut,
    such as creating or ending a run. Outside the main thread, signals are left alone."""
    pending = Pending()

    def handler(signum, frame):
        pending.signum = pending.signum or signum

    previous = _install(handler)
    try:
        yield pending
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    if raise_on_exit:
        pending.raise_now()


def _install(handler) -> dict:
    """Install `handler` for SIGTERM and SIGINT; the handlers it replaced (none outside the
    main thread, where Python allows no handlers)."""
    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread
        for sig, old in previous.items():
            signal.signal(sig, old)
        return {}
    return previous


@contextlib.contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """Turn SIGTERM (and SIGINT) into `Interrupted` in the main thread, for this block."""
    def handler(signum, frame):
        raise Interrupted(signum)

    previous = _install(handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
