"""The run loop: step a batch of points with per-row stopping, recording every step.

Plain torch: no Hydra, no MLflow. A single run is a batch of one; a vectorised sweep stacks
many configurations as rows. A row that converges or diverges freezes while the others go on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from objectives import GradientMethod, Objective
from optimizers.base import Optimizer, select

CONVERGED, MAX_STEPS, DIVERGED, FAILED, KILLED = "converged", "max_steps", "diverged", "failed", "killed"


@dataclass
class Trace:
    """Everything a run records, preallocated for `steps + 1` points of `batch` rows.

    Row r's history is valid for indices 0..last[r]; `final[r]` is the index of its final
    point (the last finite one for a diverged row). `length` is how many steps were written,
    so an interrupted run can still be logged up to where it stopped.
    """

    loss: Tensor
    grad_norm: Tensor
    dist_to_opt: Tensor | None
    points: Tensor | None
    wall_time: list[float] = field(default_factory=list)
    checks: list[tuple[int, Tensor]] = field(default_factory=list)
    length: int = 0
    last: Tensor | None = None
    final: Tensor | None = None
    status: list[str] = field(default_factory=list)
    x_final: Tensor | None = None

    @classmethod
    def allocate(cls, steps: int, batch: int, dim: int, dtype, *, distances: bool,
                 keep_points: bool) -> Trace:
        empty = lambda *shape: torch.full(shape, math.nan, dtype=dtype)  # noqa: E731
        return cls(
            loss=empty(steps + 1, batch),
            grad_norm=empty(steps + 1, batch),
            dist_to_opt=empty(steps + 1, batch) if distances else None,
            points=empty(steps + 1, batch, dim) if keep_points else None,
            last=torch.full((batch,), steps, dtype=torch.long),
            final=torch.full((batch,), steps, dtype=torch.long),
            status=[MAX_STEPS] * batch,
        )

    def steps_taken(self, row: int) -> int:
        return int(self.final[row])


def optimize(
    objective: Objective,
    gradient: GradientMethod,
    optimizer: Optimizer,
    x0: Tensor,
    *,
    steps: int,
    tol: float = 0.0,
    max_loss: float = math.inf,
    trace: Trace | None = None,
    keep_points: bool = False,
    check: tuple[int, GradientMethod] | None = None,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 256,
) -> Trace:
    """Take up to `steps` updates from each row of x0 (B, d); return the filled Trace.

    At each t = 0..steps: evaluate f and ∇f at x_t and record them; a row stops as
    `converged` when ‖∇f‖ < tol, as `diverged` when f is non-finite or exceeds `max_loss`
    (keeping its last finite point); otherwise x_{t+1} = update(x_t). `check=(k, method)`
    compares the gradient with a reference method every k steps (relative discrepancy).
    """
    batch, dim = x0.shape
    x_star = objective.minimizer
    if trace is None:
        trace = Trace.allocate(steps, batch, dim, x0.dtype, distances=x_star is not None,
                               keep_points=keep_points)
    closure = None if optimizer.batchable else (lambda p: gradient(objective, p))
    state = optimizer.init(x0)
    x, x_prev = x0, x0
    active = torch.ones(batch, dtype=torch.bool, device=x0.device)
    n_active, start = batch, time.perf_counter()
    for t in range(steps + 1):
        value, grad = gradient(objective, x)
        grad_norm = torch.linalg.vector_norm(grad, dim=-1)
        trace.loss[t], trace.grad_norm[t] = value, grad_norm
        if trace.dist_to_opt is not None:
            trace.dist_to_opt[t] = torch.linalg.vector_norm(x - x_star, dim=-1)
        if trace.points is not None:
            trace.points[t] = x
        if check is not None and t % check[0] == 0:
            trace.checks.append((t, _discrepancy(grad, check[1](objective, x)[1])))
        trace.wall_time.append(time.perf_counter() - start)
        trace.length = t + 1
        if progress is not None and t % progress_every == 0:
            progress(t)
        finite = torch.isfinite(value) & torch.isfinite(grad_norm)
        diverged = active & (~finite | (value > max_loss))
        converged = active & finite & (grad_norm < tol)
        stopping = diverged | converged
        if bool(stopping.any()):
            x = _stop_rows(trace, t, diverged, converged, x, x_prev, finite)
            active = active & ~stopping
            n_active = int(active.sum())
            if n_active == 0:
                break
        if t == steps:
            break
        new_x, new_state = optimizer.update(grad, state, x, closure=closure)
        if n_active < batch:
            new_x, new_state = select(active, new_x, x), select(active, new_state, state)
        x_prev, x, state = x, new_x, new_state
    trace.x_final = x
    return trace


def _discrepancy(grad: Tensor, reference: Tensor) -> Tensor:
    """‖g − g_ref‖ / max(‖g_ref‖, tiny): 0 when the methods agree, about 1 when unrelated."""
    tiny = torch.finfo(grad.dtype).tiny
    diff = torch.linalg.vector_norm(grad - reference, dim=-1)
    return diff / torch.linalg.vector_norm(reference, dim=-1).clamp_min(tiny)


def _stop_rows(trace: Trace, t: int, diverged: Tensor, converged: Tensor, x: Tensor,
               x_prev: Tensor, finite: Tensor) -> Tensor:
    """Mark stopping rows; return x with each diverged row back at its last finite point."""
    for row in converged.nonzero().flatten().tolist():
        trace.status[row] = CONVERGED
        trace.last[row] = trace.final[row] = t
    restore = diverged & ~(torch.isfinite(x).all(-1) & finite)
    if t > 0:
        x = torch.where(restore.unsqueeze(-1), x_prev, x)
    for row in diverged.nonzero().flatten().tolist():
        trace.status[row] = DIVERGED
        trace.last[row] = t
        trace.final[row] = t - 1 if bool(restore[row]) and t > 0 else t
    return x
