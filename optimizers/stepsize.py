"""Rules that set their own step size, as pure batchable rules: Polyak's step from the gap
f(x) − f*, Prodigy's estimate of the distance to the solution, and Schedule-Free SGD and
AdamW, whose averaging replaces a decaying schedule. Each against a NumPy statement of its
paper's algorithm (1e-10 over 200 steps, two problems, three settings):
tests/test_optimizers.py. Every quantity that is a scalar in the papers (d, r, the step) is
one per row of a batch.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from optimizers.adaptive import _check_adam_like, _rowwise, _sqrt
from optimizers.base import Hyper, Optimizer, Schedule, check_counts, check_hyper, is_zero, ratio
from optimizers.schedules import constant, rate


class PolyakState(NamedTuple):
    step: int


def polyak(lr: Hyper, *, f_star: Hyper, c: Hyper, schedule: Schedule | None = None) -> Optimizer:
    """Polyak's step size (Polyak, "Introduction to optimization", 1987, section 5.3), capped
    as SPS_max (Loizou et al., "Stochastic Polyak step-size for SGD", AISTATS 2021):

        γ = min((f(x) − f*) / (c‖g‖²), η_t),   x ← x − γg

    with f the step's value (the sample's, with minibatches: SPS), f* = f_star a lower
    bound on the minimum, c = 1 and no cap the classical rule. γ is 0 where g = 0 and is
    never negative (an f* above f(x) does not climb). The run's `lr` history is the cap.
    """
    check_hyper("lr", lr, open_low=True)
    check_hyper("f_star", f_star, low=-math.inf)
    check_hyper("c", c, open_low=True)
    schedule = schedule or constant()

    def init(params: Tensor) -> PolyakState:
        return PolyakState(0)

    def update(grad: Tensor, state: PolyakState, params: Tensor, closure=None, *, value):
        squared = (grad * grad).sum(-1, keepdim=True)
        gap = (value.reshape(squared.shape) - f_star).clamp_min(0)
        step = torch.where(squared > 0, gap / (c * squared.where(squared > 0, 1.0)), 0.0)
        step = torch.minimum(step, torch.as_tensor(schedule(lr, state.step), dtype=step.dtype,
                                                   device=step.device))
        return params - step * grad, PolyakState(state.step + 1)

    return Optimizer("polyak", init, update, dict(lr=lr, f_star=f_star, c=c),
                     rate=rate(lr, schedule), needs_value=True)


class ProdigyState(NamedTuple):
    step: int
    x0: Tensor
    d: Tensor
    r: Tensor
    s: Tensor
    exp_avg: Tensor
    exp_avg_sq: Tensor


def prodigy(lr: Hyper, *, b1: Hyper, b2: Hyper, eps: Hyper, d0: Hyper, weight_decay: Hyper,
            schedule: Schedule | None = None) -> Optimizer:
    """Prodigy, Adam whose step is scaled by d, a growing estimate of the distance from x₀ to
    the solution (Mishchenko & Defazio, "Prodigy: an expeditiously adaptive parameter-free
    learner", ICML 2024, Algorithm 4). With γ_k = η_k (lr, 1 by default) and d₀ = d0:

        m ← β₁m + (1 − β₁) d g,          v ← β₂v + (1 − β₂) d² g²
        r ← √β₂ r + (1 − √β₂) γ d² ⟨g, x₀ − x⟩
        s ← √β₂ s + (1 − √β₂) γ d² g
        x ← x − γ d (m / (√v + dε) + λx),   then d ← max(d, r / ‖s‖₁)

    (the step takes d before its update, as the paper's x_{k+1}; λ = weight_decay,
    decoupled as in the authors' code; d stays where ‖s‖₁ = 0).
    """
    _check_adam_like(lr, b1, b2, eps, weight_decay)
    check_hyper("d0", d0, open_low=True)
    schedule = schedule or constant()

    def init(params: Tensor) -> ProdigyState:
        zeros = torch.zeros_like(params)
        column = torch.zeros_like(params[..., :1])
        return ProdigyState(0, params, column + d0, column, zeros, zeros, zeros)

    def update(grad: Tensor, state: ProdigyState, params: Tensor, closure=None):
        lr_t, d = schedule(lr, state.step), state.d
        root = _sqrt(b2)
        exp_avg = b1 * state.exp_avg + (1 - b1) * d * grad
        exp_avg_sq = b2 * state.exp_avg_sq + (1 - b2) * d * d * grad * grad
        progress = (grad * (state.x0 - params)).sum(-1, keepdim=True)
        r = root * state.r + (1 - root) * lr_t * d * d * progress
        s = root * state.s + (1 - root) * lr_t * d * d * grad
        norm = s.abs().sum(-1, keepdim=True)
        estimate = torch.where(norm > 0, r / norm.where(norm > 0, 1.0), d)
        new = params - lr_t * d * (exp_avg / (exp_avg_sq.sqrt() + d * eps)
                                   + weight_decay * params)
        state = ProdigyState(state.step + 1, state.x0, torch.maximum(d, estimate), r, s,
                             exp_avg, exp_avg_sq)
        return new, state

    hyper = dict(lr=lr, b1=b1, b2=b2, eps=eps, d0=d0, weight_decay=weight_decay)
    return Optimizer("prodigy", init, update, hyper, rate=rate(lr, schedule))


class FreeState(NamedTuple):
    step: int
    z: Tensor
    x: Tensor
    weight_sum: Hyper
    exp_avg_sq: Tensor | None = None


def schedule_free_sgd(lr: Hyper, *, beta: Hyper, weight_decay: Hyper, warmup: Hyper,
                      weight_power: Hyper, schedule: Schedule | None = None) -> Optimizer:
    """Schedule-Free SGD (Defazio et al., "The road less scheduled", NeurIPS 2024,
    Algorithm 1 with the warm-up and weighting of its section 4): the run's point is y,
    where the gradient is taken, between the SGD sequence z and its average x:

        z ← z − γ_t (∇f(y) + λy)
        x ← (1 − c)x + c z,   c = γ_tᵖ / Σ_{i ≤ t} γ_iᵖ
        y ← (1 − β)z + βx

    γ_t = η_t min(1, t/W) (W = warmup steps, 0: none), p = weight_power (2 in the paper),
    β = beta, λ = weight_decay (at y, as the authors' code). The paper evaluates x: it is
    the state's `x`; the run records y.
    """
    _check_free(lr, beta, weight_decay, warmup, weight_power)
    schedule = schedule or constant()

    def update(grad: Tensor, state: FreeState, params: Tensor, closure=None):
        gamma = _warmed(lr, schedule, warmup, state.step)
        z = state.z - gamma * (grad + weight_decay * params)
        return _average(state, gamma, weight_power, z, beta)

    hyper = dict(lr=lr, beta=beta, weight_decay=weight_decay, warmup=warmup,
                 weight_power=weight_power)
    return Optimizer("schedule_free_sgd", _free_init, update, hyper,
                     rate=_warmed_rate(lr, schedule, warmup))


def schedule_free_adamw(lr: Hyper, *, beta: Hyper, b2: Hyper, eps: Hyper, weight_decay: Hyper,
                        warmup: Hyper, weight_power: Hyper,
                        schedule: Schedule | None = None) -> Optimizer:
    """Schedule-Free AdamW (Defazio et al. 2024, Algorithm 2): Schedule-Free SGD with z's
    step normalised by Adam's second moment and its bias correction in γ_t,

        v ← β₂v + (1 − β₂)g²,   γ_t = η_t √(1 − β₂ᵗ) min(1, t/W)
        z ← z − γ_t (g / (√v + ε) + λy)

    and the same average x (weights γ_tᵖ) and point y (β = beta, the paper's β₁).
    """
    _check_free(lr, beta, weight_decay, warmup, weight_power)
    _check_adam_like(lr, 0.0, b2, eps, weight_decay)
    schedule = schedule or constant()

    def init(params: Tensor) -> FreeState:
        return _free_init(params)._replace(exp_avg_sq=torch.zeros_like(params))

    def update(grad: Tensor, state: FreeState, params: Tensor, closure=None):
        step = state.step + 1
        gamma = _warmed(lr, schedule, warmup, state.step) * _sqrt(
            1 - _rowwise(lambda b: b ** step, b2))
        exp_avg_sq = b2 * state.exp_avg_sq + (1 - b2) * grad * grad
        z = state.z - gamma * (grad / (exp_avg_sq.sqrt() + eps) + weight_decay * params)
        return _average(state, gamma, weight_power, z, beta, exp_avg_sq)

    hyper = dict(lr=lr, beta=beta, b2=b2, eps=eps, weight_decay=weight_decay, warmup=warmup,
                 weight_power=weight_power)
    return Optimizer("schedule_free_adamw", init, update, hyper,
                     rate=_warmed_rate(lr, schedule, warmup))


def _check_free(lr: Hyper, beta: Hyper, weight_decay: Hyper, warmup: Hyper,
                weight_power: Hyper) -> None:
    check_hyper("lr", lr, open_low=True)
    check_hyper("beta", beta, high=1.0)
    check_hyper("weight_decay", weight_decay)
    check_counts("warmup", warmup, low=0)
    check_hyper("weight_power", weight_power)


def _free_init(params: Tensor) -> FreeState:
    return FreeState(0, params, params, 0.0)


def _warmed(lr: Hyper, schedule: Schedule, warmup: Hyper, step: int) -> Hyper:
    """γ_t of update t (t from 0): the schedule's rate times min(1, (t + 1)/W), W = 0 none
    (W one per row, for per-row warm-ups)."""
    if not isinstance(warmup, Tensor):
        return schedule(lr, step) * min(1.0, (step + 1) / warmup) if warmup else schedule(lr, step)
    ramp = torch.where(warmup > 0, ratio(step + 1, warmup.clamp_min(1)).clamp_max(1.0), 1.0)
    return schedule(lr, step) * ramp


def _warmed_rate(lr: Hyper, schedule: Schedule, warmup: Hyper):
    if is_zero(warmup):
        return rate(lr, schedule)
    return lambda step: _warmed(lr, schedule, warmup, step)


def _average(state: FreeState, gamma: Hyper, weight_power: Hyper, z: Tensor, beta: Hyper,
             exp_avg_sq: Tensor | None = None) -> tuple[Tensor, FreeState]:
    """x ← (1 − c)x + cz with c = γ_tᵖ / Σ γ_iᵖ, then the new point y = (1 − β)z + βx."""
    weight = _power(gamma, weight_power)
    weight_sum = state.weight_sum + weight
    c = weight / weight_sum
    x = (1 - c) * state.x + c * z
    y = (1 - beta) * z + beta * x
    return y, FreeState(state.step + 1, z, x, weight_sum, exp_avg_sq)


def _power(base: Hyper, exponent: Hyper) -> Hyper:
    """base ** exponent with Python floats, row by row (the same bits whatever the batch)."""
    if not isinstance(base, Tensor) and not isinstance(exponent, Tensor):
        return base ** exponent
    base, exponent = torch.broadcast_tensors(torch.as_tensor(base, dtype=torch.float64),
                                             torch.as_tensor(exponent, dtype=torch.float64))
    values = [b ** e for b, e in zip(base.flatten().tolist(), exponent.flatten().tolist())]
    return torch.tensor(values, dtype=torch.float64).reshape(base.shape)
