"""Learning-rate schedules: functions (lr, step) -> lr at that step.

`step` counts the updates already taken (0 for the first update), which is where
`torch.optim.lr_scheduler` stands when `scheduler.step()` follows `optimizer.step()`.
Parameters may be tensors broadcasting over a batch, like the hyperparameters.
"""

from __future__ import annotations

import math

from optimizers.base import Hyper, Rate, Schedule, check_count, check_hyper, is_zero, power


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

