"""Stochastic gradient descent with optional momentum (heavy ball) and Nesterov momentum."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from optimizers.base import Hyper, Optimizer, OptimizerError, Schedule, check_hyper, is_zero
from optimizers.schedules import constant, rate


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
    lr_in_buffer: bool = False,
    schedule: Schedule | None = None,
) -> Optimizer:
    """Gradient descent, as torch.optim.SGD.

        g ← ∇f(x) + λx                        (λ = weight_decay)
        b ← g at t = 0, else μb + (1 − τ)g    (μ = momentum, τ = dampening)
        g ← g + μb if nesterov, else b        (when μ ≠ 0)
        x ← x − η_t g

    With momentum this is torch's form: the current rate η_t multiplies the whole buffer,
    so under a schedule a change of rate rescales every past gradient at once. The papers
    put the rate inside the buffer, each gradient scaled by the rate of its own step —
    Polyak's heavy ball (USSR Comp. Math. 4(5), 1964), x_{t+1} = x_t − η_t∇f(x_t) +
    μ(x_t − x_{t−1}), and Nesterov momentum in the form of Sutskever et al. (ICML 2013),
    v ← μv − η_t∇f(θ + μv), θ ← θ + v, written in the look-ahead point x = θ + μv.
    `lr_in_buffer=True` gives that form:

        b ← η_t g at t = 0, else μb + (1 − τ)η_t g
        x ← x − (η_t g + μb) if nesterov, else x − b

    With a constant rate both forms take the same steps (up to rounding). In both, the
    buffer starts at the first (scaled) gradient, as torch's does; the heavy ball's
    x_{−1} = x_0 gives the same first step.
    """
    check_hyper("lr", lr)
    check_hyper("momentum", momentum)
    check_hyper("dampening", dampening)
    check_hyper("weight_decay", weight_decay)
    use_momentum, undamped = not is_zero(momentum), is_zero(dampening)
    if nesterov and (not use_momentum or not undamped):
        raise OptimizerError("optimizer.nesterov needs momentum > 0 and dampening = 0")
    schedule = schedule or constant()

    def init(params: Tensor) -> SGDState:
        return SGDState(step=0, momentum_buffer=None)

    def update(grad: Tensor, state: SGDState, params: Tensor, closure=None):
        g = -grad if maximize else grad
        if not is_zero(weight_decay):
            g = g + weight_decay * params
        buf, lr_t = state.momentum_buffer, schedule(lr, state.step)
        if use_momentum and lr_in_buffer:
            g = lr_t * g
        if use_momentum:  # each sum added into its new product μb: the same value, one
            #  temporary fewer (with no dampening, g itself: 1·g is g)
            buf = g.clone() if state.step == 0 else (momentum * buf).add_(
                g if undamped else (1 - dampening) * g)
            g = (momentum * buf).add_(g) if nesterov else buf
        step = g if use_momentum and lr_in_buffer else lr_t * g
        return params - step, SGDState(state.step + 1, buf)

    hyper = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                 weight_decay=weight_decay, maximize=maximize, lr_in_buffer=lr_in_buffer)
    return Optimizer("sgd", init, update, hyper, rate=rate(lr, schedule))


def heavy_ball(lr: Hyper, *, momentum: Hyper, dampening: Hyper, weight_decay: Hyper,
               **kwargs) -> Optimizer:
    """SGD with (heavy-ball) momentum; Polyak, USSR Comp. Math. 4(5), 1964."""
    return sgd(lr, momentum=momentum, dampening=dampening, nesterov=False,
               weight_decay=weight_decay, **kwargs)


def nesterov(lr: Hyper, *, momentum: Hyper, weight_decay: Hyper, **kwargs) -> Optimizer:
    """SGD with Nesterov momentum (no dampening); Nesterov 1983, in Sutskever et al.'s form."""
    return sgd(lr, momentum=momentum, dampening=0.0, nesterov=True, weight_decay=weight_decay,
               **kwargs)
