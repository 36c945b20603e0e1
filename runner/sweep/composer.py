"""Job configs for a sweep, composing with Hydra once per combination of group choices."""

from __future__ import annotations

import copy
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.types import HydraContext
from omegaconf import Container, DictConfig, OmegaConf, open_dict, read_write


class Composer:
    """Hydra composes each job from scratch (tens of ms, and Hydra's sweeper composes every
    job once more to validate it). Jobs of a sweep mostly differ in plain values
    (`optimizer.lr=0.1`, `seed=3`). Here the task config is composed once per combination of
    group choices, each distinct value is set once on a copy of it (the schema checks and
    converts it, as in Hydra's own composition), and a job's config is the resolved base with
    its values set: plain dicts, microseconds a job. Anything else (adding or deleting
    keys, `hydra.*` settings, dict values, a value the schema rejects) goes through Hydra's
    own composition, which also reports the error."""

    def __init__(self, hydra_context: HydraContext, config: DictConfig) -> None:
        self.loader, self.config = hydra_context.config_loader, config
        self.parser = OverridesParser.create()
        self.parsed: dict[str, Override] = {}
        self.bases: dict[tuple, _Base] = {}
        self.groups: set | None = None

    def compose(self, overrides: list[str]) -> tuple[dict, dict]:
        """(the job's resolved task config as plain dicts, its config group choices)."""
        if self.groups is None:
            return self._full(overrides)
        parsed = [self._parse(o) for o in overrides]
        choices = tuple(o.input_line for o in parsed if o.key_or_group in self.groups)
        values = [o for o in parsed if o.key_or_group not in self.groups]
        if any(o.is_add() or o.is_delete() or o.is_force_add()
               or o.key_or_group.split(".")[0] == "hydra" for o in values):
            return self._full(overrides)
        if choices not in self.bases:
            self.bases[choices] = _Base(*self._load(list(choices)))
        base = self.bases[choices]
        try:
            return base.with_values(values), base.choices
        except Exception:  # noqa: BLE001 - let Hydra compose it and report the problem
            return self._full(overrides)

    def _parse(self, override: str) -> Override:
        if override not in self.parsed:
            (self.parsed[override],) = self.parser.parse_overrides([override])
        return self.parsed[override]

    def _full(self, overrides: list[str]) -> tuple[dict, dict]:
        task, choices = self._load(overrides)
        return OmegaConf.to_container(task, resolve=True), choices

    def _load(self, overrides: list[str]) -> tuple[DictConfig, dict]:
        cfg = self.loader.load_sweep_config(self.config, overrides)
        choices = OmegaConf.to_container(cfg.hydra.runtime.choices)
        self.groups = set(choices)
        task = copy.deepcopy(cfg)
        with read_write(task), open_dict(task):
            del task["hydra"]
        return task, choices


class _Base:
    """A task config composed for one combination of group choices, and the values set on it."""

    def __init__(self, task: DictConfig, choices: dict) -> None:
        self.choices = choices
        self.task = task  # values are set on it one at a time, each once: the schema checks them
        self.resolved = OmegaConf.to_container(task, resolve=True)
        # interpolations (`t_max: ${steps}`) follow the values: then resolve each job in full
        self.interpolated = OmegaConf.to_container(task, resolve=False) != self.resolved
        self.checked: dict[str, Any] = {}

    def with_values(self, values: list[Override]) -> dict:
        if self.interpolated:
            task = copy.deepcopy(self.task)
            for o in values:
                OmegaConf.update(task, o.key_or_group, o.value(), merge=True)
            return OmegaConf.to_container(task, resolve=True)
        out = _copy(self.resolved)
        for o in values:
            _set(out, o.key_or_group, _copy(self._checked(o)))
        return out

    def _checked(self, o: Override) -> Any:
        """The value as the config holds it after the override (converted by the schema)."""
        if o.input_line not in self.checked:
            value = o.value()
            if isinstance(value, dict):  # merged into the node: leave it to Hydra
                raise ValueError("dict value")
            OmegaConf.update(self.task, o.key_or_group, value, merge=True)
            node = OmegaConf.select(self.task, o.key_or_group)
            self.checked[o.input_line] = (OmegaConf.to_container(node, resolve=True)
                                          if isinstance(node, Container) else node)
        return self.checked[o.input_line]


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def _set(config: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        config = config.setdefault(key, {})
    config[last] = value
