"""Small timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parent.parent


def run_runner(folder: Path, args: Sequence[str], watch: Callable[[int], None] | None = None
               ) -> tuple[float, subprocess.CompletedProcess]:
    """Seconds and the finished process (its output read back) of `python -m runner args` in
    a fresh folder, with its own SQLite store; `watch(pid)` is called every 0.1 s while it
    runs. Stops on a failure."""
    folder.mkdir(parents=True)
    command = [sys.executable, "-m", "runner", *args,
               f"tracking.uri=sqlite:///{folder / 'mlflow.db'}"]
    with open(folder / "stdout.txt", "w+") as out, open(folder / "stderr.txt", "w+") as err:
        start = time.perf_counter()
        popen = subprocess.Popen(command, cwd=folder, stdout=out, stderr=err,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
        while popen.poll() is None:
            if watch is not None:
                watch(popen.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(0.1)
        seconds = time.perf_counter() - start
        out.seek(0), err.seek(0)
        proc = subprocess.CompletedProcess(command, popen.returncode, out.read(), err.read())
    if proc.returncode != 0:
        raise SystemExit(f"{list(args)} failed:\n{proc.stderr[-3000:]}")
    return seconds, proc


@contextlib.contextmanager
def inside(folder: str | Path) -> Iterator[None]:
    """Work in `folder`: MLflow puts a SQLite store's artifacts under ./mlruns of the cwd."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def median_time(fn: Callable[[], object], repeat: int = 7, warmup: int = 1) -> float:
    """Median wall time of fn() in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_table(name: str, title: str, header: list[str], rows: list[list[str]], notes: str = "") -> str:
    """Print a Markdown table and save it to bench/results/<name>.md."""
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    text = "\n".join(lines) + ("\n\n" + notes.strip() if notes else "") + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(text)
    print(text)
    return text
