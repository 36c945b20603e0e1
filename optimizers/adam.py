"""Adam, with AMSGrad, L2 (Adam) or decoupled (AdamW) weight decay."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from optimizers.base import Hyper, Optimizer, Schedule, check_hyper, is_zero
from optimizers.schedules import constant


class AdamState(NamedTuple):
    step: int
    exp_avg: Tensor
    exp_avg_sq: Tensor
    max_exp_avg_sq: Tensor | None


def add_scaled(x: Tensor, y: Tensor, alpha: Hyper) -> Tensor:
    """Return x + αy rounded as torch's `x.add(y, alpha=α)`, also for a tensor α.

    torch's vectorised `add` fuses the multiply-add (one rounding); `x + α * y` rounds twice,
    which is enough to drift from torch.optim's trajectories by an ulp per step.
    """
    return torch.addcmul(x, y, torch.as_tensor(alpha, dtype=y.dtype, device=y.device))


def adam(
    lr: Hyper = 1e-3,
    *,
    b1: Hyper = 0.9,
    b2: Hyper = 0.999,
    eps: Hyper = 1e-8,
    weight_decay: Hyper = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
    schedule: Schedule | None = None,
) -> Optimizer:
    """Adaptive moment estimation, as torch.optim.Adam (and AdamW when decoupled).

        g ← ∇f(x), or −∇f(x) when maximize
        g ← g + λx                          (Adam: L2 penalty, λ = weight_decay)
        x ← (1 − η_t λ) x                   (AdamW: decoupled decay instead)
        m ← β₁m + (1 − β₁)g,   v ← β₂v + (1 − β₂)g²
        v ← max(v_max, v) if amsgrad        (v_max keeps that maximum)
        x ← x − η_t / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)

    Kingma & Ba, "Adam", ICLR 2015; AMSGrad: Reddi, Kale & Kumar, ICLR 2018; AdamW:
    Loshchilov & Hutter, "Decoupled weight decay regularization", ICLR 2019.
    Departures, as torch: AMSGrad takes the maximum of the raw v and keeps Adam's bias
    correction (Reddi et al. have none); AdamW scales the decay by the learning rate η_t
    (the paper multiplies λ by the schedule factor only).
    """
    check_hyper("lr", lr)
    check_hyper("b1", b1, high=1.0, open_high=True)
    check_hyper("b2", b2, high=1.0, open_high=True)
    check_hyper("eps", eps)
    check_hyper("weight_decay", weight_decay)
    schedule = schedule or constant()
    decay = not is_zero(weight_decay)
    one_minus_b1, one_minus_b2 = 1 - b1, 1 - b2

    def init(params: Tensor) -> AdamState:
        zeros = torch.zeros_like(params)
        return AdamState(0, zeros, zeros, zeros if amsgrad else None)

    def update(grad: Tensor, state: AdamState, params: Tensor, closure=None):
        step, lr_t = state.step + 1, schedule(lr, state.step)
        g = -grad if maximize else grad
        if decay and decoupled_weight_decay:
            params = params * (1 - lr_t * weight_decay)
        elif decay:
            g = add_scaled(g, params, weight_decay)
        exp_avg = torch.lerp(state.exp_avg, g, one_minus_b1)
        exp_avg_sq = torch.addcmul(state.exp_avg_sq * b2, one_minus_b2 * g, g)
        max_sq = torch.maximum(state.max_exp_avg_sq, exp_avg_sq) if amsgrad else None
        bias_correction1 = 1 - b1**step
        bias_correction2_sqrt = (1 - b2**step) ** 0.5
        denom = (max_sq if amsgrad else exp_avg_sq).sqrt() / bias_correction2_sqrt + eps
        new = torch.addcdiv(params, -(lr_t / bias_correction1) * exp_avg, denom)
        return new, AdamState(step, exp_avg, exp_avg_sq, max_sq)

    hyper = dict(lr=lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                 maximize=maximize)
    return Optimizer("adamw" if decoupled_weight_decay else "adam", init, update, hyper)


def adamw(lr: Hyper = 1e-3, *, weight_decay: Hyper = 1e-2, **kwargs) -> Optimizer:
    """Adam with decoupled weight decay, as torch.optim.AdamW; Loshchilov & Hutter, ICLR 2019."""
    return adam(lr, weight_decay=weight_decay, decoupled_weight_decay=True, **kwargs)
