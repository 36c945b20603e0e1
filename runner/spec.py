"""A run specification: everything about one configuration that follows from its config,
computed once, at the boundary, from the resolved config.

The loop, the run record, tracking and the vectorized sweep all take a RunSpec; nothing
downstream goes back to Hydra's DictConfig.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from runner.config import config_yaml
from runner.constants import (
    CONFIG_HASH_TAG,
    GROUPS,
    OVERRIDES_TAG,
    SOURCE_NAME_TAG,
    TRIAL_TAG,
    UNHASHED,
)

# groups whose numeric values may differ between the rows of one batch
HYPER_GROUPS = ("optimizer", "schedule")
# MLflow's limit on a param's value
PARAM_CHARS = 6000


@dataclass(frozen=True)
class RunSpec:
    """One configuration: its resolved config (plain dicts and lists, without `hydra`), the
    config group choices and overrides it was composed from, and what follows from them."""

    config: dict[str, Any]
    choices: Mapping[str, str]
    overrides: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], choices: Mapping[str, str] | None = None,
                    overrides: Sequence[str] = ()) -> RunSpec:
        resolved = {k: v for k, v in config.items() if k != "hydra"}
        names = {g: str((choices or {}).get(g, g)) for g in GROUPS}
        return cls(resolved, names, tuple(overrides))

    # ---- identity
    @cached_property
    def hash(self) -> str:
        """A stable hash of everything that determines the result (seeds included, and the
        text of a formula read from `objective.file`, not only its path)."""
        kept = {k: v for k, v in self.config.items() if k not in UNHASHED}
        path = (self.config.get("objective") or {}).get("file")
        if path:
            try:
                kept["objective.file text"] = Path(path).read_text()
            except OSError:
                pass  # unreadable: building the objective says so
        return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]

    @cached_property
    def name(self) -> str:
        """The run's name: its group choices, then the values its overrides set, so the runs
        of a sweep differ by name: `quad-autograd-adam lr=0.01 seed=3`. A pass-through
        optimizer or objective is named by its class or function (`torch.optim.Adam` as
        `Adam`); a group's key drops its group (`optimizer.lr` as `lr`); keys that do not
        change the result (tracking, artifacts, ...) are left out."""
        passed = {"optimizer": ("torch", "cls"), "objective": ("python", "function")}
        labels = []
        for group in GROUPS:
            label = self.choices[group]
            option, key = passed.get(group, (None, None))
            if label == option and self.config[group].get(key):
                label = str(self.config[group][key]).rpartition(".")[2]
            labels.append(label)
        settings = []
        for override in self.overrides:
            key, _, value = override.lstrip("+~").partition("=")
            head, dot, rest = key.partition(".")
            if head in UNHASHED or (not dot and head in GROUPS) or (
                    passed.get(head, (None, None))[1] == rest):  # in the label already
                continue
            if not dot and head in ("schedule", "sampling"):
                settings.append(value)
            else:
                named = rest if dot and head in (*GROUPS, "schedule", "sampling") else key
                settings.append(f"{named}={value}")
        return " ".join(["-".join(labels), *settings])

    @cached_property
    def tags(self) -> dict[str, str]:
        """The tags that follow from the configuration (a launcher adds where it logs)."""
        tags = {CONFIG_HASH_TAG: self.hash, SOURCE_NAME_TAG: "runner", **self.choices,
                OVERRIDES_TAG: " ".join(self.overrides)}
        if self.trial is not None:
            tags[TRIAL_TAG] = str(self.trial)
        return tags

    # ---- what is recorded
    @cached_property
    def params(self) -> dict[str, str]:
        """Every leaf under its dotted name (`optimizer.lr`), as MLflow stores it: text."""
        out: dict[str, str] = {}

        def walk(node: Any, prefix: str) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    walk(value, f"{prefix}{key}." if isinstance(value, dict) else f"{prefix}{key}")
                return
            out[prefix.rstrip(".")] = param_text(node)

        walk(self.config, "")
        return out

    @cached_property
    def yaml(self) -> str:
        """config.yaml: the resolved config as `OmegaConf.to_yaml` writes it."""
        return config_yaml(self.config)

    # ---- batching
    @cached_property
    def _split(self) -> tuple[str, dict[str, object]]:
        rest = dict(self.config)
        rest.pop("seed", None)
        rest["objective"] = {k: v for k, v in rest["objective"].items() if k != "x0"}
        # each row logs as its own run: the Optuna trial it is may differ within a batch
        rest["tracking"] = {k: v for k, v in (rest.get("tracking") or {}).items() if k != "trial"}
        values: dict[str, object] = {"seed": self.config["seed"],
                                     "objective.x0": self.config["objective"].get("x0")}
        for group in HYPER_GROUPS:
            node = rest.get(group) or {}
            values.update((f"{group}.{k}", v) for k, v in node.items() if _batchable(group, v))
            rest[group] = {k: v for k, v in node.items() if f"{group}.{k}" not in values}
        return json.dumps(rest, sort_keys=True, default=str), values

    @property
    def signature(self) -> str:
        """What must be equal for configurations to share a batch: all but the batchable
        values (`seed`, `objective.x0`, numeric optimizer hyperparameters and float
        schedule parameters) and the Optuna trial a run is (`tracking.trial`)."""
        return self._split[0]

    @property
    def batch_values(self) -> dict[str, object]:
        """The batchable values, by dotted name."""
        return self._split[1]

    # ---- run options, typed
    @property
    def steps(self) -> int:
        return self.config["steps"]

    @property
    def tol(self) -> float:
        return self.config["tol"]

    @property
    def max_loss(self) -> float:
        return self.config["divergence"]["max_loss"]

    def stall(self, optimizer_default: int) -> tuple[int, float]:
        """(steps, rtol) of the stall test; steps null is the optimizer's own default."""
        steps = self.config["stall"]["steps"]
        return (optimizer_default if steps is None else steps), self.config["stall"]["rtol"]

    @property
    def seed(self) -> int:
        return self.config["seed"]

    @property
    def eval_every(self) -> int | None:
        return self.config.get("eval_every")

    @property
    def trial(self) -> int | None:
        """The Optuna trial this run is (hydra/sweeper=optuna), else None."""
        return (self.config.get("tracking") or {}).get("trial")

    @property
    def resume(self) -> bool:
        return bool(self.config.get("resume"))

    @property
    def artifacts(self) -> dict[str, bool]:
        return self.config["artifacts"]

    @property
    def history_bytes(self) -> int:
        """How much memory the run's recorded history may take (artifacts.history_mb)."""
        return int(self.artifacts["history_mb"] * 2**20)

    @property
    def tracking(self) -> dict[str, Any]:
        return self.config["tracking"]

    def with_x0(self, x0: Any) -> RunSpec:
        """The same configuration with objective.x0 replaced."""
        config = {**self.config, "objective": {**self.config["objective"], "x0": x0}}
        return RunSpec(config, self.choices, self.overrides)


def deciding(overrides: str) -> list[str]:
    """The overrides (space-separated, as in the `overrides` tag) that decide results: those
    of hashed config keys (`tracking.uri=...` does not)."""
    return [o for o in overrides.split(" ")
            if o and o.lstrip("+~").split("=")[0].split(".")[0] not in UNHASHED]


def _batchable(group: str, value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    # schedule step counts (step_size, t_max) stay Python ints: they drive integer arithmetic
    return group == "optimizer" or isinstance(value, float)


def param_text(value: object) -> str:
    """A param's value as MLflow stores it: text, cut to MLflow's length limit."""
    text = str(value)
    return text if len(text) <= PARAM_CHARS else text[: PARAM_CHARS - 3] + "..."
