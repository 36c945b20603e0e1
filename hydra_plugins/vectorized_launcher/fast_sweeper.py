"""`hydra/sweeper=fast`: Hydra's basic sweeper with cheaper validation of each batch."""

from collections.abc import Sequence
from dataclasses import dataclass

from hydra.core.config_store import ConfigStore

from runner.sweep.composer import Composer
from runner.sweep.hydra_private import basic_sweeper

BasicSweeper, BasicSweeperConf = basic_sweeper()


@dataclass
class FastSweeperConf(BasicSweeperConf):
    _target_: str = "hydra_plugins.vectorized_launcher.fast_sweeper.FastSweeper"


ConfigStore.instance().store(group="hydra/sweeper", name="fast", node=FastSweeperConf,
                             provider="gradlab")


class FastSweeper(BasicSweeper):
    """The same sweep as Hydra's basic sweeper. Before launching a batch, Hydra composes every
    job once just to validate it; this validates every job too, composing once per
    combination of group choices and setting each job's values on a copy (Composer). A
    launcher that composes with one too (`hydra/launcher=vectorized`) is given this one: the
    same config, so the combinations composed here are not composed again (each is a
    Hydra composition, about 0.1 s)."""

    composer: Composer | None = None

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        if self.composer is None:
            self.composer = Composer(self.hydra_context, self.config)
            if getattr(self.launcher, "composer", False) is None:
                self.launcher.composer = self.composer
        for overrides in batch:
            self.composer.compose(list(overrides))
