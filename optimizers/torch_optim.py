"""A pass-through that drives any torch.optim optimizer through the pure-function interface.

The torch optimizer updates its parameter in place and keeps its own mutable state, so the
returned state wraps both; each state is meant to be stepped once, as the loop does. Rows of
a batch are not independent here (L-BFGS couples them), hence `batchable=False`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NamedTuple

import torch
from torch import Tensor

from optimizers.base import (
    Hyper,
    Optimizer,
    OptimizerError,
    Schedule,
    check_count,
    check_hyper,
    shown,
)
from optimizers.schedules import constant, rate

Closure = Callable[[Tensor], tuple[Tensor, Tensor]]
LINE_SEARCHES = (None, "strong_wolfe")  # torch.optim.LBFGS's: none, or strong Wolfe
STALL_STEPS = 10  # the default stall.steps of optimizers that stop inside a step


class TorchState(NamedTuple):
    step: int
    param: Tensor
    optimizer: torch.optim.Optimizer


def resolve(path: str) -> type[torch.optim.Optimizer]:
    """Import a torch.optim.Optimizer subclass from its dotted path ("torch.optim.Adam")."""
    module, _, name = path.rpartition(".")
    try:
        found: Any = getattr(importlib.import_module(module or "torch.optim"), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise OptimizerError(f"optimizer.cls '{path}' does not resolve: {err}") from err
    if not (isinstance(found, type) and issubclass(found, torch.optim.Optimizer)):
        raise OptimizerError(f"optimizer.cls '{path}' is not a torch.optim.Optimizer subclass")
    return found


def needs_closure(cls: type[torch.optim.Optimizer]) -> bool:
    """True when `cls.step` requires its closure (L-BFGS); most take it optionally."""
    param = inspect.signature(cls.step).parameters.get("closure")
    return param is not None and param.default is inspect.Parameter.empty


def torch_optimizer(cls: str, lr: Hyper, *, schedule: Schedule | None = None,
                    **kwargs: Any) -> Optimizer:
    """Drive `cls` (an import path) with learning rate η_t = schedule(lr, t) and `kwargs`.

    The update rule is torch's own; see its documentation. For optimizers whose `step`
    needs a closure, the loop's `closure(x) -> (value, grad)` is wrapped into one that sets
    the parameter's `.grad` and returns the (summed) value.
    """
    optimizer_cls = resolve(cls)
    check_hyper("lr", lr, open_low=optimizer_cls is torch.optim.LBFGS)
    if optimizer_cls is torch.optim.LBFGS:
        check_lbfgs(**kwargs)
    closure_needed = needs_closure(optimizer_cls)
    trial_step(cls, optimizer_cls, closure_needed, lr, kwargs)
    schedule = schedule or constant()

    def init(params: Tensor) -> TorchState:
        param = params.detach().clone().requires_grad_(True)
        return TorchState(0, param, optimizer_cls([param], lr=lr, **kwargs))

    def update(grad: Tensor, state: TorchState, params: Tensor,
               closure: Closure | None = None) -> tuple[Tensor, TorchState]:
        if closure_needed and closure is None:
            raise OptimizerError(f"optimizer '{cls}' re-evaluates the objective: its update "
                                 "needs closure(x) -> (value, grad)")
        param, optimizer = state.param, state.optimizer
        for group in optimizer.param_groups:
            group["lr"] = schedule(lr, state.step)
        with torch.no_grad():
            param.copy_(params)
        param.grad = grad.detach().clone()
        if closure_needed:
            optimizer.step(lambda: _set_grad(closure, param))
        else:
            optimizer.step()
        return param.detach().clone(), TorchState(state.step + 1, param, optimizer)

    # an optimizer that re-evaluates may stop inside its step and then stand still
    return Optimizer(cls, init, update, dict(cls=cls, lr=lr, **kwargs), batchable=False,
                     stall_steps=STALL_STEPS if closure_needed else 0, rate=rate(lr, schedule))


def trial_step(cls: str, optimizer_cls: type[torch.optim.Optimizer], closure_needed: bool,
               lr: Hyper, kwargs: dict[str, Any]) -> None:
    """Reject bad options now rather than at a run's first step: build the optimizer on a
    one-coordinate parameter and take one step on x²."""
    param = torch.ones(1, dtype=torch.float64, requires_grad=True)
    options = ", ".join(f"{k}={shown(v)}" for k, v in kwargs.items())

    def closure() -> Tensor:
        param.grad = 2 * param.detach()
        return (param.detach() ** 2).sum()

    try:
        optimizer = optimizer_cls([param], lr=lr, **kwargs)
    except (TypeError, ValueError, RuntimeError) as err:
        raise OptimizerError(f"optimizer '{cls}' rejects its options ({options}): {err}") from None
    try:
        closure()
        optimizer.step(closure) if closure_needed else optimizer.step()
    except Exception as err:  # noqa: BLE001 - whatever torch raises, the options are at fault
        raise OptimizerError(f"optimizer '{cls}' fails a trial step with its options "
                             f"({options}): {type(err).__name__}: {err}") from None


def check_lbfgs(*, max_iter: Any = 20, max_eval: Any = None, tolerance_grad: Any = 1e-7,
                tolerance_change: Any = 1e-9, history_size: Any = 100,
                line_search_fn: Any = None, **others: Any) -> None:
    """torch.optim.LBFGS's options, checked (torch takes most of them unchecked and fails
    at the first step, or never: history_size=0 fails at the second iteration)."""
    check_count("max_iter", max_iter)
    if max_eval is not None:
        check_count("max_eval", max_eval)
    check_hyper("tolerance_grad", tolerance_grad)
    check_hyper("tolerance_change", tolerance_change)
    check_count("history_size", history_size)
    if line_search_fn not in LINE_SEARCHES:
        raise OptimizerError(f"optimizer.line_search_fn must be strong_wolfe or null (none), "
                             f"got {shown(line_search_fn)}")


def _set_grad(closure: Closure, param: Tensor) -> Tensor:
    """A torch closure: evaluate at the parameter, store the gradient, return the value."""
    value, grad = closure(param.detach().clone())
    param.grad = grad.detach().clone()
    return value.sum()


def lbfgs(lr: Hyper, *, line_search_fn: str | None, **kwargs: Any) -> Optimizer:
    """L-BFGS, as torch.optim.LBFGS; Liu & Nocedal, Math. Programming 45, 1989.

    Departures from torch's defaults (conf/optimizer/lbfgs.yaml): the strong-Wolfe line
    search is on (torch has none), since a fixed unit step diverges on curved valleys such as
    Rosenbrock's; and its tolerances are 0. torch ends a step's inner iterations when
    max|∇f| <= tolerance_grad (1e-7) or |Δf| or max|Δx| < tolerance_change (1e-9): absolute
    values, blind to the problem's scale, with which 7 of the 35 Moré-Garbow-Hillstrom problems
    stop far from f* while every later step returns at once. At 0 a step ends only at an exact
    stationary point, a zero step or max_iter, and the run itself says when it stops: the
    run's `tol`, or `stalled` after stall.steps (default 10) steps without progress.
    """
    built = torch_optimizer("torch.optim.LBFGS", lr, line_search_fn=line_search_fn, **kwargs)
    return replace(built, name="lbfgs")
