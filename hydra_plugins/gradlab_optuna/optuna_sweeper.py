"""`hydra/sweeper=optuna`: an Optuna 5 study, persistent and resumable, whose trials run on
any launcher (batched with hydra/launcher=vectorized). A thin shim over
`runner.sweep.study`, which says how; Optuna is imported only when a sweep starts."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from runner.sweep.study import SAMPLERS


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.gradlab_optuna.optuna_sweeper.OptunaSweeper"
    # tpe, random, cmaes, qmc, grid, gp, nsgaii, nsgaiii, bruteforce; other keys (with +)
    # are the sampler's arguments: +hydra.sweeper.sampler.n_startup_trials=5
    defaults: List[Any] = field(default_factory=lambda: [{"sampler": "tpe"}])
    sampler: Dict[str, Any] = field(default_factory=dict)  # hydra/sweeper/sampler=random
    direction: Any = "minimize"  # or a list, one per metric: [minimize, maximize]
    metrics: Optional[list] = None  # what each direction optimizes (null: [sweep_metric])
    n_trials: int = 20  # the study's trials in all: a rerun adds only what is missing
    n_jobs: int = 2  # trials asked at a time: one launch (parallel, or one batch)
    study_name: Optional[str] = None  # null: <experiment>-<hash of what decides the trials>
    storage: Optional[str] = None  # null: optuna-journal.log beside the tracking store; a
    #                                 database URL, a journal file's path, or `memory`
    # median, percentile, sha, hyperband, threshold, wilcoxon (null: none); `every`: steps
    # between two reports of the loss (null: a tenth of the run); other keys: its arguments
    pruner: dict = field(default_factory=lambda: {"name": None, "every": None})
    params: Optional[Dict[str, str]] = None  # the search space, {key: "interval(...)"};
    #                                          or sweep overrides: optimizer.lr="interval(0,1)"


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf,
                             provider="gradlab")
for _name in SAMPLERS:  # as in Hydra's Optuna sweeper: hydra/sweeper/sampler=random
    ConfigStore.instance().store(group="hydra/sweeper/sampler", name=_name,
                                 node={"name": _name, "seed": None}, provider="gradlab")


class OptunaSweeper(Sweeper):
    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.config: DictConfig | None = None
        self.launcher = None
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: Sequence[str]) -> None:
        from runner.sweep.study import run_study

        assert self.config is not None
        run_study(self.config, self.launcher, list(arguments), self.job_idx)
