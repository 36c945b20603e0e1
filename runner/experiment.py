"""From a composed config to built objects: objective, gradient method, optimizer, x0.

Everything a run needs is built and checked here, before any MLflow run is opened, so bad
input fails fast with a clear message and never leaves a run behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import torch
import yaml
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf._utils import get_omega_conf_dumper

from objectives import GradientMethod, Objective, ObjectiveError
from optimizers.base import Optimizer, OptimizerError

Config = Union[DictConfig, dict]  # a composed config, or the same resolved to plain dicts
DTYPES = {"float64": torch.float64, "float32": torch.float32}
REFERENCE_METHODS = {"autograd": "objectives.Autograd", "analytic": "objectives.Analytic",
                     "finite_diff": "objectives.FiniteDifference",
                     "complex_step": "objectives.ComplexStep"}
# config keys that do not change a run's result (left out of its hash)
UNHASHED = ("tracking", "artifacts", "hydra", "resume", "sweep_metric")
# groups whose numeric values may differ between the rows of one batch
HYPER_GROUPS = ("optimizer", "schedule")


class ConfigError(ValueError):
    """A config value the runner cannot use; phrased for the user."""


USER_ERRORS = (ConfigError, ObjectiveError, OptimizerError)


@dataclass
class Setup:
    objective: Objective
    gradient: GradientMethod
    optimizer: Optimizer
    x0: torch.Tensor
    check: tuple[int, GradientMethod] | None


def dtype_of(cfg: DictConfig) -> torch.dtype:
    if cfg.dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got '{cfg.dtype}'")
    return DTYPES[cfg.dtype]


def check_run_options(cfg: DictConfig) -> None:
    if cfg.steps < 0:
        raise ConfigError(f"steps must be >= 0, got {cfg.steps}")
    if not cfg.tol >= 0:
        raise ConfigError(f"tol must be >= 0, got {cfg.tol}")
    if cfg.check.every < 0:
        raise ConfigError(f"check.every must be >= 0, got {cfg.check.every}")
    device = str(cfg.device)
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as exc:
        raise ConfigError(f"device '{device}' is not available here ({str(exc).splitlines()[0]})") from None


def build_objective(cfg: DictConfig) -> Objective:
    return _instantiate(cfg.objective, "objective", dtype=dtype_of(cfg), device=str(cfg.device))


def build_optimizer(cfg: Config, **overrides: Any) -> Optimizer:
    """The optimizer, with its schedule; `overrides` replace hyperparameters (batched tensors)."""
    schedule = _instantiate(cfg["schedule"], "schedule", **overrides.pop("schedule", {}))
    return _instantiate(cfg["optimizer"], "optimizer", schedule=schedule, **overrides)


def build(cfg: DictConfig) -> Setup:
    """Build and cross-check everything a run needs; raise a USER_ERRORS on bad input."""
    check_run_options(cfg)
    objective = build_objective(cfg)
    gradient = _instantiate(cfg.gradient, "gradient")
    gradient.check(objective)
    optimizer = build_optimizer(cfg)
    if optimizer.batchable:
        optimizer = build_optimizer(cfg, **hyper_tensors([cfg], objective.dtype, objective.device))
    check = None
    if cfg.check.every > 0:
        if cfg.check.reference not in REFERENCE_METHODS:
            raise ConfigError(f"check.reference must be one of {', '.join(REFERENCE_METHODS)}, "
                              f"got '{cfg.check.reference}'")
        reference = _instantiate({"_target_": REFERENCE_METHODS[cfg.check.reference]}, "check")
        reference.check(objective)
        check = (int(cfg.check.every), reference)
    return Setup(objective, gradient, optimizer, objective.initial_point(cfg.seed), check)


def plain(cfg: Config) -> dict[str, Any]:
    """The resolved config as plain dicts and lists (a plain dict is returned as it is)."""
    return cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=True)


def batchable_values(cfg: Config) -> tuple[str, dict[str, object]]:
    """Split a job's config into its group signature and its batchable values.

    Batchable: `seed`, `objective.x0`, numeric optimizer hyperparameters and float schedule
    parameters; everything else must be equal for configurations to share a batch.
    """
    resolved = plain(cfg)  # once: a DictConfig is resolved anew by each call
    rest = {k: v for k, v in resolved.items() if k not in ("hydra", "seed")}
    rest["objective"] = {k: v for k, v in rest["objective"].items() if k != "x0"}
    values: dict[str, object] = {"seed": resolved["seed"],
                                 "objective.x0": resolved["objective"].get("x0")}
    for group in HYPER_GROUPS:
        node = rest.get(group) or {}
        values.update((f"{group}.{k}", v) for k, v in node.items() if _batchable(group, v))
        rest[group] = {k: v for k, v in node.items() if f"{group}.{k}" not in values}
    return json.dumps(rest, sort_keys=True, default=str), values


def _batchable(group: str, value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    # schedule step counts (step_size, t_max) stay Python ints: they drive integer arithmetic
    return group == "optimizer" or isinstance(value, float)


def hyper_tensors(cfgs: Sequence[Config], dtype: torch.dtype, device) -> dict[str, Any]:
    """Batchable hyperparameters of B configs as (B, 1) tensors (`schedule` nested).

    A single run uses these too, as (1, 1) tensors: then a row of a vectorised sweep and
    the same configuration run alone execute the same elementwise ops, bit for bit.
    """
    values = [batchable_values(cfg)[1] for cfg in cfgs]
    out: dict[str, Any] = {"schedule": {}}
    for key in values[0]:
        group, _, name = key.partition(".")
        if group in HYPER_GROUPS:
            column = [v[key] for v in values]
            tensor = torch.tensor(column, dtype=dtype, device=device).unsqueeze(-1)
            (out["schedule"] if group == "schedule" else out)[name] = tensor
    return out


def config_hash(cfg: Config) -> str:
    """A stable hash of everything that determines a run's result (seeds included)."""
    kept = {k: v for k, v in plain(cfg).items() if k not in UNHASHED}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def flat_params(cfg: Config) -> dict[str, Any]:
    """Every leaf of the resolved config under its dotted name (`optimizer.lr`, ...)."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}." if isinstance(value, dict) else f"{prefix}{key}")
            return
        out[prefix.rstrip(".")] = node

    walk({k: v for k, v in plain(cfg).items() if k != "hydra"}, "")
    return out


def config_yaml(cfg: Config) -> str:
    """The resolved config as YAML, exactly as `OmegaConf.to_yaml(cfg, resolve=True)` writes
    it, at a fraction of the cost in a sweep: each top-level entry is dumped once per
    distinct value (a sweep varies a few of them) and the pieces are joined."""
    pieces = []
    for key, value in plain(cfg).items():
        if key != "hydra":
            cache_key = (key, repr(value))
            if cache_key not in _YAML_PIECES:
                if len(_YAML_PIECES) > 4096:
                    _YAML_PIECES.clear()
                _YAML_PIECES[cache_key] = yaml.dump(
                    {key: value}, default_flow_style=False, allow_unicode=True, sort_keys=False,
                    Dumper=get_omega_conf_dumper())
            pieces.append(_YAML_PIECES[cache_key])
    return "".join(pieces)


_YAML_PIECES: dict[tuple[str, str], str] = {}


def _instantiate(node: Any, group: str, **kwargs: Any) -> Any:
    try:
        return instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, USER_ERRORS):
            raise type(cause)(str(cause)) from None
        if isinstance(cause, TypeError) and "argument" in str(cause):
            raise ConfigError(f"{group}: {cause}") from None
        raise ConfigError(f"{group}: {str(exc).splitlines()[0]}") from None
    except USER_ERRORS:
        raise
