"""A run's artifact files, and helper processes that write many runs' files in parallel.

Writing a small run's files (trajectory.csv with every step, config.yaml, result.json)
takes about 2 ms, most of it formatting floats and creating files. A vectorised sweep has
hundreds of finished runs at once, so where their trajectories are long (HERE_LINES) their
files are written by helper processes while the launching process records the runs in
MLflow. This module imports only numpy and pyarrow, so a helper starts in a fraction of a
second (about 0.3 s of CPU each, which a short sweep's files do not repay).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

TRAJECTORY = "trajectory.csv"
CSV_ROWS = 8192  # rows formatted at a time: a long run's text never held whole
# a sweep whose trajectories have fewer lines than this in all is written by the thread that
# records it: about 0.15 s (100 runs of 200 steps: 0.07 s), where starting the two helper
# processes costs 0.6 s of CPU that the sweep's computing and recording then lack
HERE_LINES = 50_000


@dataclass
class RunFiles:
    """Texts by file name, the trajectory table (header, values with a column a series and
    a row a step, and the steps) and, if plots were asked for, what draws them into a folder."""

    texts: dict[str, str]
    table: tuple[list[str], np.ndarray, np.ndarray] | None = None
    draw: Callable[[Path], None] | None = None

    def write(self, folder: Path) -> None:
        write_folder(str(folder), self.texts, self.table)
        if self.draw is not None:
            self.draw(folder)


@contextlib.contextmanager
def drawn(files: RunFiles) -> Iterator[RunFiles]:
    """The files with their plots drawn now, here, into a temporary folder that lasts the
    `with`: whoever writes them (a single run's helper process, which loads no matplotlib)
    only copies them."""
    if files.draw is None:
        yield files
        return
    with tempfile.TemporaryDirectory(prefix="gradlab-plots-") as tmp:
        files.draw(Path(tmp))
        yield replace(files, draw=functools.partial(copy_folder, tmp))


def copy_folder(source: str, folder: Path) -> None:
    shutil.copytree(source, folder, dirs_exist_ok=True)


def run_folder(root: str, run_id: str) -> str:
    """A run's artifact folder under its experiment's local artifact folder `root`."""
    return os.path.join(root, run_id, "artifacts")


def write_folder(folder: str, texts: dict[str, str],
                 table: tuple[list[str], np.ndarray, np.ndarray] | None) -> None:
    """Create the folder if needed and write the texts and the table (trajectory.csv)."""
    os.makedirs(folder, exist_ok=True)
    for name, text in texts.items():
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)
    if table is not None:
        header, values, steps = table
        with open(os.path.join(folder, TRAJECTORY), "wb") as f:
            f.write((",".join(["step", *header]) + "\n").encode())
            for start in range(0, len(steps), CSV_ROWS):  # Arrow's buffers stay small
                part = slice(start, start + CSV_ROWS)
                f.write(csv_lines(values[part], steps[part]))


def csv_lines(values: np.ndarray, steps: np.ndarray) -> bytes:
    """CSV lines: the step, then the columns of `values` (rows are steps).

    Each float is written in its shortest form that reads back to the same float64
    (Arrow's formatting, in C++: 5x faster than Python's "%.17g" on these numbers).
    """
    import pyarrow.compute as pc

    n = values.shape[0]
    if n == 0:
        return b""
    columns = [pc.cast(_arrow(np.asarray(steps, dtype=np.int64)), "string")]
    columns += [pc.cast(_arrow(values[:, j]), "string") for j in range(values.shape[1])]
    # each line is "step,v1,...,vk" + "\n" + "": the array's data buffer is then the text
    lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*columns, _arrow_text(",")),
                                        _arrow_text(""), _arrow_text("\n"))
    end = int(np.frombuffer(lines.buffers()[1], dtype=np.int32)[n])
    return lines.buffers()[2].to_pybytes()[:end]


# Arrow values are made here from their buffers: `pyarrow.array` and `pyarrow.scalar` import
# pandas, which took 0.7 s of each writer process's first write (and its memory)
def _arrow(column: np.ndarray):
    """A NumPy column as an Arrow array of the same numbers."""
    import pyarrow as pa

    column = np.ascontiguousarray(column)
    return pa.Array.from_buffers(pa.from_numpy_dtype(column.dtype), len(column),
                                 [None, pa.py_buffer(column)])


def _arrow_text(text: str):
    """A string as an Arrow scalar."""
    import pyarrow as pa

    data = text.encode()
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int32))
    return pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)])[0]


def write_folders(items: Sequence[tuple[str, dict[str, str], tuple | None]]) -> None:
    for item in items:
        write_folder(*item)


def _helper_start(parent: int) -> None:
    """In each helper: Ctrl-C reaches the whole process group, and the launching process
    decides what stops; if that process dies, even by SIGKILL, the helper ends within a
    second (and with the helpers, multiprocessing's resource tracker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    # a process's parent id changes when the parent dies (prctl's PR_SET_PDEATHSIG would
    # follow the thread that started the helper, not the process)
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


class Writers:
    """Helper processes writing runs' folders (texts and tables; plots stay in-process).
    Starting them costs about half a second (a Python and numpy each), so a process keeps
    one pool (`shared`) for all its launches: an Optuna study launches a generation at a
    time."""

    _shared: Writers | None = None

    @classmethod
    def shared(cls) -> Writers:
        """The process's pool, made at the first call and shut down at exit (after the
        writes under way, which the runs that record them wait for anyway)."""
        if cls._shared is None:
            cls._shared = cls()
            atexit.register(cls._shared.close)
        return cls._shared

    def __init__(self, processes: int = 2, here_lines: int = HERE_LINES) -> None:
        self.processes, self.here_lines = processes, here_lines
        # made when started: its queues' locks start multiprocessing's resource tracker, a
        # Python process of its own, which a sweep that writes in place does without
        self.pool: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self.pool is not None

    def start(self) -> None:
        """Start the processes now, once (they start at the first long write otherwise), so
        that they are ready when the first rows are: a launch calls this before it imports
        torch, where many lines of trajectories are to come."""
        if self.pool is None:
            self.pool = ProcessPoolExecutor(self.processes, mp_context=get_context("spawn"),
                                            initializer=_helper_start, initargs=(os.getpid(),))
            for _ in range(self.processes):
                self.pool.submit(int)

    def submit(self, items: list[tuple[str, RunFiles]]) -> list[Future]:
        """Write each (folder, files) pair's texts and table, split among the processes;
        none (the caller writes them) if the processes are not started and the tables are
        short (under `here_lines` lines in all)."""
        if not self.started:
            if sum(len(f.table[2]) for _, f in items if f.table is not None) < self.here_lines:
                return []
            self.start()
        assert self.pool is not None
        work = [(folder, f.texts, f.table) for folder, f in items]
        size = max(1, -(-len(work) // self.processes))
        return [self.pool.submit(write_folders, work[i:i + size])
                for i in range(0, len(work), size)]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def __enter__(self) -> Writers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
