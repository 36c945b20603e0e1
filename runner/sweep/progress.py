"""A sweep's overall progress on the console: `sweep [####......] 5/18 2.1 s, ETA 5 s`."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from runner.console import sweep_progress
from runner.constants import FAILED, PROGRESS_ENV
from runner.sweep import hydra_private
from runner.sweep.callbacks import is_basic_sweeper


def count_jobs(config: DictConfig) -> int | None:
    """How many jobs the sweep will launch: the grid's size for the basic sweeper and its
    kin, else `n_trials` where the sweeper states it."""
    sweeper = config.hydra.sweeper
    if not is_basic_sweeper(sweeper.get("_target_")):
        return sweeper.get("n_trials")
    params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    return hydra_private.count_jobs([*params, *config.hydra.overrides.task])


def last_status(job_return: JobReturn) -> str:
    """What a finished job reports: its status, or its value for an optimizing sweeper."""
    value = job_return.return_value if job_return.status == JobStatus.COMPLETED else None
    if isinstance(value, dict):
        return value.get("status", "?")
    return f"{value:.4g}" if isinstance(value, float) else FAILED


class SweepProgress(Callback):
    """Counts finished jobs in a file (jobs may run in other processes) and prints the
    sweep's progress after each one (runner.console.sweep_progress)."""

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
        sweep_progress(done, info["total"], time.time() - info["start"], last_status(job_return))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        text = os.environ.pop(PROGRESS_ENV, None)
        if text:
            with contextlib.suppress(OSError):
                os.remove(json.loads(text)["counter"])
