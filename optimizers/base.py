"""The optimizer interface: a pair of pure functions over an explicit, immutable state.

An optimizer is `init(params) -> state` and `update(grad, state, params) -> (params, state)`
(optax's shape). Nothing is mutated: the caller keeps its starting point. Hyperparameters
are Python scalars or tensors that broadcast against the parameters, so one optimizer
drives a batch of points (B, d) with per-row hyperparameters (shape (B, 1)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import torch
from torch import Tensor

Hyper = float | Tensor
Schedule = Callable[[Hyper, int], Hyper]
Rate = Callable[[int], Hyper]


INT64_MAX = 2**63 - 1  # step counters are compared with torch's int64 indices


class OptimizerError(ValueError):
    """A bad hyperparameter or option, phrased for the user."""


@dataclass(frozen=True)
class Optimizer:
    """An update rule: `init` builds the state, `update` takes one step.

    `update(grad, state, params, closure=None)`; `closure(x) -> (value, grad)` is passed by
    the loop for rules that re-evaluate the objective (line searches, L-BFGS).
    `batchable` says whether rows of a batch are independent (true for every own rule).
    `stall_steps` is the default of the run's `stall.steps`: how many steps without progress
    end a run as stalled (0: never), set where the rule stops inside a step (L-BFGS).
    `rate(t)` is the learning rate of update t where it changes with t (a schedule, Adagrad's
    lr_decay), None where it is the constant `lr`: runs log it as their `lr` history.
    `needs_value`: the loop also passes the step's f(x) (one per row), as `value=`: a rule
    whose step size depends on it (Polyak's) takes it without evaluating f again.
    `observe(f)`, where set, is told each step's f after its update (a schedule that
    depends on f: reduce-on-plateau).
    """

    name: str
    init: Callable[[Tensor], Any]
    update: Callable[..., tuple[Tensor, Any]]
    hyperparams: dict[str, Any] = field(default_factory=dict)
    batchable: bool = True
    stall_steps: int = 0
    rate: Rate | None = None
    needs_value: bool = False
    observe: Callable[[Tensor], None] | None = None


def check_hyper(name: str, value: Hyper, *, low: float = 0.0, high: float | None = None,
                open_low: bool = False, open_high: bool = False) -> Hyper:
    """Check that a hyperparameter (a number, or a tensor of them: one per row of a batch)
    lies in its range; return it unchanged. `name` is its key under `optimizer.`, or a
    dotted key of its own (`schedule.gamma`)."""
    key = name if "." in name else f"optimizer.{name}"
    if isinstance(value, bool) or not isinstance(value, (Real, Tensor)):
        raise OptimizerError(f"{key} must be a number, got {shown(value)}")
    t = torch.as_tensor(value, dtype=torch.float64)
    bad = ~torch.isfinite(t) | ((t <= low) if open_low else (t < low))
    if high is not None:
        bad |= (t >= high) if open_high else (t > high)
    if bool(bad.any()):
        lo = "(" if open_low else "["
        hi = "∞)" if high is None else (f"{high})" if open_high else f"{high}]")
        bad_value = value if not isinstance(value, Tensor) else t[bad].flatten()[0].item()
        raise OptimizerError(f"{key} must lie in {lo}{low}, {hi}, got {bad_value}")
    return value


def check_count(name: str, value: object, low: int = 1) -> int:
    """Check that an integer setting (a step count, a history length) is an int >= low."""
    key = name if "." in name else f"optimizer.{name}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptimizerError(f"{key} must be an integer >= {low}, got {shown(value)}")
    if value < low:
        raise OptimizerError(f"{key} must be an integer >= {low}, got {value}")
    if value > INT64_MAX:
        raise OptimizerError(f"{key} must be at most 2**63 - 1 (int64), got {value}")
    return value


def check_counts(name: str, value: object, low: int = 1) -> int | Tensor:
    """check_count for a count a batch may vary per row (a warm-up's length): an int, or a
    tensor of whole numbers (B, 1) as the vectorized launcher passes every numeric
    hyperparameter; returned unchanged."""
    if not isinstance(value, Tensor):
        return check_count(name, value, low)
    key = name if "." in name else f"optimizer.{name}"
    bad = (value != value.round()) | (value < low) | ~torch.isfinite(value)
    if bool(bad.any()):
        raise OptimizerError(f"{key} must be an integer >= {low}, got {value[bad][0].item()}")
    return value


def ratio(n: int, d: Hyper) -> Hyper:
    """n / d, correctly rounded for a tensor d too (`n / tensor` multiplies by a rounded
    reciprocal: a row of a batch would differ from the same run alone in its last bits)."""
    return torch.as_tensor(n, dtype=d.dtype, device=d.device) / d if isinstance(d, Tensor) else n / d


def shown(value: object) -> str:
    """A value as the command line spells it: null, true, 'text', [1, 2]."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def power(base: Hyper, n: int) -> Hyper:
    """base**n for an integer n ≥ 0, the same to the last bit for every row of a batch.

    torch's `pow` rounds differently in its vectorised loop and its scalar tail, so a row's
    βᵗ would depend on the batch's size and the row's place in it. For tensors this takes
    products by binary exponentiation instead (each product exactly rounded; within
    about log₂(n) ulp of the exact power); Python floats use Python's pow.
    """
    if not isinstance(base, Tensor):
        return base**n
    result, square = torch.ones_like(base), base
    while n:
        if n & 1:
            result = result * square
        n >>= 1
        if n:
            square = square * square
    return result


def is_zero(value: Hyper) -> bool:
    """True when a hyperparameter is zero everywhere (lets a rule skip a term, as torch does)."""
    return not bool(torch.as_tensor(value).ne(0).any())


def select(mask: Tensor, new: Any, old: Any) -> Any:
    """Per-row choice between two states (or two tensors): `new` where mask, else `old`.

    `mask` has shape (B,); tensor leaves of shape (B, ...) are selected row by row, other
    leaves (step counters, Python scalars) are taken from `new`.
    """
    if isinstance(new, Tensor):
        if new.dim() == 0 or new.shape[0] != mask.shape[0]:
            return new
        return torch.where(mask.view(-1, *([1] * (new.dim() - 1))), new, old)
    if isinstance(new, tuple) and hasattr(new, "_fields"):
        return type(new)(*(select(mask, n, o) for n, o in zip(new, old)))
    return new

