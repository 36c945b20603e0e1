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

from optimizers.base import Hyper, Optimizer, OptimizerError, Schedule, check_hyper
from optimizers.schedules import constant

Closure = Callable[[Tensor], tuple[Tensor, Tensor]]


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
    check_hyper("lr", lr)
    try:  # reject bad options now rather than at the first step
        optimizer_cls([torch.zeros(1, requires_grad=True)], lr=lr, **kwargs)
    except (TypeError, ValueError) as err:
        raise OptimizerError(f"optimizer '{cls}' rejects its options {kwargs}: {err}") from err
    closure_needed = needs_closure(optimizer_cls)
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

    return Optimizer(cls, init, update, dict(cls=cls, lr=lr, **kwargs), batchable=False)


def _set_grad(closure: Closure, param: Tensor) -> Tensor:
    """A torch closure: evaluate at the parameter, store the gradient, return the value."""
    value, grad = closure(param.detach().clone())
    param.grad = grad.detach().clone()
    return value.sum()


def lbfgs(lr: Hyper, *, line_search_fn: str | None, **kwargs: Any) -> Optimizer:
    """L-BFGS, as torch.optim.LBFGS; Liu & Nocedal, Math. Programming 45, 1989.

    Departure from torch's defaults (conf/optimizer/lbfgs.yaml): the strong-Wolfe line
    search is on (torch has none), since a fixed unit step diverges on curved valleys such as
    Rosenbrock's.
    """
    built = torch_optimizer("torch.optim.LBFGS", lr, line_search_fn=line_search_fn, **kwargs)
    return replace(built, name="lbfgs")
