"""RMSprop: steps scaled by a running root mean square of the gradients."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from optimizers.adam import add_scaled
from optimizers.base import Hyper, Optimizer, Schedule, check_hyper, is_zero
from optimizers.schedules import constant, rate


class RMSpropState(NamedTuple):
    step: int
    square_avg: Tensor
    grad_avg: Tensor | None
    momentum_buffer: Tensor | None


def rmsprop(
    lr: Hyper,
    *,
    alpha: Hyper,
    eps: Hyper,
    weight_decay: Hyper,
    momentum: Hyper,
    centered: bool,
    maximize: bool = False,
    lr_in_buffer: bool = False,
    schedule: Schedule | None = None,
) -> Optimizer:
    """Root-mean-square propagation, as torch.optim.RMSprop.

        g ← ∇f(x) (−∇f(x) when maximize), then g ← g + λx   (λ = weight_decay)
        v ← αv + (1 − α)g²
        ḡ ← αḡ + (1 − α)g, v̄ ← v − ḡ²       (centered; otherwise v̄ = v)
        d ← g / (√v̄ + ε)
        b ← μb + d, x ← x − η_t b           (momentum μ > 0; b₀ = 0)
        x ← x − η_t d                       (otherwise)

    Tieleman & Hinton, COURSERA: Neural Networks for Machine Learning, lecture 6.5, 2012;
    centered and with momentum: Graves, "Generating sequences with recurrent neural
    networks", arXiv:1308.0850, 2013. Departure, as torch: ε is added to √v rather than
    inside the root (Graves and TensorFlow put it inside). With momentum, torch's form
    multiplies the whole buffer by the current rate η_t; Graves puts the rate inside it
    (Δ ← μΔ − η_t d, x ← x + Δ), which `lr_in_buffer=True` gives: b ← μb + η_t d,
    x ← x − b. With a constant rate both forms take the same steps (up to rounding).
    """
    check_hyper("lr", lr)
    check_hyper("alpha", alpha, high=1.0)
    check_hyper("eps", eps)
    check_hyper("weight_decay", weight_decay)
    check_hyper("momentum", momentum)
    use_momentum = not is_zero(momentum)
    schedule = schedule or constant()

    def init(params: Tensor) -> RMSpropState:
        zeros = torch.zeros_like(params)
        return RMSpropState(0, zeros, zeros if centered else None,
                            zeros if use_momentum else None)

    def update(grad: Tensor, state: RMSpropState, params: Tensor, closure=None):
        lr_t = schedule(lr, state.step)
        g = -grad if maximize else grad
        if not is_zero(weight_decay):
            g = add_scaled(g, params, weight_decay)
        square_avg = torch.addcmul(state.square_avg * alpha, (1 - alpha) * g, g)
        grad_avg, buf = state.grad_avg, state.momentum_buffer
        if centered:
            grad_avg = torch.lerp(grad_avg, g, 1 - alpha)
            avg = torch.addcmul(square_avg, grad_avg, grad_avg, value=-1).sqrt() + eps
        else:
            avg = square_avg.sqrt() + eps
        if use_momentum and lr_in_buffer:
            buf = torch.addcdiv(buf * momentum, lr_t * g, avg)
            new = params - buf
        elif use_momentum:
            buf = torch.addcdiv(buf * momentum, g, avg)
            new = add_scaled(params, buf, -lr_t)
        else:
            new = torch.addcdiv(params, -lr_t * g, avg)
        return new, RMSpropState(state.step + 1, square_avg, grad_avg, buf)

    hyper = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                 centered=centered, maximize=maximize, lr_in_buffer=lr_in_buffer)
    return Optimizer("rmsprop", init, update, hyper, rate=rate(lr, schedule))
