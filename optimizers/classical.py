"""The classical deterministic methods: gradient descent with Armijo backtracking, nonlinear
conjugate gradient (Fletcher-Reeves, Polak-Ribière+) and BFGS, after Nocedal & Wright,
"Numerical Optimization" (2nd ed., 2006), chapters 3, 5 and 6.

Each evaluates f and ∇f beyond the step's own evaluation, through the loop's `closure(x) ->
(f, ∇f)`, which counts every call: a run's `evaluations` are the line searches' too.
Armijo's search batches (each row backtracks on its own and counts only its own trials);
the others take one configuration at a time (batchable=False). CG and BFGS use torch's strong-Wolfe line
search (`torch.optim.lbfgs._strong_wolfe`, the one torch.optim.LBFGS runs; private, fenced
in `_wolfe`), with its interval tolerance at 0 so that it ends by the Wolfe conditions.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from optimizers.base import (
    Hyper, Optimizer, OptimizerError, Schedule, check_count, check_counts, check_hyper)
from optimizers.schedules import constant, rate

STALL_STEPS = 10  # a line search that can no longer move stands still: `stalled` after this
CG_VARIANTS = ("pr+", "fr")


class ArmijoState(NamedTuple):
    step: int
    value: Tensor | None  # f at the current point, known from the last line search


def armijo(lr: Hyper, *, c1: Hyper, shrink: Hyper, max_backtracks: int,
           schedule: Schedule | None = None) -> Optimizer:
    """Gradient descent with backtracking (Nocedal & Wright, Algorithm 3.1): from α = η_t,
    α ← ρα until f(x − αg) <= f(x) − c₁α‖g‖² (ρ = shrink), at most max_backtracks times;
    then x ← x − αg. Each row of a batch backtracks on its own, and counts only its own
    trials; f never increases (a row that finds no such α stays where it is)."""
    check_hyper("lr", lr, open_low=True)
    check_hyper("c1", c1, open_low=True, high=1.0, open_high=True)
    check_hyper("shrink", shrink, open_low=True, high=1.0, open_high=True)
    check_counts("max_backtracks", max_backtracks)
    schedule = schedule or constant()

    def init(params: Tensor) -> ArmijoState:
        return ArmijoState(0, None)

    def update(grad: Tensor, state: ArmijoState, params: Tensor, closure=None):
        _need(closure, "armijo")
        value = state.value if state.value is not None else closure(params)[0]
        alpha = _rows_of(schedule(lr, state.step), value)
        sufficient, factor = _rows_of(c1, value), _rows_of(shrink, value)
        tries = _rows_of(max_backtracks, value)
        slope = (grad * grad).sum(-1)
        done = torch.zeros_like(value, dtype=torch.bool)
        new, new_value = params, value
        for attempt in range(int(tries.max()) + 1):
            done = done | (attempt > tries)  # a row out of backtracks stays where it is
            if bool(done.all()):
                break
            trial = params - alpha.unsqueeze(-1) * grad
            f_trial = closure(trial, rows=~done)[0]
            accept = ~done & (f_trial <= value - sufficient * alpha * slope)
            new = torch.where(accept.unsqueeze(-1), trial, new)
            new_value = torch.where(accept, f_trial, new_value)
            done = done | accept
            alpha = torch.where(done, alpha, alpha * factor)
        return new, ArmijoState(state.step + 1, new_value)

    return Optimizer("armijo", init, update, dict(lr=lr, c1=c1, shrink=shrink,
                                                   max_backtracks=max_backtracks),
                     stall_steps=STALL_STEPS, rate=rate(lr, schedule))


class CurvatureState(NamedTuple):
    step: int
    value: Tensor | None  # f at the current point, from the last line search
    grad: Tensor | None  # CG: ∇f where the last direction was chosen; BFGS: unused
    direction: Tensor | None  # CG: the last direction; BFGS: unused
    inverse: Tensor | None  # BFGS: the inverse Hessian approximation (d, d)
    slope: float = 0.0  # CG: the last step's α·gᵀd, which scales the next first trial


def conjugate_gradient(lr: Hyper, *, variant: str, c1: Hyper, c2: Hyper, max_ls: int,
                       schedule: Schedule | None = None) -> Optimizer:
    """Nonlinear conjugate gradient (Nocedal & Wright, Algorithm 5.4): d ← −g + βd,

        Fletcher-Reeves:  β = gᵀg / g₋ᵀg₋
        Polak-Ribière+:   β = max(0, gᵀ(g − g₋) / g₋ᵀg₋)

    restarting at −g when d is not a descent direction; x ← x + αd with α from a strong-Wolfe
    line search (c₁, c₂; N&W take c₂ = 0.1 for CG) started at η_t (η_0/‖g‖ on the first step,
    a unit-length step)."""
    if variant not in CG_VARIANTS:
        raise OptimizerError(f"optimizer.variant must be one of {', '.join(CG_VARIANTS)}, "
                             f"got '{variant}'")
    _check_wolfe(lr, c1, c2)
    max_ls = check_count("max_ls", max_ls)
    schedule = schedule or constant()

    init = _one_point_init("conjugate_gradient")

    def update(grad: Tensor, state: CurvatureState, params: Tensor, closure=None):
        x, g, value = _current(state, params, grad, closure, "conjugate_gradient")
        d = -g
        if state.direction is not None:
            previous = state.grad @ state.grad
            beta = (g @ g / previous if variant == "fr"
                    else torch.clamp((g @ (g - state.grad)) / previous, min=0.0))
            d = -g + beta * state.direction
            if g @ d >= 0:  # not a descent direction: restart
                d = -g
        gtd = float(g @ d)
        if state.step == 0:
            step = schedule(lr, 0) / float(g.abs().sum())
        else:  # N&W (3.60): the first trial repeats the last step's first-order change
            step = schedule(lr, state.step) * min(1.0, 1.01 * 2 * state.slope / gtd) if (
                gtd < 0) else schedule(lr, state.step)
        f_new, g_new, alpha = _wolfe(closure, x, float(step), d, value, g, c1, c2, max_ls)
        new = (x + alpha * d)[None]
        return new, CurvatureState(state.step + 1, f_new, g, d, None, alpha * gtd)

    return Optimizer(f"cg-{variant}", init, update, dict(lr=lr, variant=variant, c1=c1, c2=c2,
                                                         max_ls=max_ls),
                     batchable=False, stall_steps=STALL_STEPS, rate=rate(lr, schedule))


def bfgs(lr: Hyper, *, c1: Hyper, c2: Hyper, max_ls: int,
         schedule: Schedule | None = None) -> Optimizer:
    """BFGS (Nocedal & Wright, Algorithm 6.1): d = −Hg; x ← x + αd with α from a
    strong-Wolfe line search started at η_t (η_0/‖g‖₁ on the first step); then with
    s = x₊ − x, y = g₊ − g, ρ = 1/yᵀs:  H ← (I − ρsyᵀ)H(I − ρysᵀ) + ρssᵀ, H₀ scaled by
    yᵀs/yᵀy before the first update (N&W eq. 6.20); the update is skipped when yᵀs <= 0."""
    _check_wolfe(lr, c1, c2)
    max_ls = check_count("max_ls", max_ls)
    schedule = schedule or constant()

    init = _one_point_init("bfgs")

    def update(grad: Tensor, state: CurvatureState, params: Tensor, closure=None):
        x, g, value = _current(state, params, grad, closure, "bfgs")
        eye = torch.eye(len(x), dtype=x.dtype, device=x.device)
        H = state.inverse if state.inverse is not None else eye
        d = -(H @ g)
        if g @ d >= 0:  # H lost positive definiteness to rounding: steepest descent
            d, H = -g, eye
        step = schedule(lr, state.step) / (g.abs().sum() if state.step == 0 else 1.0)
        f_new, g_new, alpha = _wolfe(closure, x, float(step), d, value, g, c1, c2, max_ls)
        s, y = alpha * d, g_new - g
        ys = y @ s
        if ys > 0:
            if state.inverse is None:
                H = eye * (ys / (y @ y))
            rho = 1.0 / ys
            left = eye - rho * torch.outer(s, y)
            H = left @ H @ left.T + rho * torch.outer(s, s)
        return (x + s)[None], CurvatureState(state.step + 1, f_new, None, None, H)

    return Optimizer("bfgs", init, update, dict(lr=lr, c1=c1, c2=c2, max_ls=max_ls),
                     batchable=False, stall_steps=STALL_STEPS, rate=rate(lr, schedule))


class NewtonState(NamedTuple):
    step: int


def newton(lr: Hyper, *, c1: Hyper, shrink: Hyper, max_backtracks: int, min_curvature: Hyper,
           schedule: Schedule | None = None) -> Optimizer:
    """Newton's method with a safeguard and a line search (Nocedal & Wright, section 3.4 and
    Algorithm 3.3): H = ∇²f(x) by autograd; while H + τI has no Cholesky factor, τ ← max(2τ,
    β) (β = min_curvature, τ = 0 first); solve (H + τI)d = −g; then Armijo backtracking from
    α = η_t. Near a minimum with a positive definite Hessian, τ = 0 and α = 1: the iterates
    converge quadratically (the digits of accuracy double each step)."""
    check_hyper("lr", lr, open_low=True)
    check_hyper("c1", c1, open_low=True, high=0.5, open_high=True)
    check_hyper("shrink", shrink, open_low=True, high=1.0, open_high=True)
    check_hyper("min_curvature", min_curvature, open_low=True)
    max_backtracks = check_count("max_backtracks", max_backtracks)
    schedule = schedule or constant()

    def init(params: Tensor) -> NewtonState:
        _one_row(params, "newton")
        return NewtonState(0)

    def update(grad: Tensor, state: NewtonState, params: Tensor, closure=None):
        _need(closure, "newton")
        x, g = params[0], grad[0]
        H = closure.hessian(params)[0]
        eye = torch.eye(len(x), dtype=x.dtype, device=x.device)
        tau = 0.0
        while True:
            factor, info = torch.linalg.cholesky_ex(H + tau * eye)
            if int(info) == 0:
                break
            tau = max(2 * tau, float(min_curvature))
        d = torch.cholesky_solve(-g[:, None], factor)[:, 0]
        value = closure(params)[0][0]
        alpha, slope = float(schedule(lr, state.step)), float(g @ d)
        new = x
        for _ in range(max_backtracks + 1):
            trial = x + alpha * d
            if float(closure(trial[None])[0][0]) <= float(value) + float(c1) * alpha * slope:
                new = trial
                break
            alpha *= float(shrink)
        return new[None], NewtonState(state.step + 1)

    return Optimizer("newton", init, update, dict(lr=lr, c1=c1, shrink=shrink,
                                                   max_backtracks=max_backtracks,
                                                   min_curvature=min_curvature),
                     batchable=False, stall_steps=STALL_STEPS, rate=rate(lr, schedule))


def _rows_of(hyper: Hyper, value: Tensor) -> Tensor:
    """A hyperparameter (a number, or one per row as a column (B, 1)) as one value per row,
    shaped as f's values (B,)."""
    return (torch.ones_like(value) * torch.as_tensor(hyper, dtype=value.dtype,
                                                      device=value.device).reshape(-1))


