"""Adagrad: per-coordinate step sizes from the sum of squared gradients."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from optimizers.adam import add_scaled
from optimizers.base import Hyper, Optimizer, Schedule, check_hyper, is_zero
from optimizers.schedules import constant, rate


class AdagradState(NamedTuple):
    step: int
    sum: Tensor


def adagrad(
    lr: Hyper,
    *,
    lr_decay: Hyper,
    weight_decay: Hyper,
    initial_accumulator_value: Hyper,
    eps: Hyper,
    maximize: bool = False,
    schedule: Schedule | None = None,
) -> Optimizer:
    """Adaptive subgradient descent, as torch.optim.Adagrad.

        g ← ∇f(x) (−∇f(x) when maximize), then g ← g + λx   (λ = weight_decay)
        s ← s + g²                          (s₀ = initial_accumulator_value)
        x ← x − η_t / (1 + tδ) · g / (√s + ε)    (δ = lr_decay, t = updates taken)

    Duchi, Hazan & Singer, "Adaptive subgradient methods for online learning and stochastic
    optimization", JMLR 12, 2011 (diagonal version), whose δ is ε here, added to √s as in
    the paper. Additions, as torch: lr_decay and the initial accumulator (both 0 is the
    paper's rule). No schedule form to choose: the rate multiplies the step, not a buffer.
    """
    check_hyper("lr", lr)
    check_hyper("lr_decay", lr_decay)
    check_hyper("weight_decay", weight_decay)
    check_hyper("initial_accumulator_value", initial_accumulator_value)
    check_hyper("eps", eps)
    schedule = schedule or constant()

    def init(params: Tensor) -> AdagradState:
        return AdagradState(0, torch.zeros_like(params) + initial_accumulator_value)

    def update(grad: Tensor, state: AdagradState, params: Tensor, closure=None):
        g = -grad if maximize else grad
        if not is_zero(weight_decay):
            g = add_scaled(g, params, weight_decay)
        clr = schedule(lr, state.step) / (1 + state.step * lr_decay)
        acc = torch.addcmul(state.sum, g, g)
        new = torch.addcdiv(params, -clr * g, acc.sqrt() + eps)
        return new, AdagradState(state.step + 1, acc)

    hyper = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                 initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
    return Optimizer("adagrad", init, update, hyper, rate=rate(lr, schedule, lr_decay))
