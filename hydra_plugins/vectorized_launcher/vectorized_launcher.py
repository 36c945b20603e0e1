"""`hydra/launcher=vectorized`: a multirun's jobs as batched computations, one MLflow run each.

A thin shim over `runner.sweep.vectorized`, as Hydra's own launchers are over `run_job`:
every job still ends in a JobReturn and Hydra's job callbacks hear of it.
"""

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus, configure_log, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

log = logging.getLogger(__name__)


@dataclass
class VectorizedLauncherConf:
    _target_: str = "hydra_plugins.vectorized_launcher.vectorized_launcher.VectorizedLauncher"
    max_rows: int = 4096  # rows per batched computation
    memory_mb: float = 1024.0  # bound on one batch's recorded history (MB)


ConfigStore.instance().store(group="hydra/launcher", name="vectorized",
                             node=VectorizedLauncherConf, provider="gradlab")


class VectorizedLauncher(Launcher):
    """Group the jobs that differ only in batchable values, run each group as one stacked
    computation and log every configuration as its own run."""

    def __init__(self, max_rows: int = 4096, memory_mb: float = 1024.0) -> None:
        self.max_rows, self.memory_mb = int(max_rows), float(memory_mb)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None
        self.composer = None  # made at the first launch, kept for the next ones

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from runner.constants import EXIT_SIGNAL
        from runner.errors import Interrupted
        from runner.sweep.composer import Composer
        from runner.sweep.vectorized import launch

        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs vectorized")
        callbacks, name = self.hydra_context.callbacks, str(self.config.hydra.job.name)

        def job_return(i: int, outcome) -> JobReturn:
            return JobReturn(overrides=list(job_overrides[i]), working_dir=str(Path.cwd()),
                             task_name=name, status=JobStatus.COMPLETED,
                             _return_value=outcome.result)

        def on_done(indices, outcomes) -> None:  # as each run is recorded
            for i, outcome in zip(indices, outcomes):
                callbacks.on_job_start(config=self.config, task_function=self.task_function)
                callbacks.on_job_end(config=self.config, job_return=job_return(i, outcome))

        if self.composer is None:
            self.composer = Composer(self.hydra_context, self.config)
        try:
            outcomes = launch(self.composer, job_overrides, max_rows=self.max_rows,
                              memory_mb=self.memory_mb, on_done=on_done)
        except Interrupted as exc:
            print(f"interrupted ({exc}): the runs being computed were recorded as KILLED",
                  file=sys.stderr)
            sys.exit(EXIT_SIGNAL + exc.signum)
        return [job_return(i, outcome) for i, outcome in enumerate(outcomes)]

    def settle(self) -> None:
        """Wait until every run launched is recorded: a batched study's launch returns its
        generation's results once computed, and records them while the next is computed."""
        from runner.sweep import engine

        engine.settle()