def _one_point_init(name: str):
    def init(params: Tensor) -> CurvatureState:
        _one_row(params, name)
        return CurvatureState(0, None, None, None, None)

    return init


def _current(state: CurvatureState, params: Tensor, grad: Tensor, closure,
             name: str) -> tuple[Tensor, Tensor, Tensor]:
    """x, ∇f and f at the current point (f known from the last line search, if any)."""
    _need(closure, name)
    value = state.value if state.value is not None else closure(params)[0][0]
    return params[0], grad[0], value


def _wolfe(closure, x: Tensor, step: float, d: Tensor, value: Tensor, g: Tensor, c1, c2,
           max_ls: int) -> tuple[Tensor, Tensor, float]:
    """torch's strong-Wolfe search along d from x (private: torch.optim.lbfgs._strong_wolfe;
    torch pins no public line search). Returns f, ∇f at the accepted point and its step."""
    from torch.optim.lbfgs import _strong_wolfe

    def at(base: Tensor, t: float, direction: Tensor) -> tuple[float, Tensor]:
        f, grad = closure((base + t * direction)[None])
        return float(f[0]), grad[0]

    f_new, g_new, t, _ = _strong_wolfe(at, x, step, d, float(value), g, float(g @ d),
                                       c1=float(c1), c2=float(c2), tolerance_change=0.0,
                                       max_ls=max_ls)
    return torch.as_tensor(f_new, dtype=x.dtype), g_new, float(t)


def _check_wolfe(lr: Hyper, c1: Hyper, c2: Hyper) -> None:
    check_hyper("lr", lr, open_low=True)
    check_hyper("c1", c1, open_low=True, high=1.0, open_high=True)
    check_hyper("c2", c2, open_low=True, high=1.0, open_high=True)
    if float(torch.as_tensor(c1).max()) >= float(torch.as_tensor(c2).min()):
        raise OptimizerError(f"optimizer.c1 must be below optimizer.c2 (0 < c1 < c2 < 1), "
                             f"got c1={c1}, c2={c2}")


def _need(closure, name: str) -> None:
    if closure is None:
        raise OptimizerError(f"optimizer '{name}' evaluates f in its line search: its update "
                             "needs closure(x) -> (value, grad)")


def _one_row(params: Tensor, name: str) -> None:
    if params.dim() != 2 or params.shape[0] != 1:
        raise OptimizerError(f"optimizer '{name}' steps one point at a time (x of shape "
                             f"(1, d)), got {tuple(params.shape)}")
