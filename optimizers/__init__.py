"""Update rules as pure functions (init, update) and their learning-rate schedules.

The options a config can name, and their defaults, are the files in conf/optimizer/ and
conf/schedule/ (each names its factory by `_target_`); the factories take every
hyperparameter by keyword, with no defaults of their own.
"""

# Modules, not same-named functions, are bound here: `optimizers.sgd` stays the module, so a
# config's `_target_: optimizers.sgd.sgd` resolves the same way whatever was imported first.
from optimizers import (
    adagrad,
    adam,
    adaptive,
    classical,
    rmsprop,
    schedules,
    sgd,
    sign,
    stepsize,
    torch_optim,
)
from optimizers.base import (
    Hyper,
    Optimizer,
    OptimizerError,
    Schedule,
    check_hyper,
    is_zero,
    select,
)
from optimizers.torch_optim import lbfgs, torch_optimizer

__all__ = [
    "Hyper",
    "Optimizer",
    "OptimizerError",
    "Schedule",
    "adagrad",
    "adam",
    "adaptive",
    "check_hyper",
    "classical",
    "is_zero",
    "lbfgs",
    "rmsprop",
    "schedules",
    "select",
    "sgd",
    "sign",
    "stepsize",
    "torch_optim",
    "torch_optimizer",
]
