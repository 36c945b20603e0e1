"""The run loop: step a batch of points with per-row stopping, recording every step.

Plain torch: no Hydra, no MLflow. A single run is a batch of one; a vectorised sweep stacks
many configurations as rows. A row that converges or diverges freezes while the others go on.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from objectives import GradientMethod, Objective
from optimizers.base import Optimizer, select
from runner.constants import CONVERGED, DIVERGED, MAX_STEPS

# Below this many numbers per batch, torch's intra-op threads cost more than they save: on 2
# loaded cores a (1000, 2) batch ran 18x slower with 2 threads than with 1.
SMALL_BATCH = 1 << 16


@contextlib.contextmanager
def threads_for(numel: int) -> Iterator[None]:
    """Run small batches on one intra-op thread; leave large problems multi-threaded."""
    previous = torch.get_num_threads()
    if numel >= SMALL_BATCH or previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class Trace:
    """Everything a run records: per step, f (B,), ‖∇f‖ (B,), and x (B, d) when kept.

    The hot loop appends tensors to lists (no copies, no indexing); `history()` stacks them
    once into (T, B) tensors. Row r's history is valid for indices 0..last[r]; `final[r]` is
    the index of its final point (the last finite one for a diverged row). `length` is how
    many steps were recorded, so an interrupted run can be logged up to where it stopped.
    """

    batch: int
    steps: int
    minimizer: Tensor | None = None
    losses: list[Tensor] = field(default_factory=list)
    grad_norms: list[Tensor] = field(default_factory=list)
    distances: list[Tensor] | None = None
    points: list[Tensor] | None = None
    wall_time: list[float] = field(default_factory=list)
    checks: list[tuple[int, Tensor]] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    last: Tensor | None = None
    final: Tensor | None = None
    x_final: Tensor | None = None
    _stacked: tuple[int, dict[str, Tensor]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.status = self.status or [MAX_STEPS] * self.batch
        self.last = torch.full((self.batch,), self.steps, dtype=torch.long)
        self.final = self.last.clone()

    @property
    def length(self) -> int:
        return len(self.losses)

    def history(self) -> dict[str, Tensor]:
        """The recorded steps as tensors: loss, grad_norm (T, B); dist_to_opt; points (T, B, d)."""
        n = len(self.losses)
        if self._stacked is not None and self._stacked[0] == n:
            return self._stacked[1]
        out = {"loss": torch.stack(self.losses), "grad_norm": torch.stack(self.grad_norms)}
        points = torch.stack(self.points[:n]) if self.points else None
        if points is not None:
            out["points"] = points
        if self.minimizer is not None:
            out["dist_to_opt"] = (torch.linalg.vector_norm(points - self.minimizer, dim=-1)
                                  if points is not None else torch.stack(self.distances[:n]))
        self._stacked = (n, out)
        return out


def optimize(objective: Objective, gradient: GradientMethod, optimizer: Optimizer, x0: Tensor,
             **options) -> Trace:
    """Take up to `steps` updates from each row of x0 (B, d); return the filled Trace.

    At each t = 0..steps: evaluate f and ∇f at x_t and record them; a row stops as
    `converged` when ‖∇f‖ < tol, as `diverged` when f is non-finite or |f| exceeds
    `max_loss` (keeping its last finite point); otherwise x_{t+1} = update(x_t).
    `check=(k, method)` compares the gradient with a reference method every k steps.
    Options: steps, tol, max_loss, trace, keep_points, check, progress, progress_every.
    """
    with threads_for(x0.numel()):
        return _optimize(objective, gradient, optimizer, x0, **options)


def _optimize(
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
    batch = x0.shape[0]
    x_star = objective.minimizer
    if trace is None:
        trace = Trace(batch, steps, x_star)
    if keep_points:
        trace.points = []
    elif x_star is not None:
        trace.distances = []
    closure = None if optimizer.batchable else (lambda p: gradient(objective, p))
    state = optimizer.init(x0)
    x, x_prev = x0, x0
    active = torch.ones(batch, dtype=torch.bool, device=x0.device)
    n_active, start = batch, time.perf_counter()
    for t in range(steps + 1):
        value, grad = gradient(objective, x)
        grad_norm = torch.linalg.vector_norm(grad, dim=-1)
        trace.losses.append(value)
        trace.grad_norms.append(grad_norm)
        if keep_points:
            trace.points.append(x)
        elif trace.distances is not None:
            trace.distances.append(torch.linalg.vector_norm(x - x_star, dim=-1))
        if check is not None and t % check[0] == 0:
            trace.checks.append((t, _discrepancy(grad, check[1](objective, x)[1])))
        trace.wall_time.append(time.perf_counter() - start)
        if progress is not None and t % progress_every == 0:
            progress(t)
        # one fused test: NaN, ±inf and |f| > max_loss all fail `abs(f) <= max_loss`
        diverged = ~(value.abs() <= max_loss)
        converged = grad_norm < tol if tol > 0 else None
        stopping = diverged if converged is None else diverged | converged
        if n_active < batch:
            stopping = stopping & active
        if stopping.any().item():
            x = _stop_rows(trace, t, diverged & active, stopping & ~diverged, x, x_prev)
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
               x_prev: Tensor) -> Tensor:
    """Mark stopping rows; return x with each diverged row back at its last finite point."""
    for row in converged.nonzero().flatten().tolist():
        trace.status[row] = CONVERGED
        trace.last[row] = trace.final[row] = t
    restore = diverged & ~(torch.isfinite(x).all(-1) & torch.isfinite(trace.losses[t]))
    if t > 0:
        x = torch.where(restore.unsqueeze(-1), x_prev, x)
    for row in diverged.nonzero().flatten().tolist():
        trace.status[row] = DIVERGED
        trace.last[row] = t
        trace.final[row] = t - 1 if bool(restore[row]) and t > 0 else t
    return x
