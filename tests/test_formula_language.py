"""The formula language of issue 14: atan2, where and comparisons, sums and products over
index ranges, constants and data from the config, formulas from files, and its limits.

Expected values come from plain Python (math, loops) or torch written out by hand.
"""

from __future__ import annotations

import math
import time

import pytest
import torch

from objectives import Analytic, Autograd, ComplexStep, FiniteDifference, ObjectiveError
from objectives.expression import Expression

POINTS = torch.tensor([[0.5, -1.5, 2.0], [-2.0, 0.25, -0.75], [1.0, 1.0, 0.0],
                       [-0.5, -0.5, 3.0]], dtype=torch.float64)


def value_at(objective, x):
    return [objective.value(torch.tensor(p, dtype=torch.float64)).item() for p in x]


def test_atan2_takes_the_quadrant_into_account():
    objective = Expression("atan2(x[1], x[0])")
    points = [[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-2.0, 0.0]]
    assert value_at(objective, points) == [math.atan2(y, x) for x, y in points]
    x = torch.tensor([[3.0, 4.0], [-1.0, -2.0]], dtype=torch.float64)
    # ∂/∂x atan2(y, x) = −y/(x² + y²), ∂/∂y = x/(x² + y²)
    expected = torch.stack([-x[:, 1], x[:, 0]], dim=-1) / (x**2).sum(-1, keepdim=True)
    torch.testing.assert_close(Analytic()(objective, x)[1], expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize(
    "formula, python",
    [("where(x[0] < x[1], x[0], x[1])", lambda a, b, c: min(a, b)),
     ("where(x[0] <= 0.5, 1, 2)*x[1]", lambda a, b, c: (1 if a <= 0.5 else 2) * b),
     ("where(x[0] > 0, x[0]**2, -x[0]**3) + x[2]", lambda a, b, c: (a**2 if a > 0 else -a**3) + c),
     ("where(x[2] >= 2, x[0], x[1])", lambda a, b, c: a if c >= 2 else b),
     ("where(x[0] == x[1], 1, x[2])", lambda a, b, c: 1 if a == b else c),
     ("where(x[0] != x[1], x[2], 5)", lambda a, b, c: c if a != b else 5),
     ("where(-1 < x[0] < 1, x[0], 0) + x[1]", lambda a, b, c: (a if -1 < a < 1 else 0) + b),
     ("where(x[0] > 0 and x[1] > 0, x[2], 0) + x[0]", lambda a, b, c: (c if a > 0 and b > 0 else 0) + a),
     ("where(x[0] > 0 or x[1] > 0, x[2], 0) + x[0]", lambda a, b, c: (c if a > 0 or b > 0 else 0) + a),
     ("where(not x[2] > 1, x[0], x[1])", lambda a, b, c: a if not c > 1 else b)],
)
def test_where_and_comparisons(formula, python):
    objective = Expression(formula, dim=3)
    assert value_at(objective, POINTS.tolist()) == [python(*p) for p in POINTS.tolist()]
    # the derivative is the derivative of the branch taken, as autograd's
    torch.testing.assert_close(Analytic()(objective, POINTS)[1], Autograd()(objective, POINTS)[1],
                               rtol=1e-15, atol=0)


@pytest.mark.parametrize("formula", ["where(x[0] > 0, x[0], -x[0])", "atan2(x[1], x[0])",
                                     "abs(x[0]) + x[1]"])
def test_complex_step_refuses_what_is_not_holomorphic(formula):
    objective = Expression(formula, dim=2)
    assert not objective.supports_complex
    with pytest.raises(ObjectiveError, match="gradient=complex_step: .* not holomorphic"):
        ComplexStep().check(objective)
    FiniteDifference().check(objective)  # the others still apply


def test_sums_and_products_over_ranges():
    x = [0.5, -1.5, 2.0, 3.0]
    cases = {
        "sum(i*x[i-1] for i in range(1, 5))": sum(i * x[i - 1] for i in range(1, 5)),
        "prod(x[i] + 1 for i in range(4))": math.prod(v + 1 for v in x),
        "sum(x[i]**2 for i in range(0, 4, 2))": x[0] ** 2 + x[2] ** 2,
        "sum(x[3 - i] * 10**i for i in range(4))": sum(x[3 - i] * 10**i for i in range(4)),
        "sum(x[i]*x[j] for i in range(4) for j in range(i))":
            sum(x[i] * x[j] for i in range(4) for j in range(i)),
        "sum(sum(x[j] for j in range(i + 1)) for i in range(4))":
            sum(sum(x[: i + 1]) for i in range(4)),
        "sum(x[i // 2] + x[i % 4] for i in range(7))":
            sum(x[i // 2] + x[i % 4] for i in range(7)),
        "sum(x**2) + prod(x)": sum(v**2 for v in x) + math.prod(x),
        "sum(x[i] for i in range(0)) + x[3]": x[3],
    }
    for formula, expected in cases.items():
        objective = Expression(formula, dim=4)
        assert objective.value(torch.tensor(x, dtype=torch.float64)).item() == pytest.approx(
            expected, rel=1e-15), formula


def test_constants_and_data_from_the_config():
    # Bard-like: y[i] − (x₀ + i/(v·x₁ + w·x₂)), with m, y and t given apart from the formula
    y, t = [0.14, 0.18, 0.22, 0.25], [1.0, 2.0, 3.0, 4.0]
    objective = Expression("sum((y[i] - x[0]*exp(-x[1]*t[i]))**2 for i in range(m)) + c*x[2]",
                           constants={"m": 4, "c": 0.5}, data={"y": y, "t": t})
    assert objective.dim == 3
    point = [1.0, 0.3, 2.0]
    expected = sum((y[i] - math.exp(-0.3 * t[i])) ** 2 for i in range(4)) + 1.0
    assert objective.value(torch.tensor(point, dtype=torch.float64)).item() == pytest.approx(
        expected, rel=1e-15)
    # named variables with constants and a data vector used whole
    named = Expression("sum((a*t - y)**2) + k", constants={"k": 2}, data={"y": y, "t": t})
    assert named.variables == ("a",)
    assert named.value(torch.tensor([0.1], dtype=torch.float64)).item() == pytest.approx(
        sum((0.1 * ti - yi) ** 2 for ti, yi in zip(t, y)) + 2, rel=1e-15)


def test_a_formula_file(tmp_path):
    path = tmp_path / "rosenbrock.txt"
    path.write_text("# Rosenbrock, MGH problem 1\n"
                    "(10*(x[1] - x[0]**2))**2   # f1 = 10(x2 - x1^2)\n"
                    "  + (1 - x[0])**2           # f2 = 1 - x1\n")
    objective = Expression(file=str(path), x0=[-1.2, 1.0])
    assert objective.expr == "(10*(x[1] - x[0]**2))**2 + (1 - x[0])**2"
    assert objective.value(objective.x0).item() == pytest.approx(24.2, rel=1e-15)
    # the file replaces the expr a config default may hold
    assert Expression("x[0]", file=str(path)).dim == 2
    with pytest.raises(ObjectiveError, match="objective.file: cannot read .*missing.txt"):
        Expression(file=str(tmp_path / "missing.txt"))


def test_long_formulas_are_limited_by_nodes_not_characters():
    written_out = " + ".join(f"{k + 1}*x[{k}]**2" for k in range(300))  # 3,000+ characters
    objective = Expression(written_out)
    assert objective.value(torch.ones(300, dtype=torch.float64)).item() == 300 * 301 / 2
    assert Expression("sum(x[i % 7]*i for i in range(6000))").dim == 7  # 18,000 nodes
    with pytest.raises(ObjectiveError, match="20000 nodes"):
        Expression("sum(x[i % 7]*i for i in range(7000))")


@pytest.mark.parametrize("formula", ["sum(x[0] for i in range(10**9))",
                                     "sum(x[i] for i in range(1000000000000))",
                                     "sum(sum(x[0] for j in range(10**5)) for i in range(10**5))",
                                     "prod(x[0] + i for i in range(2**62))"])
def test_huge_loops_are_refused_before_they_start(formula):
    start = time.perf_counter()
    with pytest.raises(ObjectiveError, match="steps; expanded, the formula would pass"):
        Expression(formula, dim=1)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "formula, options, match",
    [("sum(x[i] for i in range(3) if i)", {}, r"without if"),
     ("sum(x[i] for i in open('f'))", {}, r"loop .* is not allowed; loop over range"),
     ("sum(x[i] for i in range(stop=3))", {}, r"loop .* is not allowed"),
     ("sum(__import__('os') for i in range(1))", {}, r"function __import__\(\) is not allowed"),
     ("where(x.__class__ > 0, 1, 2)", {}, r"attribute access"),
     ("where(x[0], 1, 2)", {}, r"where\(\) needs a comparison"),
     ("x[0] if x[0] > 0 else 1", {}, r"if-else"),
     ("(i for i in range(3))", {}, r"comprehension"),
     ("x[0] + range(3)", {}, r"function range\(\) is not allowed"),
     ("x[0:2]", {}, r"index .* is not allowed"),
     ("x[0.5]", {}, r"index .* is not allowed"),
     ("x[i]", {}, r"mixes the vector x .* with named variables \(i\)"),
     ("x[y[0]]", {"data": {"y": [1]}}, r"index .* is not allowed"),
     ("sum(x[0]*x for x in range(3))", {}, r"x cannot be a loop variable"),
     ("sum(sum(x[i] for i in range(2)) for i in range(2))", {}, r"i cannot be a loop variable"),
     ("i + sum(x[i] for i in range(2))", {}, r"i is used outside the loop"),
     ("y[3] + x[0]", {"data": {"y": [1, 2, 3]}}, r"y\[3\] is out of range: objective.data.y has 3"),
     ("x[0] // x[1]", {}, r"takes numbers only"),
     ("x[m]", {"constants": {"m": 1.5}}, r"m is not a whole number"),
     ("x[0]", {"constants": {"exp": 1}}, r"'exp' is not a usable name"),
     ("x[0]", {"constants": {"__class__": 1}}, r"'__class__' is not a usable name"),
     ("x[0]", {"constants": {"m": [1, 2]}}, r"constants.m must be a finite number.*objective.data"),
     ("x[0]", {"constants": {"m": "import os"}}, r"constants.m must be a finite number"),
     ("x[0]", {"data": {"y": "abc"}}, r"data.y must be a list"),
     ("x[0]", {"data": {"y": [1, "a"]}}, r"data.y must hold finite numbers"),
     ("x[0]", {"constants": {"y": 1}, "data": {"y": [1]}}, r"both define y"),
     ("x[2**70]", {}, r"not a whole number in range"),
     ("sum(x[i] for i in range(0, 3, 0))", {}, r"has a step of 0")],
)
def test_the_new_constructs_stay_inside_the_whitelist(formula, options, match):
    with pytest.raises(ObjectiveError, match=match) as info:
        Expression(formula, **options)
    assert str(info.value).startswith("objective.") and len(str(info.value)) <= 200


def test_the_text_never_reaches_eval_exec_or_sympify(monkeypatch):
    import builtins

    import sympy

    def refuse(*args, **kwargs):
        raise AssertionError("the formula text reached an evaluator")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    monkeypatch.setattr(sympy, "sympify", refuse)
    monkeypatch.setattr(sympy, "parse_expr", refuse, raising=False)
    objective = Expression("sum((y[i] - x[0]*exp(-x[1]*i))**2 for i in range(m))"
                           " + where(x[0] > 0, atan2(x[1], x[0]), 0)",
                           constants={"m": 3}, data={"y": [1.0, 2.0, 3.0]})
    Analytic()(objective, torch.tensor([1.0, 2.0], dtype=torch.float64))
