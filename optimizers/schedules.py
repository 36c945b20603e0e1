"""Learning-rate schedules: functions (lr, step) -> lr at that step.

`step` counts the updates already taken (0 for the first update), which is where
`torch.optim.lr_scheduler` stands when `scheduler.step()` follows `optimizer.step()`.
Parameters may be tensors broadcasting over a batch, like the hyperparameters.
"""

from __future__ import annotations

import bisect
import math

import torch
from torch import Tensor

from optimizers.base import (
    Hyper,
    OptimizerError,
    Rate,
    Schedule,
    check_count,
    check_hyper,
    is_zero,
    power,
    shown,
)


def _constant(lr: Hyper, step: int) -> Hyper:
    return lr


def constant() -> Schedule:
    """lr_t = lr."""
    return _constant


def rate(lr: Hyper, schedule: Schedule | None, decay: Hyper = 0.0) -> Rate | None:
    """The learning rate of update t, lr_t / (1 + tδ) (δ = decay: Adagrad's lr_decay), as a
    function of t, for the runs' `lr` history; None when it does not change with t."""
    schedule = schedule or _constant
    if schedule is _constant and is_zero(decay):
        return None
    if is_zero(decay):
        return lambda step: schedule(lr, step)
    return lambda step: schedule(lr, step) / (1 + step * decay)


def exponential(gamma: Hyper) -> Schedule:
    """lr_t = lr · γ^t (torch.optim.lr_scheduler.ExponentialLR)."""
    check_hyper("schedule.gamma", gamma, open_low=True, high=1.0)
    return lambda lr, step: lr * power(gamma, step)


