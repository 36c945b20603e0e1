"""`hydra/launcher=vectorized`: a multirun's jobs as batched computations, one MLflow run each."""

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus, configure_log, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hydra_plugins.vectorized_launcher.composer import Composer

log = logging.getLogger(__name__)


@dataclass
class VectorizedLauncherConf:
    _target_: str = "hydra_plugins.vectorized_launcher.vectorized_launcher.VectorizedLauncher"
    max_rows: int = 4096  # rows per batched computation
    memory_mb: float = 1024.0  # bound on one batch's recorded history (MB)


ConfigStore.instance().store(group="hydra/launcher", name="vectorized",
                             node=VectorizedLauncherConf, provider="gradlab")


class VectorizedLauncher(Launcher):
    """Compose every job, group those that differ only in batchable values, run each group
    as one stacked computation (runner.batch) and log every configuration as its own run."""

    def __init__(self, max_rows: int = 4096, memory_mb: float = 1024.0) -> None:
        self.max_rows, self.memory_mb = int(max_rows), float(memory_mb)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from runner.app import context
        from runner.batch import Job, run_jobs
        from runner.callbacks import sweep_info
        from runner.console import bar_line
        from runner.tracking import Interrupted

        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        total, start = len(job_overrides), time.perf_counter()
        log.info(f"Launching {total} jobs vectorized")
        jobs, composer, sweep = [], Composer(self.hydra_context, self.config), sweep_info()
        for overrides in job_overrides:
            task_cfg, choices = composer.compose(list(overrides))
            jobs.append(Job(task_cfg, context(task_cfg, choices, overrides, sweep, Path.cwd())))
        done, shown = 0, 0

        def progress(n: int) -> None:  # a bar on a terminal, else a line every tenth
            nonlocal done, shown
            done += n
            line = bar_line(done, total, time.perf_counter() - start, "sweep")
            if sys.stderr.isatty():
                sys.stderr.write("\r" + line + ("\n" if done == total else ""))
            elif done == total or done * 10 // total > shown * 10 // total:
                shown = done
                log.info(line)

        try:
            results = run_jobs(jobs, max_rows=self.max_rows, memory_mb=self.memory_mb,
                               on_done=progress)
        except Interrupted as exc:
            print(f"interrupted ({exc}): the runs being computed were recorded as KILLED",
                  file=sys.stderr)
            sys.exit(128 + exc.signum)
        name = str(self.config.hydra.job.name)
        return [self._job_return(o, job, name, result)
                for o, job, result in zip(job_overrides, jobs, results)]

    @staticmethod
    def _job_return(overrides, job, name, result) -> JobReturn:
        if isinstance(result, Exception):
            value = {"status": "failed", "error": str(result)}
        elif isinstance(result, dict):
            value = result
        else:
            value = result.record.result()
        return JobReturn(overrides=list(overrides), cfg=job.cfg, working_dir=str(Path.cwd()),
                         task_name=name,
                         status=JobStatus.COMPLETED, _return_value=value)
