"""A user's own update rule: gradient descent with the gradient's norm clipped per row.

Run it (from this folder, so that `clipped` imports):

    python -m runner --config-dir conf optimizer=clipped_sgd optimizer.clip=0.5
    python -m runner -m --config-dir conf hydra/launcher=vectorized optimizer=clipped_sgd \\
        optimizer.lr=0.05,0.1 optimizer.clip=0.5,1.0 'seed=range(0,4)'
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from optimizers import Optimizer, check_hyper
from optimizers.schedules import constant, rate


class State(NamedTuple):
    step: int  # updates taken: what a schedule is evaluated at


def clipped_sgd(lr, *, clip, schedule=None) -> Optimizer:
    """x ← x − η_t · g · min(1, c / ‖g‖) for each row (c = clip)."""
    check_hyper("lr", lr)  # a clear one-line error for a bad value, tensors included
    check_hyper("clip", clip, open_low=True)
    schedule = schedule or constant()

    def init(params: torch.Tensor) -> State:
        return State(0)

    def update(grad: torch.Tensor, state: State, params: torch.Tensor, closure=None):
        norm = torch.linalg.vector_norm(grad, dim=-1, keepdim=True)  # (B, 1): one per row
        scale = torch.clamp(clip / norm.clamp_min(1e-300), max=1.0)
        return params - schedule(lr, state.step) * scale * grad, State(state.step + 1)

    return Optimizer("clipped_sgd", init, update, dict(lr=lr, clip=clip),
                     rate=rate(lr, schedule))
