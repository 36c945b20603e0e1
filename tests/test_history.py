"""A run's recorded history within a memory budget (runner.loop.Trace): the kept steps are
the multiples of a power-of-two stride, their values those of the closed form, and the
finals exact whatever was dropped."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from objectives import Autograd, Quadratic
from optimizers.sgd import sgd
from runner.loop import Trace, optimize
from runner.results import Record

QUAD = Quadratic(diag=[4.0, 1.0])  # f = 4x₁² + x₂², x* = 0, f* = 0
X0 = [1.5, 2.0]


def closed_form(lr: float, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sgd on Σ λᵢxᵢ²: xᵢ,ₜ = (1 − 2ηλᵢ)ᵗ xᵢ,₀; returns f and x at `steps`."""
    lam = np.array([4.0, 1.0])
    x = np.array(X0) * (1 - 2 * lr * lam) ** steps[:, None].astype(float)
    return (lam * x**2).sum(axis=1), x


def run(lrs: list[float], steps: int, budget: int | None,
        tol: float = 0.0) -> tuple[Trace, list[Record]]:
    rule = sgd(lr=torch.tensor(lrs, dtype=torch.float64)[:, None], momentum=0.0,
               dampening=0.0, nesterov=False, weight_decay=0.0)
    trace = Trace(len(lrs), steps, QUAD.minimizer, keep_points=True, budget=budget)
    x0 = torch.tensor([X0] * len(lrs), dtype=torch.float64)
    optimize(QUAD, Autograd(), rule, x0, steps=steps, tol=tol, max_loss=1e15, trace=trace)
    return trace, [Record.from_trace(trace, row, QUAD) for row in range(len(lrs))]


def test_a_long_run_keeps_every_stride_th_step_within_its_budget():
    budget = 64 * 1024
    trace, (record,) = run([1e-4], 40_000, budget)
    assert trace.stride >= 16 and trace.stride & (trace.stride - 1) == 0
    kept = trace.history()
    assert sum(v.numel() * v.element_size() for v in kept.values()) <= budget
    assert np.all(record.index[:-1] % trace.stride == 0) and record.index[-1] == 40_000
    assert len(record.index) == 40_000 // trace.stride + 1
    loss, x = closed_form(1e-4, record.index)
    np.testing.assert_allclose(record.histories["loss"], loss, rtol=1e-11)
    np.testing.assert_allclose(record.points, x, rtol=1e-11)
    columns, values, steps = record.table()
    assert list(steps) == list(record.index) and values.shape == (len(steps), len(columns))


def test_finals_are_exact_whatever_was_dropped():
    """Rows that converge, diverge (back at their last finite point) and run to the end,
    in one batch: the budgeted record's finals are the unbounded one's, bit for bit."""
    lrs, steps = [0.3, 1e-3, 0.124], 3000
    _, full = run(lrs, steps, None, tol=1e-6)
    trace, kept = run(lrs, steps, 2048, tol=1e-6)
    assert trace.stride > 1
    assert [r.status for r in full] == ["diverged", "max_steps", "converged"]
    for a, b in zip(full, kept):
        assert (a.status, a.steps, a.last, a.x_final) == (b.status, b.steps, b.last, b.x_final)
        timeless = [{k: v for k, v in r.result().items() if k != "wall_time_s"} for r in (a, b)]
        assert timeless[0] == timeless[1]
        assert b.index[-1] == a.last and a.steps in b.index
    loss, _ = closed_form(1e-3, np.array([steps]))
    assert kept[1].final_loss == pytest.approx(loss[0], rel=1e-11)


def test_an_unbounded_trace_keeps_every_step():
    _, (record,) = run([1e-3], 500, None)
    assert list(record.index) == list(range(501))
    np.testing.assert_allclose(record.histories["loss"], closed_form(1e-3, record.index)[0],
                               rtol=1e-12)
