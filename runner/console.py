"""Console output, one printer for all of it: a run's progress bar, a sweep's progress, and
the one-line summary of a run."""

from __future__ import annotations

import sys
import time

# a run's bar appears only once it has taken this long, and only on a terminal
DELAY_S = 1.0


class Progress:
    """A one-line progress bar on stderr, shown after DELAY_S on a terminal, else silent."""

    def __init__(self, total: int, label: str, stream=None) -> None:
        self.total, self.label = max(int(total), 1), label
        self.stream = stream or sys.stderr
        self.enabled = is_terminal(self.stream)
        self.start = self.shown = 0.0

    def __enter__(self) -> Progress:
        self.start = time.perf_counter()
        return self

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.start < DELAY_S or now - self.shown < 0.1:
            return
        self.shown = now
        self.stream.write("\r" + bar_line(done, self.total, now - self.start, self.label))
        self.stream.flush()

    def __exit__(self, *exc) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


def sweep_progress(done: int, total: int | None, elapsed: float, last: str,
                   stream=None) -> None:
    """A sweep's progress after its `done`-th job: on a terminal a bar redrawn in place,
    else a line at each tenth of the sweep (and each job of a sweep of ten or fewer).
    Stateless, so jobs finishing in other processes can call it too."""
    stream = stream or sys.stderr
    if total:
        line = f"{bar_line(done, total, elapsed, 'sweep')}  last: {last}"
        due = done * 10 // total != (done - 1) * 10 // total
    else:
        line, due = f"sweep: {done} jobs done, {elapsed:.1f} s  last: {last}", True
    if is_terminal(stream):
        stream.write("\r" + line + ("\n" if done == total else ""))
    elif due or done == total:
        stream.write(line + "\n")
    stream.flush()


def is_terminal(stream) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def bar_line(done: int, total: int, elapsed: float, label: str, width: int = 30) -> str:
    """`label [#####.....] 50/100 12.0 s, ETA 12 s`"""
    frac = min(done / total, 1.0) if total else 1.0
    filled = int(frac * width)
    eta = elapsed / frac - elapsed if frac > 0 else float("nan")
    return (f"{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
            f"{elapsed:.1f} s, ETA {eta:.0f} s")


def summary_line(name: str, steps: int, final_loss: float, status: str, run_id: str) -> str:
    return f"{name}: {steps} steps, final loss {final_loss:.6g}, {status}, run {run_id}"
