"""The classical methods (optimizers.classical) against scipy.optimize.minimize on the same
start, and their evaluation counts against an objective that counts its own calls."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize, rosen, rosen_der

from objectives import Autograd, Quadratic, Rosenbrock
from optimizers import OptimizerError
from runner.constants import CONVERGED
from runner.loop import optimize
from tests.configs import optimizer as make
from tests.test_stall import Counted

X0 = torch.tensor([[-1.2, 1.0]], dtype=torch.float64)


def run(name: str, objective, steps: int, **hyper):
    optimizer = make(name, **hyper)
    return optimize(objective, Autograd(), optimizer, X0, steps=steps, tol=1e-8,
                    stall=(optimizer.stall_steps, 1e-12))


@pytest.mark.parametrize("name, hyper, scipy_method", [
    ("bfgs", {}, "BFGS"), ("cg", {}, "CG"), ("cg", dict(variant="fr"), "CG")])
def test_bfgs_and_cg_reach_rosenbrocks_minimum_as_scipy_does(name, hyper, scipy_method):
    """From (−1.2, 1) to ‖∇f‖ < 1e-8; iterations and evaluations side by side with scipy's
    (printed; ours within 3× of scipy's evaluations: a line search of its own kind)."""
    counted = Counted(Rosenbrock())
    trace = run(name, counted, 1000, **hyper)
    assert trace.status == [CONVERGED]
    x = trace.x_final[0].numpy()
    assert np.linalg.norm(rosen_der(x)) < 1e-8 and np.abs(x - 1).max() < 1e-7
    assert int(trace.evaluations[0]) == counted.calls
    reference = minimize(rosen, X0[0].numpy(), jac=rosen_der, method=scipy_method,
                         options={"gtol": 1e-8})
    assert reference.success
    ours = (int(trace.final[0]), counted.calls)
    print(f"{name} {hyper}: {ours[0]} iterations, {ours[1]} evaluations; scipy "
          f"{scipy_method}: {reference.nit} iterations, {reference.nfev} evaluations")
    assert ours[1] <= 3 * reference.nfev


def test_armijo_gradient_descent_never_increases_f_and_converges():
    counted = Counted(Rosenbrock())
    trace = run("armijo", counted, 2000)  # Rosenbrock's valley: slow, but never uphill
    losses = trace.history()["loss"][:, 0]
    assert bool((losses[1:] <= losses[:-1]).all()) and float(losses[-1]) < 1e-3
    assert int(trace.evaluations[0]) == counted.calls > 2 * 2001  # backtracking costs
    # on a quadratic the first trial (lr = 1) overshoots: the search must shrink it
    quad = Quadratic(diag=[4.0, 1.0])
    trace = optimize(quad, Autograd(), make("armijo"), X0, steps=200, tol=1e-10)
    assert trace.status == [CONVERGED]
    assert bool((trace.history()["loss"][1:, 0] < trace.history()["loss"][:-1, 0]).all())


@pytest.mark.parametrize("build, match", [
    (lambda: make("cg", variant="hs"), r"optimizer\.variant must be one of pr\+, fr"),
    (lambda: make("bfgs", c1=0.5, c2=0.4), r"optimizer\.c1 must be below optimizer\.c2"),
    (lambda: make("armijo", shrink=1.0), r"optimizer\.shrink must lie in \(0.0, 1.0\)"),
    (lambda: make("armijo", max_backtracks=0), r"optimizer\.max_backtracks must be an integer"),
    (lambda: make("bfgs", lr=0.0), r"optimizer\.lr must lie in \(0"),
])
def test_bad_settings_are_clear_errors(build, match):
    with pytest.raises(OptimizerError, match=match):
        build()


def test_newton_converges_quadratically_on_a_strongly_convex_problem():
    """benchopt's L2 logistic regression (λ = 1, breast cancer, 30-D) from 0: once close,
    the digits of accuracy ‖x_k − x*‖ double each step (x* computed apart, by the objective's
    own Newton iteration in closed form, so the reference shares no code with the rule)."""
    from objectives.learning import Logistic

    objective = Logistic(l2=1.0)
    trace = optimize(objective, Autograd(), make("newton"),
                     torch.zeros(1, objective.dim, dtype=torch.float64), steps=12,
                     keep_points=True)
    errors = (trace.history()["points"][:, 0] - objective.minimizer).norm(dim=-1).tolist()
    digits = [-np.log10(e) for e in errors if 1e-12 < e < 1e-1]
    assert len(digits) >= 3
    ratios = [b / a for a, b in zip(digits, digits[1:])]
    print("digits:", [round(d, 2) for d in digits], "ratios:", [round(r, 2) for r in ratios])
    assert all(r >= 1.8 for r in ratios)
    assert min(errors) < 1e-12


def test_newton_steps_safely_through_an_indefinite_hessian():
    """Rosenbrock from (−1.2, 1) (the Hessian is indefinite on the way): to ‖∇f‖ < 1e-8,
    f never increasing, its Hessians and line searches counted as evaluations."""
    counted = Counted(Rosenbrock())
    trace = run("newton", counted, 200)
    assert trace.status == [CONVERGED]
    losses = trace.history()["loss"][:, 0]
    assert bool((losses[1:] <= losses[:-1]).all())
    # a Hessian by autograd evaluates f once (and differentiates it twice): counted too
    assert int(trace.evaluations[0]) == counted.calls > 3 * int(trace.final[0])


@pytest.mark.parametrize("objective, steps", [(Rosenbrock(), 300),
                                               (Quadratic(diag=[4.0, 1.0]), 300)])
def test_armijo_batches_each_row_as_if_alone(objective, steps):
    """Rows with their own lr, c1, shrink and max_backtracks: each row's status, final step,
    evaluation count (its own backtracks only, none after it stops) and point equal a run of
    that row alone; on the quadratic the rows converge at different steps."""
    rows = [dict(lr=1.0, c1=1e-4, shrink=0.5, max_backtracks=50),
            dict(lr=0.1, c1=0.3, shrink=0.8, max_backtracks=2),
            dict(lr=3.0, c1=1e-2, shrink=0.2, max_backtracks=10)]
    x0 = torch.tensor([[-1.2, 1.0], [0.0, 0.5], [2.0, 2.0]], dtype=torch.float64)
    per_row = {k: torch.tensor([[r[k]] for r in rows], dtype=torch.float64) for k in rows[0]}
    batch = optimize(objective, Autograd(), make("armijo", **per_row), x0, steps=steps,
                     tol=1e-6)
    for i, row in enumerate(rows):
        alone = optimize(objective, Autograd(), make("armijo", **row), x0[i:i + 1],
                         steps=steps, tol=1e-6)
        assert batch.status[i] == alone.status[0]
        assert int(batch.final[i]) == int(alone.final[0])
        assert int(batch.evaluations[i]) == int(alone.evaluations[0]) > int(alone.final[0])
        assert torch.equal(batch.x_final[i], alone.x_final[0])
    if isinstance(objective, Quadratic):
        assert batch.status == [CONVERGED] * 3 and len({int(t) for t in batch.final}) == 3
