"""Adam, with AMSGrad, L2 (Adam) or decoupled (AdamW) weight decay."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from optimizers.base import Hyper, Optimizer, Schedule, check_hyper, is_zero
from optimizers.schedules import constant, rate


class AdamState(NamedTuple):
    step: int
    exp_avg: Tensor
    exp_avg_sq: Tensor
    max_exp_avg_sq: Tensor | None
    b1_power: Hyper = 1.0  # β₁ᵗ and β₂ᵗ, kept as running products (see below)
    b2_power: Hyper = 1.0


def add_scaled(x: Tensor, y: Tensor, alpha: Hyper) -> Tensor:
    """Return x + αy rounded as torch's `x.add(y, alpha=α)`, also for a tensor α.

    torch's vectorised `add` fuses the multiply-add (one rounding); `x + α * y` rounds twice,
    which is enough to drift from torch.optim's trajectories by an ulp per step.
    """
    return torch.addcmul(x, y, torch.as_tensor(alpha, dtype=y.dtype, device=y.device))


def decayed(grad: Tensor, params: Tensor, lr_t: Hyper, weight_decay: Hyper, *, decay: bool,
            decoupled: bool, maximize: bool) -> tuple[Tensor, Tensor]:
    """(g, x) before an Adam-like step: g = ∇f (−∇f to maximize) plus the L2 term λx, or,
    with decoupled decay, x shrunk to (1 − η_t λ)x instead (`decay`: λ ≠ 0, known up front)."""
    g = -grad if maximize else grad
    if decay and decoupled:
        params = params * (1 - lr_t * weight_decay)
    elif decay:
        g = add_scaled(g, params, weight_decay)
    return g, params


def moments(exp_avg: Tensor, exp_avg_sq: Tensor, g: Tensor, b1: Hyper,
            b2: Hyper) -> tuple[Tensor, Tensor]:
    """m ← β₁m + (1 − β₁)g and v ← β₂v + (1 − β₂)g², rounded as torch.optim rounds them."""
    return torch.lerp(exp_avg, g, 1 - b1), torch.addcmul(exp_avg_sq * b2, (1 - b2) * g, g)


def adam(
    lr: Hyper,
    *,
    b1: Hyper,
    b2: Hyper,
    eps: Hyper,
    weight_decay: Hyper,
    amsgrad: bool,
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

    def init(params: Tensor) -> AdamState:
        zeros = torch.zeros_like(params)
        return AdamState(0, zeros, zeros, zeros if amsgrad else None)

    def update(grad: Tensor, state: AdamState, params: Tensor, closure=None):
        step, lr_t = state.step + 1, schedule(lr, state.step)
        g, params = decayed(grad, params, lr_t, weight_decay, decay=decay,
                            decoupled=decoupled_weight_decay, maximize=maximize)
        exp_avg, exp_avg_sq = moments(state.exp_avg, state.exp_avg_sq, g, b1, b2)
        max_sq = torch.maximum(state.max_exp_avg_sq, exp_avg_sq) if amsgrad else None
        b1_power = _beta_power(b1, step, state.b1_power)
        b2_power = _beta_power(b2, step, state.b2_power)
        bias_correction1 = 1 - b1_power
        bias_correction2_sqrt = (1 - b2_power) ** 0.5
        denom = (max_sq if amsgrad else exp_avg_sq).sqrt() / bias_correction2_sqrt + eps
        new = torch.addcdiv(params, -(lr_t / bias_correction1) * exp_avg, denom)
        return new, AdamState(step, exp_avg, exp_avg_sq, max_sq, b1_power, b2_power)

    hyper = dict(lr=lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                 maximize=maximize)
    return Optimizer("adamw" if decoupled_weight_decay else "adam", init, update, hyper,
                     rate=rate(lr, schedule))


def _beta_power(beta: Hyper, step: int, previous: Hyper) -> Hyper:
    """βᵗ: Python's pow for a float β, as torch.optim computes it; for per-row tensors the
    running product βᵗ⁻¹·β, exactly rounded and so the same bits in every row of any batch
    (torch's pow rounds differently in its vectorised loop and its scalar tail)."""
    return beta**step if not isinstance(beta, Tensor) else previous * beta


def adamw(lr: Hyper, *, weight_decay: Hyper, **kwargs) -> Optimizer:
    """Adam with decoupled weight decay, as torch.optim.AdamW; Loshchilov & Hutter, ICLR 2019."""
    return adam(lr, weight_decay=weight_decay, decoupled_weight_decay=True, **kwargs)
