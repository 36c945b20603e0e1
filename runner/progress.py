"""A sweep's overall progress on the console: `sweep [####......] 5/18 2.1 s, ETA 5 s`."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from runner import callbacks
from runner.callbacks import is_basic_sweeper
from runner.console import bar_line

# the sweep's total, start time and counter file, for jobs in this or a worker process
PROGRESS_ENV = "GRADLAB_PROGRESS"


def count_jobs(config: DictConfig) -> int | None:
    """How many jobs the sweep will launch: the grid's size for the basic sweeper and its
    kin, else `n_trials` where the sweeper states it."""
    sweeper = config.hydra.sweeper
    if not is_basic_sweeper(sweeper.get("_target_")):
        return sweeper.get("n_trials")
    params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    return callbacks.count_jobs([*params, *config.hydra.overrides.task])


def progress_line(done: int, total: int | None, elapsed: float, status: str) -> str:
    if total:
        return f"{bar_line(done, total, elapsed, 'sweep')}  last: {status}"
    return f"sweep: {done} jobs done, {elapsed:.1f} s  last: {status}"


class SweepProgress(Callback):
    """Counts finished jobs in a file (jobs may run in other processes) and prints the
    sweep's progress on stderr after each one."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        fd, counter = tempfile.mkstemp(prefix="gradlab-progress-")
        os.close(fd)
        os.environ[PROGRESS_ENV] = json.dumps(
            {"total": count_jobs(config), "start": time.time(), "counter": counter})

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        text = os.environ.get(PROGRESS_ENV)
        if not text:  # a single run: no sweep to report on
            return
        info = json.loads(text)
        # one byte per finished job; O_APPEND writes are atomic across processes
        fd = os.open(info["counter"], os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, b".")
        finally:
            os.close(fd)
        done = os.path.getsize(info["counter"])
        completed = job_return.status == JobStatus.COMPLETED
        value = job_return.return_value if completed else None
        status = (value.get("status", "?") if isinstance(value, dict)
                  else f"{value:.4g}" if isinstance(value, float) else "failed")
        print(progress_line(done, info["total"], time.time() - info["start"], status),
              file=sys.stderr, flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        text = os.environ.pop(PROGRESS_ENV, None)
        if text:
            with contextlib.suppress(OSError):
                os.remove(json.loads(text)["counter"])