def step_decay(step_size: int, gamma: Hyper) -> Schedule:
    """lr_t = lr · γ^⌊t / step_size⌋ (torch.optim.lr_scheduler.StepLR)."""
    step_size = check_count("schedule.step_size", step_size)
    check_hyper("schedule.gamma", gamma, open_low=True, high=1.0)
    return lambda lr, step: lr * power(gamma, step // step_size)


def cosine(t_max: int, eta_min: Hyper) -> Schedule:
    """lr_t = η_min + (lr − η_min)(1 + cos(π t / T_max)) / 2 (CosineAnnealingLR, closed form)."""
    t_max = check_count("schedule.t_max", t_max)
    check_hyper("schedule.eta_min", eta_min)
    return lambda lr, step: eta_min + (lr - eta_min) * (1 + math.cos(math.pi * step / t_max)) / 2



def linear(start_factor: Hyper, end_factor: Hyper, total_iters: int) -> Schedule:
    """lr_t = lr · (s + (e − s) · min(t, T)/T) (torch.optim.lr_scheduler.LinearLR): a linear
    warm-up (s < e) or decay (s > e) over T steps, then constant."""
    total_iters = check_count("schedule.total_iters", total_iters)
    check_hyper("schedule.start_factor", start_factor, open_low=True, high=1.0)
    check_hyper("schedule.end_factor", end_factor, high=1.0)
    return lambda lr, step: lr * (start_factor + (end_factor - start_factor)
                                  * min(step, total_iters) / total_iters)


def polynomial(total_iters: int, power: Hyper) -> Schedule:
    """lr_t = lr · (1 − min(t, T)/T)^p (torch.optim.lr_scheduler.PolynomialLR): p = 1 is a
    linear decay to 0 at step T."""
    total_iters = check_count("schedule.total_iters", total_iters)
    check_hyper("schedule.power", power, open_low=True)
    return lambda lr, step: lr * (1.0 - min(step, total_iters) / total_iters) ** power


def inverse_sqrt(warmup: int) -> Schedule:
    """lr_t = lr · (t + 1)/W for t < W, then lr · √(W/(t + 1)) (the Transformer's schedule,
    Vaswani et al., NeurIPS 2017, with its peak at lr): linear warm-up, then ∝ 1/√t."""
    warmup = check_count("schedule.warmup", warmup)

    def schedule(lr: Hyper, step: int) -> Hyper:
        t = step + 1
        return lr * (t / warmup) if t < warmup else lr * math.sqrt(warmup / t)

    return schedule


def one_cycle(total_steps: int, pct_start: Hyper, div_factor: Hyper,
              final_div_factor: Hyper) -> Schedule:
    """Smith & Topin's one-cycle policy (arXiv:1708.07120), as torch.optim.lr_scheduler.
    OneCycleLR (cosine annealing, two phases, the rate only): from lr/div_factor up to lr
    until step pct_start·total_steps − 1, then down to lr/(div_factor·final_div_factor) at
    step total_steps − 1, and there after."""
    total_steps = check_count("schedule.total_steps", total_steps, low=2)
    check_hyper("schedule.pct_start", pct_start, open_low=True, high=1.0, open_high=True)
    check_hyper("schedule.div_factor", div_factor, open_low=True)
    check_hyper("schedule.final_div_factor", final_div_factor, open_low=True)
    last = total_steps - 1

    def schedule(lr: Hyper, step: int) -> Hyper:
        initial = lr / div_factor
        peak = pct_start * total_steps - 1
        if not isinstance(peak, Tensor):  # torch's own branches, for a float pct_start
            if step <= peak:
                return _cos_anneal(initial, lr, step / peak if peak > 0 else 1.0)
            return _cos_anneal(lr, initial / final_div_factor,
                               min(1.0, (step - peak) / (last - peak)))
        rising = _cos_anneal(initial, lr, (step / peak.clamp_min(1e-300)).clamp_max(1.0))
        falling = _cos_anneal(lr, initial / final_div_factor,
                              ((step - peak) / (last - peak)).clamp(0.0, 1.0))
        return torch.where(step <= peak, rising, falling)

    return schedule


def warmup(steps: int, start_factor: Hyper, decay: Schedule | None = None) -> Schedule:
    """A linear warm-up of `steps` steps from lr·start_factor to lr, then `decay` (any
    schedule) counting its steps from the end of the warm-up, as torch's
    SequentialLR(LinearLR(start_factor, 1, steps), decay, milestones=[steps])."""
    steps = check_count("schedule.steps", steps)
    check_hyper("schedule.start_factor", start_factor, open_low=True, high=1.0)
    rise, after = linear(start_factor, 1.0, steps), decay or constant()
    return lambda lr, step: rise(lr, step) if step < steps else after(lr, step - steps)


def _cos_anneal(start: Hyper, end: Hyper, pct: Hyper) -> Hyper:
    cos = torch.cos(math.pi * pct) if isinstance(pct, Tensor) else math.cos(math.pi * pct)
    return end + (start - end) / 2.0 * (cos + 1)


PLATEAU_MODES, THRESHOLD_MODES = ("min", "max"), ("rel", "abs")


class Plateau:
    """lr reduced when f stops improving, as torch.optim.lr_scheduler.ReduceLROnPlateau fed
    the step's f after each update: after more than `patience` steps without f below
    best·(1 − threshold) (`threshold_mode=abs`: best − threshold; `mode=max`: above), lr ←
    max(lr·factor, min_lr) when that lowers it by more than `eps`, then `cooldown` steps in
    which bad steps are not counted. With minibatches f is the step's sample's.

    The one schedule with a state: the loop tells it each step's f (`observe`, through the
    Optimizer's `observe`); `schedule(lr, t)` is the rate of update t, kept for every t (as
    change points) so the run's `lr` history can be read after it. One per row of a batch:
    each row reduces on its own f. A new run (update 0) starts it afresh.
    """

    def __init__(self, mode: str, factor: Hyper, patience: int, threshold: Hyper,
                 threshold_mode: str, cooldown: int, min_lr: Hyper, eps: Hyper) -> None:
        for key, value, allowed in (("mode", mode, PLATEAU_MODES),
                                    ("threshold_mode", threshold_mode, THRESHOLD_MODES)):
            if value not in allowed:
                raise OptimizerError(f"schedule.{key} must be one of {', '.join(allowed)}, "
                                     f"got {shown(value)}")
        check_hyper("schedule.factor", factor, high=1.0, open_high=True)
        check_count("schedule.patience", patience, low=0)
        check_hyper("schedule.threshold", threshold)
        check_count("schedule.cooldown", cooldown, low=0)
        check_hyper("schedule.min_lr", min_lr)
        check_hyper("schedule.eps", eps)
        self.sign = 1.0 if mode == "min" else -1.0  # f as minimised
        self.factor, self.patience, self.threshold = factor, patience, threshold
        # torch's "better than best": min rel a < best(1 − thr), max rel a > best(1 + thr),
        # abs a < best − thr and a > best + thr: on −a, below best·this, or best − thr
        self.scale = 1 - threshold if mode == "min" else 1 + threshold
        self.relative, self.cooldown = threshold_mode == "rel", cooldown
        self.min_lr, self.eps = min_lr, eps
        self.changes: list[tuple[int, Hyper]] = []  # (first update, its rate)

    def __call__(self, lr: Hyper, step: int) -> Hyper:
        if step == 0 and not self.observed:
            self._start(lr)
        index = bisect.bisect_right(self.changes, step, key=lambda change: change[0]) - 1
        return self.changes[index][1]

    def _start(self, lr: Hyper) -> None:
        column = torch.as_tensor(lr, dtype=torch.float64)
        self.changes = [(0, lr)]
        self.current = lr
        self.best = torch.full_like(column, math.inf)
        self.bad = torch.zeros_like(column, dtype=torch.long)
        self.cooling = torch.zeros_like(column, dtype=torch.long)
        self.observed = 0

    observed = 0

    def observe(self, value: Tensor) -> None:
        """f after update t (one per row): decides the rate of update t + 1."""
        if not self.changes:  # told before any update: the rate starts from lr
            return
        f = self.sign * value.reshape(self.best.shape).to(self.best.dtype)
        bar = self.best * self.scale if self.relative else self.best - self.threshold
        better = f < torch.where(torch.isinf(self.best), math.inf, bar)  # the first f counts
        self.best = torch.where(better, f, self.best)
        self.bad = torch.where(better, 0, self.bad + 1)
        cooling = self.cooling > 0
        self.cooling = torch.where(cooling, self.cooling - 1, self.cooling)
        self.bad = torch.where(cooling, 0, self.bad)
        trigger = self.bad > self.patience
        self.cooling = torch.where(trigger, self.cooldown, self.cooling)
        self.bad = torch.where(trigger, 0, self.bad)
        lowered = _maximum(self.current * self.factor, self.min_lr)
        reduce = trigger & torch.as_tensor(self.current - lowered > self.eps)
        self.observed += 1
        if bool(reduce.any()):
            self.current = _where(reduce, lowered, self.current)
            self.changes.append((self.observed, self.current))


def plateau(mode: str, factor: Hyper, patience: int, threshold: Hyper, threshold_mode: str,
            cooldown: int, min_lr: Hyper, eps: Hyper) -> Plateau:
    """ReduceLROnPlateau (see Plateau)."""
    return Plateau(mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps)


def _maximum(a: Hyper, b: Hyper) -> Hyper:
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return torch.maximum(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b))
    return max(a, b)


def _where(mask: Tensor, a: Hyper, b: Hyper) -> Hyper:
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return torch.where(mask, a, b)
    return a if bool(mask) else b
