"""`hydra/launcher=vectorized`: a multirun's jobs as batched computations, one MLflow run each."""

import copy
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus, configure_log, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)


@dataclass
class VectorizedLauncherConf:
    _target_: str = "hydra_plugins.vectorized_launcher.vectorized_launcher.VectorizedLauncher"
    max_rows: int = 4096  # rows per batched computation
    memory_mb: float = 1024.0  # bound on one batch's recorded history (MB)


ConfigStore.instance().store(group="hydra/launcher", name="vectorized",
                             node=VectorizedLauncherConf, provider="gradlab")


class Composer:
    """Job configs for a sweep, composing with Hydra once per combination of group choices.

    Hydra composes each job from scratch (tens of ms); jobs of a sweep mostly differ in
    plain values (`optimizer.lr=0.1`, `seed=3`), which are set on a copy of an already
    composed config with OmegaConf (type-checked by the schema). Anything else (adding or
    deleting keys, a value the schema rejects) falls back to Hydra's own composition.
    """

    def __init__(self, hydra_context: HydraContext, config: DictConfig) -> None:
        self.loader, self.config = hydra_context.config_loader, config
        self.parser = OverridesParser.create()
        self.bases: dict = {}
        self.groups: Optional[set] = None

    def compose(self, overrides: list, idx: int) -> DictConfig:
        parsed = self.parser.parse_overrides(overrides)
        if self.groups is None:
            cfg = self._full(overrides, idx)
            self.groups = set(cfg.hydra.runtime.choices.keys())
            return cfg
        choices = tuple(o.input_line for o in parsed if o.key_or_group in self.groups)
        values = [o for o in parsed if o.key_or_group not in self.groups]
        if any(o.is_add() or o.is_delete() or o.is_force_add() for o in values):
            return self._full(overrides, idx)
        if choices not in self.bases:
            self.bases[choices] = self._full(overrides, idx)
            return copy.deepcopy(self.bases[choices])
        cfg = copy.deepcopy(self.bases[choices])
        try:
            with read_write(cfg), open_dict(cfg.hydra):
                for o in values:
                    OmegaConf.update(cfg, o.key_or_group, o.value(), merge=False)
                cfg.hydra.overrides.task = list(overrides)
                cfg.hydra.job.id = cfg.hydra.job.num = idx
        except Exception:  # noqa: BLE001 - let Hydra compose it and report the problem itself
            return self._full(overrides, idx)
        return cfg

    def _full(self, overrides: list, idx: int) -> DictConfig:
        cfg = self.loader.load_sweep_config(self.config, overrides)
        with open_dict(cfg):
            cfg.hydra.job.id = cfg.hydra.job.num = idx
        return cfg


class VectorizedLauncher(Launcher):
    """Compose every job, group those that differ only in batchable values, run each group
    as one stacked computation (runner.batch) and log every configuration as its own run."""

    def __init__(self, max_rows: int = 4096, memory_mb: float = 1024.0) -> None:
        self.max_rows, self.memory_mb = int(max_rows), float(memory_mb)
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from runner.app import context
        from runner.batch import Job, run_jobs
        from runner.console import bar_line

        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        total, start = len(job_overrides), time.perf_counter()
        log.info(f"Launching {total} jobs vectorized")
        jobs, hydra_nodes = [], []
        composer = Composer(self.hydra_context, self.config)
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            sweep_config = composer.compose(list(overrides), idx)
            task_cfg = copy.deepcopy(sweep_config)
            with read_write(task_cfg), open_dict(task_cfg):
                del task_cfg["hydra"]
            jobs.append(Job(task_cfg, context(task_cfg, sweep_config.hydra)))
            hydra_nodes.append(sweep_config)
        done = 0

        def progress(n: int) -> None:
            nonlocal done
            done += n
            line = bar_line(done, total, time.perf_counter() - start, "sweep")
            if sys.stderr.isatty():
                sys.stderr.write("\r" + line + ("\n" if done == total else ""))
            elif done == total or done % max(1, total // 10) == 0:
                log.info(line)

        results = run_jobs(jobs, max_rows=self.max_rows, memory_mb=self.memory_mb, on_done=progress)
        return [self._job_return(o, job, node, result)
                for o, job, node, result in zip(job_overrides, jobs, hydra_nodes, results)]

    @staticmethod
    def _job_return(overrides, job, hydra_node, result) -> JobReturn:
        if isinstance(result, Exception):
            value = {"status": "failed", "error": str(result)}
        elif isinstance(result, dict):
            value = result
        else:
            value = result.record.result()
        return JobReturn(overrides=list(overrides), cfg=job.cfg, hydra_cfg=hydra_node,
                         working_dir=str(Path.cwd()), task_name=hydra_node.hydra.job.name,
                         status=JobStatus.COMPLETED, _return_value=value)
