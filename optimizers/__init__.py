"""Update rules as pure functions (init, update), their schedules, and a registry by name."""

from collections.abc import Callable

# Modules, not same-named functions, are bound here: `optimizers.sgd` stays the module, so a
# config's `_target_: optimizers.sgd.sgd` resolves the same way whatever was imported first.
from optimizers import adagrad, adam, rmsprop, schedules, sgd, torch_optim
from optimizers.base import (
    Hyper,
    Optimizer,
    OptimizerError,
    Schedule,
    check_hyper,
    is_zero,
    select,
)
from optimizers.schedules import SCHEDULES
from optimizers.torch_optim import lbfgs, torch_optimizer

OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "sgd": sgd.sgd,
    "momentum": sgd.heavy_ball,
    "nesterov": sgd.nesterov,
    "adam": adam.adam,
    "adamw": adam.adamw,
    "adagrad": adagrad.adagrad,
    "rmsprop": rmsprop.rmsprop,
    "lbfgs": lbfgs,
    "torch": torch_optimizer,
}


def make(name: str, **hyper) -> Optimizer:
    """Build the optimizer registered as `name`; unknown names and options are clear errors."""
    if name not in OPTIMIZERS:
        raise OptimizerError(f"unknown optimizer '{name}'; choose one of {', '.join(OPTIMIZERS)}")
    try:
        return OPTIMIZERS[name](**hyper)
    except TypeError as err:  # an unknown or missing keyword
        raise OptimizerError(f"optimizer '{name}': {err}") from err


__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "Hyper",
    "Optimizer",
    "OptimizerError",
    "Schedule",
    "adagrad",
    "adam",
    "check_hyper",
    "is_zero",
    "lbfgs",
    "make",
    "rmsprop",
    "schedules",
    "select",
    "sgd",
    "torch_optim",
    "torch_optimizer",
]
