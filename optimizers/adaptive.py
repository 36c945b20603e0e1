"""Adam's relatives as pure batchable rules: Adamax, NAdam and RAdam following torch.optim's
single-tensor implementations (their trajectories agree to 1e-12 over 200 steps), and
AdaBelief, ADOPT, AdEMAMix and Adafactor as their papers state them (against NumPy
statements of the papers' algorithms to 1e-10): tests/test_optimizers.py."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from optimizers.adam import _beta_power, decayed, moments
from optimizers.base import Hyper, Optimizer, Schedule, check_counts, check_hyper, is_zero, ratio
from optimizers.schedules import constant, rate


class AdamaxState(NamedTuple):
    step: int
    exp_avg: Tensor
    exp_inf: Tensor
    b1_power: Hyper = 1.0


def adamax(lr: Hyper, *, b1: Hyper, b2: Hyper, eps: Hyper, weight_decay: Hyper,
           maximize: bool = False, schedule: Schedule | None = None) -> Optimizer:
    """Adamax, Adam with the infinity norm, as torch.optim.Adamax (Kingma & Ba, ICLR 2015,
    section 7.1):

        g ← ∇f(x) + λx
        m ← β₁m + (1 − β₁)g,   u ← max(β₂u, |g| + ε)
        x ← x − η_t / (1 − β₁ᵗ) · m / u

    As torch, ε is added to |g| inside the maximum (the paper has none: u can be 0 there).
    """
    schedule, decay = _adam_like(lr, b1, b2, eps, weight_decay, schedule)

    init = zeros_state(AdamaxState, 2)

    def update(grad: Tensor, state: AdamaxState, params: Tensor, closure=None):
        step, lr_t = state.step + 1, schedule(lr, state.step)
        g, params = decayed(grad, params, lr_t, weight_decay, decay=decay, decoupled=False,
                            maximize=maximize)
        exp_avg = torch.lerp(state.exp_avg, g, 1 - b1)
        exp_inf = torch.maximum(state.exp_inf * b2, g.abs() + eps)
        b1_power = _beta_power(b1, step, state.b1_power)
        new = torch.addcdiv(params, -(lr_t / (1 - b1_power)) * exp_avg, exp_inf)
        return new, AdamaxState(step, exp_avg, exp_inf, b1_power)

    hyper = dict(lr=lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay, maximize=maximize)
    return Optimizer("adamax", init, update, hyper, rate=rate(lr, schedule))


class NadamState(NamedTuple):
    step: int
    exp_avg: Tensor
    exp_avg_sq: Tensor
    mu_product: Hyper = 1.0
    b2_power: Hyper = 1.0


def nadam(lr: Hyper, *, b1: Hyper, b2: Hyper, eps: Hyper, weight_decay: Hyper,
          momentum_decay: Hyper, decoupled_weight_decay: bool = False, maximize: bool = False,
          schedule: Schedule | None = None) -> Optimizer:
    """NAdam, Adam with Nesterov momentum, as torch.optim.NAdam (Dozat, "Incorporating
    Nesterov momentum into Adam", ICLR 2016 workshop):

        μ_t = β₁(1 − ½·0.96^(tψ))                    (ψ = momentum_decay)
        m ← β₁m + (1 − β₁)g,   v ← β₂v + (1 − β₂)g²,   v̂ = v / (1 − β₂ᵗ)
        x ← x − η_t(1 − μ_t)/(1 − Πᵢ≤ₜ μᵢ) · g/(√v̂ + ε) − η_t μ_{t+1}/(1 − Πᵢ≤ₜ₊₁ μᵢ) · m/(√v̂ + ε)

    with L2 weight decay (g ← g + λx), or decoupled (x ← (1 − η_t λ)x) as NAdamW.
    """
    _check_adam_like(lr, b1, b2, eps, weight_decay)
    check_hyper("momentum_decay", momentum_decay)
    schedule = schedule or constant()
    decay = not is_zero(weight_decay)

    def mu(step: int) -> Hyper:
        return b1 * (1.0 - 0.5 * _per_row_pow(0.96, step, momentum_decay))

    init = zeros_state(NadamState, 2)

    def update(grad: Tensor, state: NadamState, params: Tensor, closure=None):
        step, lr_t = state.step + 1, schedule(lr, state.step)
        g, params = decayed(grad, params, lr_t, weight_decay, decay=decay,
                            decoupled=decoupled_weight_decay, maximize=maximize)
        b2_power = _beta_power(b2, step, state.b2_power)
        mu_t, mu_next = mu(step), mu(step + 1)
        mu_product = state.mu_product * mu_t
        exp_avg, exp_avg_sq = moments(state.exp_avg, state.exp_avg_sq, g, b1, b2)
        denom = (exp_avg_sq / (1 - b2_power)).sqrt() + eps
        new = torch.addcdiv(params, (-lr_t * (1.0 - mu_t) / (1.0 - mu_product)) * g, denom)
        new = torch.addcdiv(new, (-lr_t * mu_next / (1.0 - mu_product * mu_next)) * exp_avg,
                            denom)
        return new, NadamState(step, exp_avg, exp_avg_sq, mu_product, b2_power)

    hyper = dict(lr=lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
                 momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                 maximize=maximize)
    return Optimizer("nadam", init, update, hyper, rate=rate(lr, schedule))


class RadamState(NamedTuple):
    step: int
    exp_avg: Tensor
    exp_avg_sq: Tensor
    b1_power: Hyper = 1.0
    b2_power: Hyper = 1.0


def radam(lr: Hyper, *, b1: Hyper, b2: Hyper, eps: Hyper, weight_decay: Hyper,
          decoupled_weight_decay: bool = False, maximize: bool = False,
          schedule: Schedule | None = None) -> Optimizer:
    """RAdam, Adam with the variance of its adaptive rate rectified, as torch.optim.RAdam
    (Liu et al., "On the variance of the adaptive learning rate and beyond", ICLR 2020):

        ρ_∞ = 2/(1 − β₂) − 1,   ρ_t = ρ_∞ − 2tβ₂ᵗ/(1 − β₂ᵗ)
        m̂ = m / (1 − β₁ᵗ)
        x ← x − η_t m̂ · r_t √(1 − β₂ᵗ)/(√v + ε)   where ρ_t > 5, r_t = √((ρ_t−4)(ρ_t−2)ρ_∞ /
                                                    ((ρ_∞−4)(ρ_∞−2)ρ_t))
        x ← x − η_t m̂                              otherwise (SGD with momentum)

    With L2 weight decay, or decoupled (x ← (1 − η_t λ)x). Per row, each row's ρ_t decides.
    """
    schedule, decay = _adam_like(lr, b1, b2, eps, weight_decay, schedule)
    rho_inf = 2 / (1 - b2) - 1

    init = zeros_state(RadamState, 2)

    def update(grad: Tensor, state: RadamState, params: Tensor, closure=None):
        step, lr_t = state.step + 1, schedule(lr, state.step)
        g, params = decayed(grad, params, lr_t, weight_decay, decay=decay,
                            decoupled=decoupled_weight_decay, maximize=maximize)
        exp_avg, exp_avg_sq = moments(state.exp_avg, state.exp_avg_sq, g, b1, b2)
        b1_power = _beta_power(b1, step, state.b1_power)
        b2_power = _beta_power(b2, step, state.b2_power)
        bias_correction2 = 1 - b2_power
        corrected = exp_avg / (1 - b1_power)
        rho_t = rho_inf - 2 * step * b2_power / bias_correction2
        plain = corrected * lr_t
        if isinstance(rho_t, Tensor):
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)).clamp_min(0) ** 0.5
            adaptive = bias_correction2**0.5 / (exp_avg_sq.sqrt() + eps)
            step_x = torch.where(rho_t > 5.0, plain * adaptive * rect, plain)
        elif rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            step_x = plain * (bias_correction2**0.5 / (exp_avg_sq.sqrt() + eps)) * rect
        else:
            step_x = plain
        return params - step_x, RadamState(step, exp_avg, exp_avg_sq, b1_power, b2_power)

    hyper = dict(lr=lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
                 decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
    return Optimizer("radam", init, update, hyper, rate=rate(lr, schedule))


def zeros_state(state: type, buffers: int) -> Callable[[Tensor], tuple]:
    """The `init` of a rule whose state is a step count and `buffers` tensors of zeros."""

    def init(params: Tensor) -> tuple:
        zeros = torch.zeros_like(params)
        return state(0, *[zeros] * buffers)

    return init


def _adam_like(lr: Hyper, b1: Hyper, b2: Hyper, eps: Hyper, weight_decay: Hyper,
               schedule: Schedule | None) -> tuple[Schedule, bool]:
    """Check an Adam-like rule's hyperparameters; its schedule (constant if none) and
    whether it decays weights."""
    _check_adam_like(lr, b1, b2, eps, weight_decay)
    return schedule or constant(), not is_zero(weight_decay)


def _check_adam_like(lr: Hyper, b1: Hyper, b2: Hyper, eps: Hyper, weight_decay: Hyper) -> None:
    check_hyper("lr", lr)
    check_hyper("b1", b1, high=1.0, open_high=True)
    check_hyper("b2", b2, high=1.0, open_high=True)
    check_hyper("eps", eps)
    check_hyper("weight_decay", weight_decay)


def _per_row_pow(base: float, step: int, scale: Hyper) -> Hyper:
    """base ** (step · scale) with Python's pow, row by row for a tensor `scale`: the same
    bits whatever the batch (torch's pow rounds differently across a vectorised loop)."""
    return _rowwise(lambda s: base ** (step * s), scale)


class BeliefState(NamedTuple):
    step: int
    exp_avg: Tensor
    exp_var: Tensor
    b1_power: Hyper = 1.0
    b2_power: Hyper = 1.0


def adabelief(lr: Hyper, *, b1: Hyper, b2: Hyper, eps: Hyper, weight_decay: Hyper,
              schedule: Schedule | None = None) -> Optimizer:
    """AdaBelief, Adam with the step scaled by the belief in the gradient: the variance of g
    around its moving average, not g² (Zhuang et al., "AdaBelief optimizer: adapting
    stepsizes by the belief in observed gradients", NeurIPS 2020, Algorithm 2):

        m ← β₁m + (1 − β₁)g,   s ← β₂s + (1 − β₂)(g − m)² + ε
        x ← x − η_t (m / (1 − β₁ᵗ)) / (√(s / (1 − β₂ᵗ)) + ε)

    with decoupled weight decay (x ← (1 − η_t λ)x first), as the paper's code.
    """
    schedule, decay = _adam_like(lr, b1, b2, eps, weight_decay, schedule)

    init = zeros_state(BeliefState, 2)

    def update(grad: Tensor, state: BeliefState, params: Tensor, closure=None):
        step, lr_t = state.step + 1, schedule(lr, state.step)
        g, params = decayed(grad, params, lr_t, weight_decay, decay=decay, decoupled=True,
                            maximize=False)
        exp_avg = torch.lerp(state.exp_avg, g, 1 - b1)
        exp_var = state.exp_var * b2 + (1 - b2) * (g - exp_avg) ** 2 + eps
        b1_power = _beta_power(b1, step, state.b1_power)
        b2_power = _beta_power(b2, step, state.b2_power)
        denom = (exp_var / (1 - b2_power)).sqrt() + eps
        new = params - (lr_t / (1 - b1_power)) * exp_avg / denom
        return new, BeliefState(step, exp_avg, exp_var, b1_power, b2_power)

    hyper = dict(lr=lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    return Optimizer("adabelief", init, update, hyper, rate=rate(lr, schedule))


class AdoptState(NamedTuple):
    step: int
    exp_avg: Tensor
    exp_avg_sq: Tensor


def adopt(lr: Hyper, *, b1: Hyper, b2: Hyper, eps: Hyper, weight_decay: Hyper,
          schedule: Schedule | None = None) -> Optimizer:
    """ADOPT, Adam with the current gradient left out of its own normalisation and
    momentum taken after it, which converges with any β₂ (Taniguchi et al., "ADOPT:
    modified Adam can converge with any β₂ with the optimal rate", NeurIPS 2024,
    Algorithm 1, without the clipping of its later variant):

        t = 0:   v ← g²                              (x does not move)
        t ≥ 1:   m ← β₁m + (1 − β₁) g / max(√v, ε)
                 x ← x − η_t m
                 v ← β₂v + (1 − β₂)g²

    with decoupled weight decay (x ← (1 − η_t λ)x), as the paper's code.
    """
    schedule, decay = _adam_like(lr, b1, b2, eps, weight_decay, schedule)

    init = zeros_state(AdoptState, 2)

    def update(grad: Tensor, state: AdoptState, params: Tensor, closure=None):
        if state.step == 0:
            return params, AdoptState(1, state.exp_avg, grad * grad)
        lr_t = schedule(lr, state.step - 1)
        g, params = decayed(grad, params, lr_t, weight_decay, decay=decay, decoupled=True,
                            maximize=False)
        floor = torch.as_tensor(eps, dtype=g.dtype, device=g.device)
        normed = g / torch.maximum(state.exp_avg_sq.sqrt(), floor)
        exp_avg = torch.lerp(state.exp_avg, normed, 1 - b1)
        new = params - lr_t * exp_avg
        exp_avg_sq = torch.lerp(state.exp_avg_sq, g * g, 1 - b2)
        return new, AdoptState(state.step + 1, exp_avg, exp_avg_sq)

    hyper = dict(lr=lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    return Optimizer("adopt", init, update, hyper, rate=rate(lr, schedule))


class AdemamixState(NamedTuple):
    step: int
    exp_avg: Tensor
    exp_avg_slow: Tensor
    exp_avg_sq: Tensor
    b1_power: Hyper = 1.0
    b2_power: Hyper = 1.0


def ademamix(lr: Hyper, *, b1: Hyper, b2: Hyper, b3: Hyper, alpha: Hyper, eps: Hyper,
             weight_decay: Hyper, warmup: int | None = None,
             schedule: Schedule | None = None) -> Optimizer:
    """AdEMAMix, Adam with a second, slow momentum mixed in (Pagliardini et al., "The
    AdEMAMix optimizer: better, faster, older", ICLR 2025, Algorithm 1):

        m₁ ← β₁m₁ + (1 − β₁)g,   m₂ ← β₃m₂ + (1 − β₃)g,   ν ← β₂ν + (1 − β₂)g²
        x ← x − η_t((m₁/(1 − β₁ᵗ) + α m₂) / (√(ν/(1 − β₂ᵗ)) + ε) + λx)

    With `warmup` = T (the paper's T_{α,β₃}), α and β₃ rise over T steps as its schedulers:
    α_t = min(tα/T, α), β₃_t = min(exp(ln β₁ ln β₃ / ((1 − t/T) ln β₃ + (t/T) ln β₁)), β₃).
    """
    _check_adam_like(lr, b1, b2, eps, weight_decay)
    check_hyper("b3", b3, high=1.0, open_high=True)
    check_hyper("alpha", alpha)
    if warmup is not None:
        check_counts("warmup", warmup)
    schedule = schedule or constant()

    def slow(step: int) -> tuple[Hyper, Hyper]:
        """α and β₃ at this step (their warm-up; one per row for per-row warm-ups)."""
        warming = None if warmup is None else torch.as_tensor(step < warmup)
        if warming is None or not bool(warming.any()):
            return alpha, b3
        frac = ratio(step, warmup)
        ln1, ln3 = _log(b1), _log(b3)
        b3_t = _exp(ln1 * ln3 / ((1 - frac) * ln3 + frac * ln1))
        if not isinstance(b3_t, Tensor):
            return alpha * frac, min(b3_t, b3)
        return (torch.where(warming, alpha * frac, alpha),
                torch.where(warming, torch.minimum(b3_t, torch.as_tensor(b3, dtype=b3_t.dtype)),
                            b3))

    init = zeros_state(AdemamixState, 3)

    def update(grad: Tensor, state: AdemamixState, params: Tensor, closure=None):
        step, lr_t = state.step + 1, schedule(lr, state.step)
        alpha_t, b3_t = slow(step)
        exp_avg, exp_avg_sq = moments(state.exp_avg, state.exp_avg_sq, grad, b1, b2)
        exp_avg_slow = torch.lerp(state.exp_avg_slow, grad, 1 - b3_t)
        b1_power = _beta_power(b1, step, state.b1_power)
        b2_power = _beta_power(b2, step, state.b2_power)
        denom = (exp_avg_sq / (1 - b2_power)).sqrt() + eps
        direction = (exp_avg / (1 - b1_power) + alpha_t * exp_avg_slow) / denom
        new = params - lr_t * (direction + weight_decay * params)
        return new, AdemamixState(step, exp_avg, exp_avg_slow, exp_avg_sq, b1_power, b2_power)

    hyper = dict(lr=lr, b1=b1, b2=b2, b3=b3, alpha=alpha, eps=eps, weight_decay=weight_decay,
                 warmup=warmup)
    return Optimizer("ademamix", init, update, hyper, rate=rate(lr, schedule))


class AdafactorState(NamedTuple):
    step: int
    exp_avg_sq: Tensor
    exp_avg: Tensor


def adafactor(lr: Hyper, *, b1: Hyper, decay_rate: Hyper, eps1: Hyper, eps2: Hyper,
              clip_threshold: Hyper, weight_decay: Hyper, relative_step: bool,
              scale_parameter: bool, schedule: Schedule | None = None) -> Optimizer:
    """Adafactor for a flat vector (Shazeer & Stern, "Adafactor: adaptive learning rates
    with sublinear memory cost", ICML 2018, Algorithm 2 with the update clipping of
    section 6, the increasing decay of section 7.2 and the relative step of section 8);
    a vector's second moment has nothing to factor, so it is kept whole. At step t ≥ 1:

        ρ_t = min(η_t, 1/√t) if relative_step else η_t
        α_t = max(ε₂, RMS(x)) ρ_t if scale_parameter else ρ_t
        β̂₂ = 1 − t^(−c)            (c = decay_rate)
        v ← β̂₂v + (1 − β̂₂)(g² + ε₁)
        u = g / √v,   û = u / max(1, RMS(u)/d)      (d = clip_threshold)
        m ← β₁m + (1 − β₁)û        (m = û when β₁ = 0: the paper's rule)
        x ← x − α_t m − α_t λ x

    RMS is taken over each row (each point of a batch); λ = weight_decay, decoupled.
    """
    check_hyper("lr", lr, open_low=True)
    check_hyper("b1", b1, high=1.0, open_high=True)
    check_hyper("decay_rate", decay_rate, open_low=True, high=1.0)
    check_hyper("eps1", eps1)
    check_hyper("eps2", eps2)
    check_hyper("clip_threshold", clip_threshold, open_low=True)
    check_hyper("weight_decay", weight_decay)
    schedule = schedule or constant()

    init = zeros_state(AdafactorState, 2)

    def update(grad: Tensor, state: AdafactorState, params: Tensor, closure=None):
        step, lr_t = state.step + 1, schedule(lr, state.step)
        rho = _minimum(lr_t, 1 / math.sqrt(step)) if relative_step else lr_t
        alpha = _maximum(_rms(params), eps2) * rho if scale_parameter else rho
        beta2 = 1 - _rowwise(lambda c: step ** -c, decay_rate)
        exp_avg_sq = beta2 * state.exp_avg_sq + (1 - beta2) * (grad * grad + eps1)
        u = grad / exp_avg_sq.sqrt()
        u = u / _maximum(_rms(u) / clip_threshold, 1.0)
        exp_avg = torch.lerp(state.exp_avg, u, 1 - b1)
        new = params - alpha * exp_avg - alpha * weight_decay * params
        return new, AdafactorState(step, exp_avg_sq, exp_avg)

    hyper = dict(lr=lr, b1=b1, decay_rate=decay_rate, eps1=eps1, eps2=eps2,
                 clip_threshold=clip_threshold, weight_decay=weight_decay,
                 relative_step=relative_step, scale_parameter=scale_parameter)
    return Optimizer("adafactor", init, update, hyper, rate=rate(lr, schedule))


def _rms(x: Tensor) -> Tensor:
    """The root mean square of each row (of the last dimension), kept as a column."""
    return (x * x).mean(-1, keepdim=True).sqrt()


def _minimum(a: Hyper, b: float) -> Hyper:
    return torch.clamp(a, max=b) if isinstance(a, Tensor) else min(a, b)


def _maximum(a: Hyper, b: Hyper) -> Hyper:
    return torch.maximum(a, torch.as_tensor(b, dtype=a.dtype, device=a.device))


def _rowwise(fn: Callable[[float], float], value: Hyper) -> Hyper:
    """fn(value) with Python floats, row by row for a tensor: the same bits whatever the
    batch (torch's pow rounds differently across a vectorised loop)."""
    if not isinstance(value, Tensor):
        return fn(value)
    values = [fn(v) for v in value.flatten().tolist()]
    return torch.tensor(values, dtype=value.dtype, device=value.device).reshape(value.shape)


def _log(value: Hyper) -> Hyper:
    return torch.log(value) if isinstance(value, Tensor) else math.log(value)


def _sqrt(value: Hyper) -> Hyper:
    return value.sqrt() if isinstance(value, Tensor) else math.sqrt(value)


def _exp(value: Hyper) -> Hyper:
    return torch.exp(value) if isinstance(value, Tensor) else math.exp(value)
