"""From a run specification to built objects: objective, gradient method, optimizer, x0.

Everything a run needs is built and checked here, before any MLflow run is opened, so bad
input fails fast with a clear message and never leaves a run behind.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate

from objectives import GradientMethod, Objective, ObjectiveError
from objectives.base import check_size
from objectives.sampling import Draws, Full, Sampling
from optimizers.base import Optimizer, OptimizerError
from runner import config
from runner.errors import ConfigError, first_line
from runner.schema import check_option, check_values
from runner.spec import HYPER_GROUPS, RunSpec

DTYPES = {"float64": torch.float64, "float32": torch.float32}
DEVICE_TYPES = ("cpu", "cuda", "mps")
USER_ERRORS = (ConfigError, ObjectiveError, OptimizerError)


@dataclass
class Setup:
    objective: Objective
    gradient: GradientMethod
    optimizer: Optimizer
    x0: torch.Tensor | None
    check: tuple[int, GradientMethod] | None
    sampling: Sampling = field(default_factory=Full)

    def draws(self, seeds: Sequence[int]) -> Draws | None:
        """The rows' samples (minibatches, gradient noise), one seed per row; None: exact."""
        return self.sampling.start(self.objective, seeds)


def dtype_of(spec: RunSpec) -> torch.dtype:
    dtype = spec.config["dtype"]
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got '{dtype}'")
    return DTYPES[dtype]


def check_run_options(spec: RunSpec) -> None:
    """The run options (steps, seed, tol, check, tracking, ...), dtype and device."""
    check_values(spec.config)
    dtype_of(spec)
    device = str(spec.config["device"])
    try:
        kind = torch.device(device).type
    except RuntimeError:
        kind = None
    if kind not in DEVICE_TYPES:
        raise ConfigError(f"device must be cpu, cuda, cuda:N or mps, got '{device}'")
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as exc:
        raise ConfigError(f"device '{device}' is not available here ({first_line(exc)})") from None


def check_node(spec: RunSpec, group: str) -> None:
    """The keys and value kinds of a group's node (runner.schema.check_option)."""
    node = spec.config[group]
    if not isinstance(node, Mapping):
        raise ConfigError(f"{group} must be one of {', '.join(config.options(group))}")
    label = spec.choices.get(group) or str(node.get("_target_", group)).rpartition(".")[2]
    check_option(group, node, label)


def build_objective(spec: RunSpec) -> Objective:
    check_node(spec, "objective")
    return instantiate_node(spec.config["objective"], "objective", dtype=dtype_of(spec),
                            device=str(spec.config["device"]))


def build_optimizer(spec: RunSpec, **overrides: Any) -> Optimizer:
    """The optimizer, with its schedule; `overrides` replace hyperparameters (batched tensors)."""
    check_node(spec, "schedule")
    check_node(spec, "optimizer")
    schedule = instantiate_node(spec.config["schedule"], "schedule", **overrides.pop("schedule", {}))
    optimizer = instantiate_node(spec.config["optimizer"], "optimizer", schedule=schedule,
                                 **overrides)
    if hasattr(schedule, "observe"):  # reduce-on-plateau: told each step's f
        optimizer = replace(optimizer, observe=schedule.observe)
    return optimizer


def build(spec: RunSpec, *, with_x0: bool = True) -> Setup:
    """Build and cross-check everything a run needs; raise a USER_ERRORS on bad input.
    Without x0 (the shared part of a batch's rows), `x0` is None."""
    check_run_options(spec)
    check_node(spec, "gradient")
    every, reference = spec.config["check"]["every"], spec.config["check"]["reference"]
    if every > 0 and reference not in config.options("gradient"):
        raise ConfigError(f"check.reference must be one of "
                          f"{', '.join(config.options('gradient'))}, got '{reference}'")
    optimizer = build_optimizer(spec)  # before the objective, which may take long to build
    objective = build_objective(spec)
    gradient = instantiate_node(spec.config["gradient"], "gradient")
    check_gradient(gradient, objective)
    if optimizer.batchable:  # hyperparameters as (1, 1) tensors, as in a batch's rows
        optimizer = build_optimizer(spec, **hyper_tensors([spec], objective.dtype, objective.device))
    check = None
    if every > 0:
        method = instantiate_node(config.option("gradient", reference), "check")
        check_gradient(method, objective)
        check = (int(every), method)
    check_node(spec, "sampling")
    sampling = instantiate_node(spec.config["sampling"], "sampling")
    sampling.start(objective, [spec.seed])  # refuses what cannot be sampled, up front
    x0 = start_point(objective, spec) if with_x0 else None
    return Setup(objective, gradient, optimizer, x0, check, sampling)


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
    """method.check(objective); for `analytic`, naming the objectives that have one; and,
    for methods that evaluate all d perturbed points in one call, the size of that batch."""
    try:
        method.check(objective)
    except ObjectiveError as exc:
        if method.name != "analytic":
            raise
        have = ", ".join(analytic_objectives())
        raise ObjectiveError(f"{exc} Objectives that have one: {have}.") from None
    points = perturbed_points(method, objective.dim)
    if points:
        complex_step = method.name == "complex_step"
        dtype = (objective.dtype.to_complex() if complex_step else objective.dtype)
        check_size(f"gradient={method.name} on a {objective.dim}-dimensional objective",
                   (points, objective.dim), dtype,
                   "; use gradient=autograd (or analytic), which needs O(d) memory")


def perturbed_points(method: GradientMethod, dim: int) -> int:
    """How many points of d coordinates one gradient of `method` evaluates at once (0: it
    perturbs none): x and x ± hᵢeᵢ for central differences, x and x + hᵢeᵢ otherwise."""
    if method.name == "finite_diff":
        return 2 * dim + 1 if getattr(method, "scheme", "") in ("central", "richardson") else dim + 1
    return dim + 1 if method.name == "complex_step" else 0


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
        raise phrased(exc, node, group) from None


def phrased(exc: InstantiationException, node: Any, group: str) -> Exception:
    """What went wrong in an instantiation, as a USER_ERRORS: the cause, not Hydra's first
    line (`Error in call to target '...':`)."""
    cause = exc.__cause__ or exc.__context__
    target = str(node.get("_target_")) if isinstance(node, Mapping) else "?"
    label = target.rpartition(".")[2]
    if isinstance(cause, USER_ERRORS):
        return type(cause)(str(cause))
    text = first_line(cause) if cause is not None else first_line(exc)
    if str(exc).startswith("Error locating target"):
        return ConfigError(f"{group}._target_ '{target}' cannot be imported ({text})")
    if isinstance(cause, TypeError):
        if found := re.search(r"unexpected keyword argument '(\w+)'", text):
            known = ", ".join(k for k in node if not k.startswith("_") and k != found[1])
            return ConfigError(f"{group}: {label} has no option '{found[1]}'; "
                               + (f"its options are {known}" if known else "it takes none"))
        if found := re.search(r"missing \d+ required \S+ arguments?: (.*)", text):
            names = re.findall(r"'(\w+)'", found[1])
            return ConfigError(f"{group}: {label} needs "
                               f"{' and '.join(f'{group}.{n}' for n in names)}, which is not set")
        if found := re.search(r"multiple values for (?:keyword )?argument '(\w+)'", text):
            return ConfigError(f"{group}.{found[1]} is not an option of {label}: it sets it itself")
    return ConfigError(f"{group}: {label} failed: {type(cause or exc).__name__}: {text}")
