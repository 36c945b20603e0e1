"""Runs that stop making progress end as `stalled` (runner.loop's stall test), and every run
counts its evaluations of f and ∇f, checked against counters that share no code with the
loop."""

from __future__ import annotations

import pytest
import torch

from objectives import Autograd, Objective, Quadratic, Rosenbrock
from runner.constants import CONVERGED, MAX_STEPS, STALLED
from runner.loop import optimize
from tests.configs import optimizer as make


class Counted(Objective):
    """An objective that counts the points it is evaluated at (autograd evaluates f once a
    gradient)."""

    def __init__(self, inner: Objective) -> None:
        super().__init__(inner.dim)
        self.inner, self.calls = inner, 0

    def value(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.inner.value(x)


def stall_step(losses: list[float], n: int, rtol: float) -> int | None:
    """The first step t at which f has not fallen below best − rtol·|best| for n steps,
    where best is the last value that did (plain Python over the losses)."""
    best, since = losses[0], 0
    for t, f in enumerate(losses[1:], start=1):
        if f < best - rtol * abs(best):
            best, since = f, 0
        else:
            since += 1
            if since >= n:
                return t
    return None


def test_sgd_that_reaches_its_floor_stalls_where_the_rule_says():
    """Gradient descent on f = x₀² + 10x₁² − x₀: x_t in closed form (each coordinate
    contracts by 1 − 2ηa toward its minimizer); f stops falling once it reaches float64's
    floor, and the run ends `stalled` n steps after its last improvement."""
    objective = Quadratic(diag=[1.0, 10.0], b=[1.0, 0.0])
    lr, n, rtol, steps = 0.04, 25, 1e-12, 2000
    x0 = torch.tensor([[3.0, -2.0]], dtype=torch.float64)
    trace = optimize(objective, Autograd(), make("sgd", lr=lr), x0, steps=steps,
                     stall=(n, rtol))
    # closed form: x_t = x* + (1 − 2ηa)^t (x0 − x*), x* = (1/2, 0)
    t = torch.arange(steps + 1, dtype=torch.float64)
    x0_gap = torch.tensor([2.5, -2.0], dtype=torch.float64)
    xs = torch.tensor([0.5, 0.0]) + torch.stack([(1 - 2 * lr) ** t, (1 - 20 * lr) ** t], 1) * x0_gap
    losses = [float(v) for v in objective.value(xs)]
    expected = stall_step(losses, n, rtol)
    assert expected is not None and expected < steps
    assert trace.status == [STALLED]
    assert int(trace.final[0]) == expected
    assert float(trace.history()["loss"][-1, 0]) == pytest.approx(losses[expected], abs=1e-15)
    assert int(trace.evaluations[0]) == expected + 1  # one evaluation a step, t = 0 included

    off = optimize(objective, Autograd(), make("sgd", lr=lr), x0, steps=steps)
    assert off.status == [MAX_STEPS] and int(off.final[0]) == steps  # stall.steps 0: off


def test_a_row_stalls_alone_in_a_batch():
    """Per-row stopping: the row with the larger rate reaches its floor (and stalls) first;
    the other runs on, and each row's evaluations are its own steps."""
    objective = Quadratic(diag=[1.0, 10.0], b=[1.0, 0.0])
    lrs = torch.tensor([[0.04], [0.0001]], dtype=torch.float64)
    x0 = torch.tensor([[3.0, -2.0]] * 2, dtype=torch.float64)
    trace = optimize(objective, Autograd(), make("sgd", lr=lrs), x0, steps=3000,
                     stall=(25, 1e-12))
    alone = optimize(objective, Autograd(), make("sgd", lr=0.04), x0[:1], steps=3000,
                     stall=(25, 1e-12))
    assert trace.status == [STALLED, MAX_STEPS]
    assert int(trace.final[0]) == int(alone.final[0]) < 3000
    assert torch.equal(trace.x_final[0], alone.x_final[0])
    assert int(trace.evaluations[0]) == int(trace.final[0]) + 1
    assert int(trace.evaluations[1]) == 3001


def test_lbfgs_counts_its_line_search_evaluations_and_stops_when_it_stands_still():
    """L-BFGS (conf/optimizer/lbfgs.yaml) on Rosenbrock from (−1.2, 1): the evaluations the
    run reports are the ones the objective saw; it ends at x* = (1, 1) with ∇f exactly 0,
    which is `converged` even with tol 0."""
    counted = Counted(Rosenbrock())
    optimizer = make("lbfgs")
    x0 = torch.tensor([[-1.2, 1.0]], dtype=torch.float64)
    trace = optimize(counted, Autograd(), optimizer, x0, steps=100,
                     stall=(optimizer.stall_steps, 1e-12))
    assert trace.status == [CONVERGED]
    assert trace.x_final[0].tolist() == [1.0, 1.0]
    assert int(trace.evaluations[0]) == counted.calls
    assert counted.calls > 3 * (int(trace.final[0]) + 1)  # several per step: the line search


def test_sgd_and_lbfgs_on_rosenbrock_compared_by_evaluations():
    """The comparison the counts exist for: to reach ‖∇f‖ < 1e-5 (f < 1e-9) from (−1.2, 1),
    L-BFGS takes a few dozen evaluations, several a step, where gradient descent (lr 1e-3)
    takes one a step, thousands; each run's count is the objective's own."""
    x0 = torch.tensor([[-1.2, 1.0]], dtype=torch.float64)
    counts = {}
    for name, options, steps in (("sgd", dict(lr=1e-3), 60_000), ("lbfgs", {}, 100)):
        counted = Counted(Rosenbrock())
        optimizer = make(name, **options)
        trace = optimize(counted, Autograd(), optimizer, x0, steps=steps, tol=1e-5,
                         stall=(optimizer.stall_steps, 1e-12))
        assert trace.status == [CONVERGED]
        assert counted.inner.value(trace.x_final).item() < 1e-9
        assert int(trace.evaluations[0]) == counted.calls
        counts[name] = (int(trace.final[0]), counted.calls)
    (sgd_steps, sgd_calls), (lbfgs_steps, lbfgs_calls) = counts["sgd"], counts["lbfgs"]
    assert sgd_calls == sgd_steps + 1 and lbfgs_calls > lbfgs_steps + 1
    assert sgd_calls > 50 * lbfgs_calls
