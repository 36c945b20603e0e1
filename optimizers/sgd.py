"""Stochastic gradient descent with optional momentum (heavy ball) and Nesterov momentum."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from optimizers.base import Hyper, Optimizer, OptimizerError, Schedule, check_hyper, is_zero
from optimizers.schedules import constant


class SGDState(NamedTuple):
    step: int
    momentum_buffer: Tensor | None


def sgd(
    lr: Hyper,
    *,
    momentum: Hyper,
    dampening: Hyper,
    nesterov: bool,
    weight_decay: Hyper,
    maximize: bool = False,
    schedule: Schedule | None = None,
) -> Optimizer:
    """Gradient descent, as torch.optim.SGD.

        g ← ∇f(x) + λx                        (λ = weight_decay)
        b ← g at t = 0, else μb + (1 − τ)g    (μ = momentum, τ = dampening)
        g ← g + μb if nesterov, else b        (when μ ≠ 0)
        x ← x − η_t g

    Departure from the textbook heavy ball: the buffer starts at the first gradient, not
    at zero (as torch does). Nesterov form of Sutskever et al., ICML 2013.
    """
    check_hyper("lr", lr)
    check_hyper("momentum", momentum)
    check_hyper("dampening", dampening)
    check_hyper("weight_decay", weight_decay)
    use_momentum = not is_zero(momentum)
    if nesterov and (not use_momentum or not is_zero(dampening)):
        raise OptimizerError("optimizer.nesterov needs momentum > 0 and dampening = 0")
    schedule = schedule or constant()

    def init(params: Tensor) -> SGDState:
        return SGDState(step=0, momentum_buffer=None)

    def update(grad: Tensor, state: SGDState, params: Tensor, closure=None):
        g = -grad if maximize else grad
        if not is_zero(weight_decay):
            g = g + weight_decay * params
        buf = state.momentum_buffer
        if use_momentum:
            buf = g.clone() if state.step == 0 else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        return params - schedule(lr, state.step) * g, SGDState(state.step + 1, buf)

    hyper = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                 weight_decay=weight_decay, maximize=maximize)
    return Optimizer("sgd", init, update, hyper)


def heavy_ball(lr: Hyper, *, momentum: Hyper, dampening: Hyper, weight_decay: Hyper,
               **kwargs) -> Optimizer:
    """SGD with (heavy-ball) momentum; Polyak, USSR Comp. Math. 4(5), 1964."""
    return sgd(lr, momentum=momentum, dampening=dampening, nesterov=False,
               weight_decay=weight_decay, **kwargs)


def nesterov(lr: Hyper, *, momentum: Hyper, weight_decay: Hyper, **kwargs) -> Optimizer:
    """SGD with Nesterov momentum (no dampening); Nesterov 1983, in Sutskever et al.'s form."""
    return sgd(lr, momentum=momentum, dampening=0.0, nesterov=True, weight_decay=weight_decay,
               **kwargs)
