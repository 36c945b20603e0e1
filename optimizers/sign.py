"""Update rules that step along the sign of a momentum: sign SGD / Signum and Lion."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from optimizers.base import Hyper, Optimizer, Schedule, check_hyper, is_zero
from optimizers.schedules import constant, rate


class SignState(NamedTuple):
    step: int
    exp_avg: Tensor


def _start(params: Tensor) -> SignState:
    return SignState(0, torch.zeros_like(params))


def signsgd(lr: Hyper, *, momentum: Hyper, weight_decay: Hyper,
            schedule: Schedule | None = None) -> Optimizer:
    """Sign SGD, and with momentum Signum (Bernstein et al., "signSGD: compressed
    optimisation for non-convex problems", ICML 2018):

        m ← βm + (1 − β)g                 (β = momentum; β = 0: m = g, sign SGD)
        x ← x − η_t(sign(m) + λx)         (λ = weight_decay, decoupled)
    """
    check_hyper("lr", lr)
    check_hyper("momentum", momentum, high=1.0, open_high=True)
    check_hyper("weight_decay", weight_decay)
    schedule = schedule or constant()
    decay = not is_zero(weight_decay)

    def update(grad: Tensor, state: SignState, params: Tensor, closure=None):
        exp_avg = momentum * state.exp_avg + (1 - momentum) * grad
        new = _signed_step(params, schedule(lr, state.step), exp_avg, weight_decay, decay)
        return new, SignState(state.step + 1, exp_avg)

    hyper = dict(lr=lr, momentum=momentum, weight_decay=weight_decay)
    return Optimizer("signsgd", _start, update, hyper, rate=rate(lr, schedule))


def lion(lr: Hyper, *, b1: Hyper, b2: Hyper, weight_decay: Hyper,
         schedule: Schedule | None = None) -> Optimizer:
    """Lion, EvoLved Sign Momentum (Chen et al., "Symbolic discovery of optimization
    algorithms", NeurIPS 2023, Algorithm 2):

        c ← β₁m + (1 − β₁)g
        x ← x − η_t(sign(c) + λx)
        m ← β₂m + (1 − β₂)g
    """
    check_hyper("lr", lr)
    check_hyper("b1", b1, high=1.0)
    check_hyper("b2", b2, high=1.0)
    check_hyper("weight_decay", weight_decay)
    schedule = schedule or constant()
    decay = not is_zero(weight_decay)

    def update(grad: Tensor, state: SignState, params: Tensor, closure=None):
        c = b1 * state.exp_avg + (1 - b1) * grad
        new = _signed_step(params, schedule(lr, state.step), c, weight_decay, decay)
        return new, SignState(state.step + 1, b2 * state.exp_avg + (1 - b2) * grad)

    hyper = dict(lr=lr, b1=b1, b2=b2, weight_decay=weight_decay)
    return Optimizer("lion", _start, update, hyper, rate=rate(lr, schedule))


def _signed_step(params: Tensor, lr_t: Hyper, momentum: Tensor, weight_decay: Hyper,
                 decay: bool) -> Tensor:
    """x − η_t(sign(m) + λx): the step both rules take (λ: decoupled weight decay)."""
    direction = torch.sign(momentum)
    return params - lr_t * (direction + weight_decay * params if decay else direction)
