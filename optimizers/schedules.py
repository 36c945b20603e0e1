"""Learning-rate schedules: functions (lr, step) -> lr at that step.

`step` counts the updates already taken (0 for the first update), which is where
`torch.optim.lr_scheduler` stands when `scheduler.step()` follows `optimizer.step()`.
Parameters may be tensors broadcasting over a batch, like the hyperparameters.
"""

from __future__ import annotations

import math

from optimizers.base import Hyper, Schedule, check_count, check_hyper, power


def constant() -> Schedule:
    """lr_t = lr."""
    return lambda lr, step: lr


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

