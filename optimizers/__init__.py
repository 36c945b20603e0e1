"""Update rules as pure functions (init, update), their schedules, and a registry by name."""

from collections.abc import Callable

from optimizers.adagrad import AdagradState, adagrad
from optimizers.adam import AdamState, adam, adamw, add_scaled
from optimizers.base import (
    Hyper,
    Optimizer,
    OptimizerError,
    Schedule,
    StepState,
    check_hyper,
    is_zero,
    select,
)
from optimizers.rmsprop import RMSpropState, rmsprop
from optimizers.schedules import SCHEDULES, constant, cosine, exponential, step_decay
from optimizers.sgd import SGDState, heavy_ball, nesterov, sgd
from optimizers.torch_optim import TorchState, lbfgs, torch_optimizer

OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "sgd": sgd,
    "momentum": heavy_ball,
    "nesterov": nesterov,
    "adam": adam,
    "adamw": adamw,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
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
    "AdagradState",
    "AdamState",
    "Hyper",
    "Optimizer",
    "OptimizerError",
    "RMSpropState",
    "SGDState",
    "Schedule",
    "StepState",
    "TorchState",
    "adagrad",
    "adam",
    "adamw",
    "add_scaled",
    "check_hyper",
    "constant",
    "cosine",
    "exponential",
    "heavy_ball",
    "is_zero",
    "lbfgs",
    "make",
    "nesterov",
    "rmsprop",
    "select",
    "sgd",
    "step_decay",
    "torch_optimizer",
]
