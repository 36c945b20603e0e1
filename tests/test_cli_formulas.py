"""Formula objectives and gradient checking through the CLI and MLflow (issue 4)."""

from __future__ import annotations

import math

import numpy as np
import pytest


def result_of(store, *args):
    store.run(*args, "artifacts.plots=false")
    run = store.runs()[0]
    return run, store.artifact_json(run.info.run_id)


@pytest.mark.parametrize("gradient", ["autograd", "analytic", "finite_diff", "complex_step"])
@pytest.mark.parametrize(
    "expr, x0, expected",
    [("exp(w)", "[2.0]", [7.389056]),                    # TF demo: exp'(2) = e²
     ("2*a**2 + 3*b**3", "[2.0,3.0]", [8.0, 81.0]),       # (4a, 9b²) at (2, 3)
     ("4**w", "[2.0]", [22.18071])],                       # ln 4 · 4² = 22.18070977791825
)
def test_tensorflow_demo_gradients(store, gradient, expr, x0, expected):
    # steps=0: the gradient norm at x0 is the norm of the demo's printed gradient
    _, result = result_of(store, "objective=expr", f"objective.expr={expr!r}", f"objective.x0={x0}",
                          f"gradient={gradient}", "steps=0", "dtype=float32")
    # float32: exact methods to the demo's printed digits; differences to about ε^(2/3)
    rel = 2e-3 if gradient == "finite_diff" else 2e-6
    assert result["final_grad_norm"] == pytest.approx(math.hypot(*expected), rel=rel)


@pytest.mark.parametrize("dtype, tol", [("float32", 1e-6), ("float64", 1e-12)])
def test_tensorflow_demo_sgd_on_2x2_plus_x_plus_3(store, dtype, tol):
    run, result = result_of(store, "objective=expr", "objective.expr='2*x**2 + x + 3'",
                            "objective.x0=[1.0]", "optimizer=sgd", "optimizer.lr=0.01",
                            "steps=1000", f"dtype={dtype}")
    assert result["x_final"][0] == pytest.approx(-0.25, abs=tol)      # TF: -0.24999982
    assert result["final_loss"] == pytest.approx(2.875, abs=tol)      # TF: y = 2.875
    assert run.data.params["objective.expr"] == "2*x**2 + x + 3"


def test_tensorflow_demo_two_variables_reach_zero(store):
    _, result = result_of(store, "objective=expr", "objective.expr='a**2 + 2*b**2'",
                          "objective.x0=[1.0,1.0]", "optimizer=sgd", "optimizer.lr=0.1",
                          "steps=1000", "objective.minimum=0.0")
    # TF printed a = 4.9e-38, b = 1.9e-38 in float32; the exact iterates are 0.8^t and 0.6^t
    assert result["x_final"][0] == pytest.approx(0.8**1000, rel=1e-10)
    assert result["x_final"][1] == pytest.approx(0.6**1000, rel=1e-10)


def test_textbook_function_as_a_formula(store):
    _, result = result_of(store, "objective=expr", 'objective.expr="x[0]**2 + x[1]**2"',
                          "objective.x0=[-3.0,4.0]", "gradient=finite_diff", "gradient.h=1e-4",
                          "optimizer.lr=0.1", "steps=100")
    assert np.allclose(result["x_final"], [-6.11110793e-10, 8.14814391e-10], rtol=1e-8)


def test_gradient_check_catches_a_wrong_analytic_gradient(store):
    common = ("objective=python", "objective.function=objectives.testfunctions.booth",
              "objective.minimizer=[1.0,3.0]", "gradient=analytic", "check.every=10",
              "steps=50", "optimizer.lr=0.01")
    run, result = result_of(store, *common,
                            "objective.grad_function=tests.fixtures.wrong_gradients.booth_grad_wrong")
    history = store.history(run.info.run_id, "grad_check")
    assert [s for s, _ in history] == list(range(0, 51, 10))
    # the dropped term 8v is a large part of the gradient: the discrepancy is O(1)
    assert run.data.metrics["grad_check_max"] > 0.1
    assert result["grad_check_max"] == run.data.metrics["grad_check_max"]


def test_gradient_check_is_quiet_for_a_right_gradient(store):
    run, _ = result_of(store, "objective=python", "objective.function=objectives.testfunctions.booth",
                       "objective.minimizer=[1.0,3.0]", "gradient=analytic", "check.every=10",
                       "steps=50", "optimizer.lr=0.01",
                       "objective.grad_function=tests.fixtures.wrong_gradients.booth_grad")
    assert run.data.metrics["grad_check_max"] < 1e-14


@pytest.mark.parametrize(
    "args, message",
    [(("objective=expr", "objective.expr='abs(x[0]) + x[1]**2'", "gradient=complex_step"),
      "not holomorphic"),
     (("objective=expr", "objective.expr='__import__(\"os\")'"), "objective.expr"),
     (("objective=expr", "objective.expr='x.__class__'"), "attribute"),
     (("check.every=5", "check.reference=symbolic"), "check.reference must be one of")],
)
def test_formula_errors_are_clear(store, args, message):
    proc = store.run(*args, check=False)
    assert proc.returncode != 0 and message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not store.runs()
