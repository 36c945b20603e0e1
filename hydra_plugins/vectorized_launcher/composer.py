"""Job configs for a sweep, composing with Hydra once per combination of group choices."""

import copy
from typing import Dict, List, Optional, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import HydraContext
from omegaconf import DictConfig, OmegaConf, open_dict, read_write


class Composer:
    """Hydra composes each job from scratch (tens of ms, and Hydra's sweeper composes every
    job once more to validate it). Jobs of a sweep mostly differ in plain values
    (`optimizer.lr=0.1`, `seed=3`): those are set, type-checked by the schema, on a copy of
    the task config composed once for the job's group choices. Anything else (adding or
    deleting keys, a value the schema rejects) goes through Hydra's own composition, which
    also reports the error."""

    def __init__(self, hydra_context: HydraContext, config: DictConfig) -> None:
        self.loader, self.config = hydra_context.config_loader, config
        self.parser = OverridesParser.create()
        self.bases: Dict[tuple, Tuple[DictConfig, DictConfig]] = {}
        self.groups: Optional[set] = None

    def compose(self, overrides: List[str], idx: int) -> Tuple[DictConfig, DictConfig]:
        """(the job's task config, a hydra node with its mode, choices and overrides)."""
        parsed = self.parser.parse_overrides(overrides)
        if self.groups is None:
            return self._full(overrides, idx, remember=None)
        choices = tuple(o.input_line for o in parsed if o.key_or_group in self.groups)
        values = [o for o in parsed if o.key_or_group not in self.groups]
        if any(o.is_add() or o.is_delete() or o.is_force_add() for o in values):
            return self._full(overrides, idx, remember=None)
        if choices not in self.bases:
            return self._full(overrides, idx, remember=choices)
        base_task, base_hydra = self.bases[choices]
        task = copy.deepcopy(base_task)
        try:
            for o in values:
                OmegaConf.update(task, o.key_or_group, o.value(), merge=False)
        except Exception:  # noqa: BLE001 - let Hydra compose it and report the problem
            return self._full(overrides, idx, remember=None)
        return task, job_node(base_hydra, overrides, idx)

    def _full(self, overrides: List[str], idx: int, remember) -> Tuple[DictConfig, DictConfig]:
        cfg = self.loader.load_sweep_config(self.config, overrides)
        if self.groups is None:
            self.groups = set(cfg.hydra.runtime.choices.keys())
        hydra_node = cfg.hydra
        task = copy.deepcopy(cfg)
        with read_write(task), open_dict(task):
            del task["hydra"]
        if remember is not None:
            self.bases[remember] = (copy.deepcopy(task), hydra_node)
        return task, job_node(hydra_node, overrides, idx)


def job_node(hydra_node: DictConfig, overrides: List[str], idx: int) -> DictConfig:
    """What a job needs of its hydra config: mode, group choices, overrides, name, number."""
    return OmegaConf.create({
        "mode": hydra_node.mode,
        "runtime": {"choices": OmegaConf.to_container(hydra_node.runtime.choices)},
        "overrides": {"task": list(overrides)},
        "job": {"name": hydra_node.job.name, "num": idx, "id": idx},
    })
