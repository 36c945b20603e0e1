"""The run loop: step a batch of points with per-row stopping, recording every step.

Plain torch: no Hydra, no MLflow. A single run is a batch of one; a vectorised sweep stacks
many configurations as rows. A row that converges or diverges freezes while the others go on.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from objectives import GradientMethod, Objective
from objectives.sampling import Draws
from optimizers.base import Optimizer, Rate, select
from runner.constants import CONVERGED, DIVERGED, MAX_STEPS, PRUNED, STALLED

# Below this many numbers per batch, torch's intra-op threads cost more than they save: on 2
# loaded cores a (1000, 2) batch ran 18x slower with 2 threads than with 1.
SMALL_BATCH = 1 << 16


@contextlib.contextmanager
def threads_for(numel: int) -> Iterator[Callable[[], None] | None]:
    """Run small batches on one intra-op thread; leave large problems multi-threaded, or, in
    a process that shares its cores with another (SHARED_CORES), give what sets at each
    step the threads they may use then (the threads are as before once done)."""
    previous = torch.get_num_threads()
    if numel >= SMALL_BATCH and SHARED_CORES:
        try:
            yield _shared_cores
        finally:
            torch.set_num_threads(previous)
        return
    if numel >= SMALL_BATCH or previous == 1:
        yield None
        return
    torch.set_num_threads(1)
    try:
        yield None
    finally:
        torch.set_num_threads(previous)


# How many intra-op threads a large batch may use at the moment, in a process that shares
# its cores with another (runner.sweep.engine: one while the command works, all once it
# waits for the rows); asked at each step.
SHARED_CORES: list[Callable[[], int]] = []


def _shared_cores() -> None:
    wanted = SHARED_CORES[0]()
    if wanted != torch.get_num_threads():
        torch.set_num_threads(wanted)


# a Trace with no budget keeps every step; runs get theirs from `artifacts.history_mb`
FLUSH_STEPS = 1024  # at most this many steps wait in lists before they are packed


@dataclass
class Trace:
    """Everything a run records: per step, f (B,), ‖∇f‖ (B,), and x (B, d) when kept (else
    ‖x − x*‖ where x* is known), and the seconds since the start.

    The hot loop appends tensors to lists (no copies, no indexing); every FLUSH_STEPS steps
    they are packed into blocks. With a `budget` (bytes), the packed history never exceeds
    it: when it would, every other kept step is dropped, so the kept steps are the multiples
    of a power-of-two `stride` (step 0 always among them). Whatever is dropped, each row's
    values at its final step (`final`: the last finite one for a diverged row) and its last
    step (`last`) are kept apart, so finals are exact at any length. `length` is how many
    steps were taken, so an interrupted run can be logged up to where it stopped.
    `evaluations` counts, per row, the evaluations of f and ∇f (one call of the gradient
    method: one a step, plus those an optimizer's closure makes, as in a line search); the
    count reached at each step is kept with the step. `rate` is the optimizer's learning rate
    of update t where it changes with t (see `rates`).
    """

    batch: int
    steps: int
    minimizer: Tensor | None = None
    keep_points: bool = False
    budget: int | None = None
    checks: list[tuple[int, Tensor]] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    last: Tensor | None = None
    final: Tensor | None = None
    x_final: Tensor | None = None
    evaluations: Tensor | None = None
    rate: Rate | None = None
    length: int = 0
    stride: int = 1
    ends: dict[str, dict[str, Tensor]] = field(default_factory=dict)  # "final"/"last" → values
    # a data objective's evaluations (train/test loss, accuracy, epochs) every k steps, and
    # at each row's final point; `stochastic`: f itself was sampled (minibatches)
    evals: list[tuple[int, dict[str, Tensor | float]]] = field(default_factory=list)
    final_evals: dict[str, Tensor] | None = None
    progress_at: Callable[[int], dict[str, float]] | None = None  # epochs, samples at step t
    stochastic: bool = False
    _recent: dict[str, list] = field(default_factory=dict, repr=False)
    _blocks: dict[str, list[Tensor]] = field(default_factory=dict, repr=False)
    _latest: tuple[dict, dict] | None = field(default=None, repr=False)  # (previous, latest)
    _stacked: tuple[int, dict[str, Tensor]] | None = field(default=None, repr=False)
    _rates: tuple[Tensor, Tensor] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.status = self.status or [MAX_STEPS] * self.batch
        self.last = torch.full((self.batch,), self.steps, dtype=torch.long)
        self.final = self.last.clone()
        self.evaluations = torch.zeros(self.batch, dtype=torch.long)  # the loop's device
        self._keys = ["loss", "grad_norm", "evaluations"] + (
            ["points"] if self.keep_points else ["dist_to_opt"] if self.minimizer is not None
            else [])
        self._recent = {key: [] for key in self._keys + ["wall_time"]}
        self._blocks = {key: [] for key in self._keys + ["wall_time", "step"]}
        self._first_recent = 0
        self._flush_every = FLUSH_STEPS

    def record(self, value: Tensor, grad_norm: Tensor, x: Tensor, seconds: float) -> None:
        """Step `length`'s values: f (B,), ‖∇f‖ (B,), x (B, d)."""
        step = {"loss": value, "grad_norm": grad_norm, "evaluations": self.evaluations.clone()}
        if self.keep_points:
            step["points"] = x
        elif self.minimizer is not None:
            step["dist_to_opt"] = torch.linalg.vector_norm(x - self.minimizer, dim=-1)
        for key, item in step.items():
            self._recent[key].append(item)
        self._recent["wall_time"].append(seconds)
        step["wall_time"] = seconds
        self._latest = (self._latest[1] if self._latest else step, step)
        self.length += 1
        if self.length - self._first_recent >= self._flush_every:
            self._flush()

    def end_rows(self, rows: Tensor, previous: Tensor | None = None) -> None:
        """Keep the values of `rows` (a (B,) mask) as they end now: at their last step the
        latest values; at their final step the same, or the previous step's in the rows
        where `previous` (a mask) is set (a diverged row's last finite point)."""
        prior, latest = self._latest
        for name, use_prior in (("last", None), ("final", previous)):
            kept = self.ends.setdefault(name, {})
            for key, value in latest.items():
                value = self._full(value)
                if use_prior is not None:
                    value = _where(use_prior, self._full(prior[key]), value)
                kept[key] = value.clone() if key not in kept else _where(rows, value, kept[key])

    def row_end(self, row: int, name: str) -> dict[str, Tensor]:
        """Row `row`'s values at its `final` or `last` step: those kept when it ended, or,
        for a row interrupted while running, its latest step's."""
        ended = self.x_final is not None or self.status[row] != MAX_STEPS
        source = self.ends[name] if ended else self._latest[1]
        return {k: self._full(v)[row] for k, v in source.items()}

    def rates(self, steps: Tensor) -> Tensor:
        """The learning rate of update t at each t of `steps` (T,), for every row: (T, B)."""
        cached = self._rates
        if cached is None or not torch.equal(cached[0], steps):
            values = [torch.as_tensor(self.rate(int(t)), dtype=torch.float64).reshape(-1)
                      for t in steps.tolist()]
            table = torch.stack(values).cpu() if values else torch.zeros(0, 1)
            self._rates = cached = (steps, table.expand(len(values), self.batch))
        return cached[1]

    def _full(self, value: Tensor | float) -> Tensor:
        """A step's value as a tensor with a first dimension of B (the seconds are one float)."""
        if isinstance(value, Tensor):
            return value
        return torch.full((self.batch,), value, dtype=torch.float64)

    def _flush(self) -> None:
        """Pack the waiting steps into a block (keeping only multiples of the stride), then
        halve the kept steps until they fit the budget."""
        n = self.length - self._first_recent
        if n == 0:
            return
        steps = torch.arange(self._first_recent, self.length)
        keep = steps % self.stride == 0
        block = {k: torch.stack(v) if k != "wall_time" else torch.tensor(v, dtype=torch.float64)
                 for k, v in self._recent.items()}
        block["step"] = steps
        for key, values in block.items():
            self._blocks[key].append(values[keep])
        for waiting in self._recent.values():
            waiting.clear()
        self._first_recent = self.length
        if self.budget is not None:
            per_step = max(1, self.kept_bytes // max(1, self.kept_steps))
            self._flush_every = max(16, min(FLUSH_STEPS, self.budget // (4 * per_step)))
            while self.kept_bytes > self.budget and self.kept_steps > 2:
                self._thin()
        self._stacked = None

    @property
    def kept_steps(self) -> int:
        return sum(len(b) for b in self._blocks["step"])

    @property
    def kept_bytes(self) -> int:
        return sum(b.numel() * b.element_size() for blocks in self._blocks.values()
                   for b in blocks)

    def _thin(self) -> None:
        """Double the stride: drop every kept step that is not a multiple of it."""
        self.stride *= 2
        keep = torch.cat(self._blocks["step"]) % self.stride == 0
        for key, blocks in self._blocks.items():
            self._blocks[key] = [torch.cat(blocks)[keep]]

    def history(self) -> dict[str, Tensor]:
        """The kept steps: `step` (T,), `wall_time` (T,), loss, grad_norm (T, B), and
        points (T, B, d) when kept, else dist_to_opt (T, B) where x* is known."""
        if self._stacked is not None and self._stacked[0] == self.length:
            return self._stacked[1]
        self._flush()
        for key, blocks in self._blocks.items():  # one block each from now on, not a copy
            if len(blocks) > 1:
                self._blocks[key] = [torch.cat(blocks)]
        out = {k: v[0] for k, v in self._blocks.items()}
        self._stacked = (self.length, out)
        return out


def _where(mask: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """a where mask (B,), else b; for values of shape (B,) or (B, d)."""
    return torch.where(mask.to(a.device).reshape(-1, *[1] * (a.dim() - 1)), a, b)


DEFAULT_EVALUATE_EVERY = 10


def optimize(objective: Objective, gradient: GradientMethod, optimizer: Optimizer, x0: Tensor,
             **options) -> Trace:
    """Take up to `steps` updates from each row of x0 (B, d); return the filled Trace.

    At each t = 0..steps: evaluate f and ∇f at x_t and record them; a row stops as
    `converged` when ‖∇f‖ < tol, as `diverged` when f is non-finite or |f| exceeds
    `max_loss` (keeping its last finite point), as `stalled` when, with `stall=(n, rtol)`
    and n > 0, f has not fallen below best − rtol·|best| for n steps (best: the lowest f
    that last did; `converged` if ∇f is exactly 0 there); otherwise x_{t+1} = update(x_t).
    `check=(k, method)` compares the gradient with a reference method every k steps.
    `sampling` (Draws, see objectives.sampling) replaces f by its step-t sample and ∇f by
    its noisy version (the recorded ‖∇f‖ is the sample's, before noise); `evaluate_every=k`
    records a data objective's `evaluate` (train and test loss, ...) every k steps and at
    each row's final point (None: once an epoch of minibatches, else every 10 steps).
    `prune` (an Optuna study's RowPruner) hears f every `prune.every` steps (0 < t < steps)
    and names the rows to stop as `pruned`.
    Options: steps, tol, max_loss, stall, trace (else one is made, keeping x if
    keep_points), check, sampling, evaluate_every, prune, progress, progress_every.
    """
    with threads_for(x0.numel()) as threads_now:
        return _optimize(objective, gradient, optimizer, x0, threads_now=threads_now, **options)


def _optimize(
    objective: Objective,
    gradient: GradientMethod,
    optimizer: Optimizer,
    x0: Tensor,
    *,
    steps: int,
    tol: float = 0.0,
    max_loss: float = math.inf,
    stall: tuple[int, float] = (0, 0.0),
    trace: Trace | None = None,
    keep_points: bool = False,
    check: tuple[int, GradientMethod] | None = None,
    sampling: Draws | None = None,
    evaluate_every: int | None = 0,
    prune: Callable[[int, Tensor, Tensor], list[bool]] | None = None,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 256,
    threads_now: Callable[[], None] | None = None,
) -> Trace:
    batch = x0.shape[0]
    if trace is None:
        trace = Trace(batch, steps, objective.minimizer, keep_points=keep_points)
    sampled = [objective]  # f at this step: the objective, or its sample
    live = [None]  # the rows still running, for the closure's counts
    closure = _counted(sampled, gradient, trace, live)
    trace.rate = optimizer.rate
    evaluate = getattr(objective, "evaluate", None)
    if evaluate_every is None:  # once an epoch with minibatches, else every 10 steps
        evaluate_every = getattr(sampling, "per_epoch", DEFAULT_EVALUATE_EVERY)
    every = evaluate_every if evaluate is not None else 0
    trace.stochastic = bool(sampling is not None and sampling.samples_f)
    trace.progress_at = sampling.progress if sampling is not None else None
    state = optimizer.init(x0)
    extra = (lambda value: {"value": value}) if optimizer.needs_value else (lambda value: {})
    x, x_prev = x0, x0
    active = live[0] = torch.ones(batch, dtype=torch.bool, device=x0.device)
    stall_steps, stall_rtol = stall
    since = torch.zeros(batch, dtype=torch.long, device=x0.device)
    trace.evaluations = torch.zeros(batch, dtype=torch.long, device=x0.device)
    n_active, start = batch, time.perf_counter()
    evaluated = None  # the last evaluation: (step, points, values)
    for t in range(steps + 1):
        if threads_now is not None:
            threads_now()
        if sampling is not None:
            sampled[0] = sampling.objective(t)
        value, grad = gradient(sampled[0], x)
        trace.evaluations += active
        grad_norm = torch.linalg.vector_norm(grad, dim=-1)
        trace.record(value, grad_norm, x, time.perf_counter() - start)
        if sampling is not None:
            grad = sampling.gradient(grad, t)
        if every and t % every == 0:
            progress_t = trace.progress_at(t) if trace.progress_at is not None else {}
            evaluated = t, x, evaluate(x)
            trace.evals.append((t, {**evaluated[2], **progress_t}))
        if check is not None and t % check[0] == 0:
            trace.checks.append((t, _discrepancy(grad, check[1](objective, x)[1])))
        if progress is not None and t % progress_every == 0:
            progress(t)
        # one fused test: NaN, ±inf and |f| > max_loss all fail `abs(f) <= max_loss`
        diverged = ~(value.abs() <= max_loss)
        ended = diverged if tol <= 0 else diverged | (grad_norm < tol)
        if stall_steps and t == 0:
            best = value
        elif stall_steps:
            improved = value < best - stall_rtol * best.abs()
            best = torch.where(improved, value, best)
            since = torch.where(improved, 0, since + 1)
            ended = ended | (since >= stall_steps)
        pruned = None
        if prune is not None and 0 < t < steps and t % prune.every == 0:
            pruned = torch.tensor(prune(t, value, active), device=x.device) & ~ended
            ended = ended | pruned
        if n_active < batch:
            ended = ended & active
        if ended.any().item():
            # a row that stands still where ∇f = 0 exactly has converged, whatever tol
            converged = ended & ~diverged & ((grad_norm < tol) | (grad_norm == 0))
            stopped = {CONVERGED: converged, STALLED: ended & ~diverged & ~converged}
            if pruned is not None:
                stopped = {CONVERGED: converged & ~pruned, STALLED: stopped[STALLED] & ~pruned,
                           PRUNED: pruned & active}
            x = _stop_rows(trace, t, diverged & active, stopped, x, x_prev, value)
            active = live[0] = active & ~ended
            n_active = int(active.sum())
            if n_active == 0:
                break
        if t == steps:
            break
        new_x, new_state = optimizer.update(grad, state, x, closure=closure, **extra(value))
        if optimizer.observe is not None:
            optimizer.observe(value)
        if n_active < batch:
            new_x, new_state = select(active, new_x, x), select(active, new_state, state)
        x_prev, x, state = x, new_x, new_state
    if n_active:
        trace.end_rows(active)
    trace.x_final = x
    if every:  # the last evaluation's where it was of these points (the last step's)
        same = evaluated is not None and evaluated[0] == t and evaluated[1] is x
        trace.final_evals = evaluated[2] if same else evaluate(x)
    return trace


def _discrepancy(grad: Tensor, reference: Tensor) -> Tensor:
    """‖g − g_ref‖ / max(‖g_ref‖, tiny): 0 when the methods agree, about 1 when unrelated."""
    tiny = torch.finfo(grad.dtype).tiny
    diff = torch.linalg.vector_norm(grad - reference, dim=-1)
    return diff / torch.linalg.vector_norm(reference, dim=-1).clamp_min(tiny)


def _counted(sampled: list, gradient: GradientMethod, trace: Trace,
             live: list) -> Callable[..., tuple[Tensor, Tensor]]:
    """The closure an optimizer that re-evaluates gets: `closure(x, rows=None)`, f and ∇f at
    x (on the step's sample, `sampled[0]`), counted for each running row (`live[0]`), or for
    those of them in `rows` (a line search whose other rows are done: each row's count is
    then what it would be alone); and `closure.hessian(x)`, ∇²f at each row of x (B, d) by
    autograd, counted as one more."""

    def closure(x: Tensor, rows: Tensor | None = None) -> tuple[Tensor, Tensor]:
        trace.evaluations += live[0] if rows is None else live[0] & rows
        return gradient(sampled[0], x)

    def hessian(x: Tensor) -> Tensor:
        trace.evaluations += live[0]
        with torch.enable_grad():
            return torch.stack([torch.autograd.functional.hessian(
                lambda v: sampled[0].value(v[None])[0], row) for row in x.detach()])

    closure.hessian = hessian
    return closure


def _stop_rows(trace: Trace, t: int, diverged: Tensor, stopped: dict[str, Tensor], x: Tensor,
               x_prev: Tensor, value: Tensor) -> Tensor:
    """Mark stopping rows (diverged, and the others by status) and keep their ends; return
    x with each diverged row back at its last finite point."""
    for status, rows in stopped.items():
        for row in rows.nonzero().flatten().tolist():
            trace.status[row] = status
            trace.last[row] = trace.final[row] = t
    restore = diverged & ~(torch.isfinite(x).all(-1) & torch.isfinite(value))
    if t > 0:
        x = torch.where(restore.unsqueeze(-1), x_prev, x)
    for row in diverged.nonzero().flatten().tolist():
        trace.status[row] = DIVERGED
        trace.last[row] = t
        trace.final[row] = t - 1 if bool(restore[row]) and t > 0 else t
    trace.end_rows(functools.reduce(torch.logical_or, stopped.values(), diverged),
                   restore if t > 0 else None)
    return x
