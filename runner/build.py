"""From a run specification to built objects: objective, gradient method, optimizer, x0.

Everything a run needs is built and checked here, before any MLflow run is opened, so bad
input fails fast with a clear message and never leaves a run behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate

from objectives import GradientMethod, Objective, ObjectiveError
from optimizers.base import Optimizer, OptimizerError
from runner import config
from runner.errors import ConfigError
from runner.spec import HYPER_GROUPS, RunSpec

DTYPES = {"float64": torch.float64, "float32": torch.float32}
USER_ERRORS = (ConfigError, ObjectiveError, OptimizerError)


@dataclass
class Setup:
    objective: Objective
    gradient: GradientMethod
    optimizer: Optimizer
    x0: torch.Tensor | None
    check: tuple[int, GradientMethod] | None


def dtype_of(spec: RunSpec) -> torch.dtype:
    dtype = spec.config["dtype"]
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got '{dtype}'")
    return DTYPES[dtype]


def check_run_options(spec: RunSpec) -> None:
    if spec.steps < 0:
        raise ConfigError(f"steps must be >= 0, got {spec.steps}")
    if not spec.tol >= 0:
        raise ConfigError(f"tol must be >= 0, got {spec.tol}")
    if spec.config["check"]["every"] < 0:
        raise ConfigError(f"check.every must be >= 0, got {spec.config['check']['every']}")
    device = str(spec.config["device"])
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as exc:
        raise ConfigError(f"device '{device}' is not available here ({str(exc).splitlines()[0]})") from None


def build_objective(spec: RunSpec) -> Objective:
    return instantiate_node(spec.config["objective"], "objective", dtype=dtype_of(spec),
                        device=str(spec.config["device"]))


def build_optimizer(spec: RunSpec, **overrides: Any) -> Optimizer:
    """The optimizer, with its schedule; `overrides` replace hyperparameters (batched tensors)."""
    schedule = instantiate_node(spec.config["schedule"], "schedule", **overrides.pop("schedule", {}))
    return instantiate_node(spec.config["optimizer"], "optimizer", schedule=schedule, **overrides)


def build(spec: RunSpec, *, with_x0: bool = True) -> Setup:
    """Build and cross-check everything a run needs; raise a USER_ERRORS on bad input.
    Without x0 (the shared part of a batch's rows), `x0` is None."""
    check_run_options(spec)
    objective = build_objective(spec)
    gradient = instantiate_node(spec.config["gradient"], "gradient")
    check_gradient(gradient, objective)
    optimizer = build_optimizer(spec)
    if optimizer.batchable:  # hyperparameters as (1, 1) tensors, as in a batch's rows
        optimizer = build_optimizer(spec, **hyper_tensors([spec], objective.dtype, objective.device))
    check = None
    every, reference = spec.config["check"]["every"], spec.config["check"]["reference"]
    if every > 0:
        if reference not in config.options("gradient"):
            raise ConfigError(f"check.reference must be one of "
                              f"{', '.join(config.options('gradient'))}, got '{reference}'")
        method = instantiate_node(config.option("gradient", reference), "check")
        check_gradient(method, objective)
        check = (int(every), method)
    x0 = start_point(objective, spec) if with_x0 else None
    return Setup(objective, gradient, optimizer, x0, check)


def start_point(objective: Objective, spec: RunSpec) -> torch.Tensor:
    """objective.x0 if given, else a point drawn from `seed`."""
    x0 = spec.config["objective"].get("x0")
    return objective.initial_point(spec.seed) if x0 is None else objective.point(x0, "x0")


def hyper_tensors(specs: Sequence[RunSpec], dtype: torch.dtype, device) -> dict[str, Any]:
    """Batchable hyperparameters of B configs as (B, 1) tensors (`schedule` nested).

    A single run uses these too, as (1, 1) tensors: then a row of a vectorised sweep and
    the same configuration run alone execute the same elementwise ops, bit for bit.
    """
    values = [spec.batch_values for spec in specs]
    out: dict[str, Any] = {"schedule": {}}
    for key in values[0]:
        group, _, name = key.partition(".")
        if group in HYPER_GROUPS:
            column = [v[key] for v in values]
            tensor = torch.tensor(column, dtype=dtype, device=device).unsqueeze(-1)
            (out["schedule"] if group == "schedule" else out)[name] = tensor
    return out


def check_gradient(method: GradientMethod, objective: Objective) -> None:
    """method.check(objective); for `analytic`, naming the objectives that have one."""
    try:
        method.check(objective)
    except ObjectiveError as exc:
        if method.name != "analytic":
            raise
        have = ", ".join(analytic_objectives())
        raise ObjectiveError(f"{exc} Objectives that have one: {have}.") from None


def analytic_objectives() -> list[str]:
    """The objective options whose class has a closed-form gradient."""
    return [name for name in config.options("objective")
            if getattr(get_class(config.option("objective", name)["_target_"]),
                       "has_analytic_grad", False) is True]


def instantiate_node(node: Any, group: str, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, with its errors phrased for the user (a USER_ERRORS)."""
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
