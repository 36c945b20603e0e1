"""Formula objectives: the TensorFlow demo's numbers, gradient methods against autograd, safety."""

import math

import pytest
import torch
from torch.func import vmap

from objectives import Analytic, Autograd, ComplexStep, FiniteDifference, ObjectiveError
from objectives.expression import Expression
from tests.configs import optimizer

METHODS = {
    "autograd": Autograd(),
    "analytic": Analytic(),
    "central": FiniteDifference("central"),
    "complex_step": ComplexStep(),
}
# TensorFlow demo (GradientTape): d/dw exp(w) at 2 printed 7.389056; 2a² + 3b³ at (2, 3)
# gives (4a, 9b²) = (8, 81); d/dw 4**w at 2 printed 22.18071 = 16 log 4.
TF_GRADIENTS = [
    ("exp(w)", [2.0], [math.exp(2.0)]),
    ("2*a**2 + 3*b**3", [2.0, 3.0], [8.0, 81.0]),
    ("4**w", [2.0], [16 * math.log(4.0)]),
]

# (formula, options, sampling interval inside the formula's domain)
FORMULAS = [
    ("2*x**2 + x + 3", {}, (-2, 2)),
    ("2*a**2 + 3*b**3", {}, (-2, 2)),
    ("exp(w)", {}, (-2, 2)),
    ("4**w", {}, (-2, 2)),
    ("x[0]**2 + 4*x[1]**2", {}, (-2, 2)),
    ("sum(x**2)", {"dim": 5}, (-2, 2)),
    ("log(1 + x[0]**2) + sin(x[1])*cos(x[2])", {}, (-3, 3)),
    ("tanh(a*b) + sqrt(a**2 + b**2 + 1)", {}, (-2, 2)),
    ("sin(x)/x", {}, (0.5, 3)),
    ("abs(x[0]) + abs(x[1] - 1)", {}, (-2, 2)),
    ("log10(x) + log2(y)", {}, (0.5, 3)),
    ("arctan(x) + asin(y/2) + acos(z/2) + arcsin(z/3) + atan(y)", {}, (-1, 1)),
    ("sinh(x) - cosh(y) + tan(z)", {}, (-1, 1)),
    ("(x[0] - 1)**2 + 100*(x[1] - x[0]**2)**2", {}, (-2, 2)),
    ("x**y", {}, (0.5, 2)),
    ("exp(-sum(x**2)/2)", {"dim": 3}, (-2, 2)),
    ("1/(1 + exp(-(a - 2*b + c)))", {}, (-2, 2)),
    ("sqrt(sum(x**2) + 1e-3)", {"dim": 4}, (-2, 2)),
    ("pi*x**2 - e*y + 3", {}, (-2, 2)),
    ("x[0]*x[1]*x[2]*x[3]*x[4] + x[4]**-2", {}, (0.5, 2)),
    ("abs(sin(a)) * b**2", {}, (-2, 2)),
    ("-+-x + (x - 1)**3/3 - x**5", {}, (-2, 2)),
    ("log(cosh(x)) + 0.5*tanh(y)**2", {}, (-2, 2)),
    ("sum(exp(x)) - sum(x) + x[1]*x[2]", {}, (-1, 1)),
]
FORMULA_IDS = [formula for formula, _, _ in FORMULAS]
GRADIENT_TOLERANCES = {  # against autograd, relative to max(1, |∇f|)
    "analytic": (Analytic(), 1e-12),
    "central": (FiniteDifference("central"), 1e-7),
    "richardson": (FiniteDifference("richardson"), 1e-9),
    "complex_step": (ComplexStep(), 1e-13),
}


def sample(objective, interval, n=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    low, high = interval
    return low + (high - low) * torch.rand(n, objective.dim, generator=gen, dtype=torch.float64)


def assert_close(actual, expected, tol):
    scale = max(1.0, expected.abs().max().item())
    error = (actual - expected).abs().max().item()
    assert error <= tol * scale, f"max error {error:.3g} > {tol:g} × {scale:.3g}"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("method", METHODS, ids=list(METHODS))
@pytest.mark.parametrize("formula, x, expected", TF_GRADIENTS, ids=[f for f, _, _ in TF_GRADIENTS])
def test_tensorflow_demo_gradients(formula, x, expected, method, dtype):
    # central differences: h = ε^(1/3) leaves a relative error of about ε^(2/3)
    rel = {torch.float64: 1e-14, torch.float32: 1e-6}[dtype]
    if method == "central":
        rel = {torch.float64: 1e-9, torch.float32: 1e-4}[dtype]
    objective = Expression(formula, dtype=dtype)
    _, grad = METHODS[method](objective, torch.tensor(x, dtype=dtype))
    assert grad.dtype == dtype
    expected = torch.tensor(expected, dtype=torch.float64)
    torch.testing.assert_close(grad.double(), expected, rtol=rel, atol=0)


@pytest.mark.parametrize("method", ["autograd", "analytic", "complex_step"])
def test_tensorflow_demo_printed_float32(method):
    def printed(formula, digits):
        objective = Expression(formula, dtype=torch.float32)
        return f"{METHODS[method](objective, torch.tensor([2.0]))[1].item():.{digits}f}"

    assert printed("exp(w)", 6) == "7.389056"
    assert printed("4**w", 5) == "22.18071"


@pytest.mark.parametrize("method", ["autograd", "analytic"])
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_sgd_on_tensorflow_parabola(method, dtype, tol):
    # TF demo: 1000 SGD steps at lr 0.01 on y = 2x² + x + 3 from x = 1 end at
    # x* = −1/4, y* = 23/8
    objective = Expression("2*x**2 + x + 3", x0=[1.0], dtype=dtype)
    x = final_point(objective, METHODS[method], lr=0.01, steps=1000)
    assert abs(x.item() + 0.25) < tol
    assert abs(objective.value(x).item() - 2.875) < tol


def test_sgd_on_two_variable_bowl():
    objective = Expression("a**2 + 2*b**2", x0=[1.0, 1.0])
    x = final_point(objective, Analytic(), lr=0.1, steps=1000)
    assert objective.value(x).item() < 1e-30


def final_point(objective, method, *, lr, steps):
    sgd = optimizer("sgd", lr=lr)
    x = objective.initial_point()
    state = sgd.init(x)
    for _ in range(steps):
        _, grad = method(objective, x)
        x, state = sgd.update(grad, state, x)
    return x


@pytest.mark.parametrize("method", GRADIENT_TOLERANCES, ids=list(GRADIENT_TOLERANCES))
@pytest.mark.parametrize("formula, options, interval", FORMULAS, ids=FORMULA_IDS)
def test_gradient_methods_agree_with_autograd(formula, options, interval, method):
    objective = Expression(formula, **options)
    gradient, tol = GRADIENT_TOLERANCES[method]
    if method == "complex_step" and not objective.supports_complex:
        pytest.skip("abs is not holomorphic, so the complex step does not apply")
    x = sample(objective, interval)
    value, expected = Autograd()(objective, x)
    got_value, got = gradient(objective, x)
    assert got.shape == x.shape
    assert_close(got_value, value, 1e-15)
    assert_close(got, expected, tol)


@pytest.mark.parametrize("formula, options, interval", FORMULAS, ids=FORMULA_IDS)
def test_gradcheck(formula, options, interval):
    objective = Expression(formula, **options)
    x = sample(objective, interval, n=3).requires_grad_(True)
    assert torch.autograd.gradcheck(objective.value, (x,))


def test_vmap_matches_loop_and_batch():
    objective = Expression("log(1 + x[0]**2) + sin(x[1])*cos(x[2]) + 3*x[0]")
    x = sample(objective, (-3, 3), n=1000)
    looped = torch.stack([objective.value(point) for point in x])
    torch.testing.assert_close(vmap(objective.value)(x), looped, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(objective.value(x), looped, rtol=1e-14, atol=1e-14)
    grads = torch.stack([objective.grad(point) for point in x])
    torch.testing.assert_close(vmap(objective.grad)(x), grads, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(objective.grad(x), grads, rtol=1e-14, atol=1e-14)


def test_named_variables_in_order_of_appearance():
    assert Expression("2*a**2 + 3*b**3").variables == ("a", "b")
    assert Expression("b + 2*a + b*c").variables == ("b", "a", "c")
    assert Expression("b + a", variables=["a", "b", "c"]).variables == ("a", "b", "c")
    assert Expression("e*x + pi").variables == ("x",)  # e and pi are constants
    objective = Expression("3*x + y**2", dtype=torch.float32)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    torch.testing.assert_close(objective.grad(x), torch.tensor([[3.0, 4.0], [3.0, -2.0]]))


def test_indexed_dimension_from_indices_x0_and_dim():
    assert Expression("x[0]**2 + x[2]").dim == 3
    objective = Expression("x[0]**2", x0=[1.0, 2.0, 3.0])
    assert objective.dim == 3
    assert objective.grad(objective.x0).tolist() == [2.0, 0.0, 0.0]
    assert Expression("sum(x**2)", dim=4).value(torch.ones(4)).item() == 4.0
    assert Expression("sum(x)", x0=[1.0, 2.0]).variables == ("x[0]", "x[1]")
    with pytest.raises(ObjectiveError, match="x0 has 2 value"):
        Expression("x[2]", x0=[1.0, 2.0])
    with pytest.raises(ObjectiveError, match="dim is 2 but the formula has 3"):
        Expression("x[2]", dim=2)


def test_multiline_formula_from_yaml():
    assert Expression("2*x**2\n  + x\n  + 3").value(torch.tensor([1.0])).item() == 6.0


def test_known_optimum():
    objective = Expression("(x - 1)**2 + (y + 2)**2 + 3", minimizer=[1.0, -2.0])
    assert objective.minimum == 3.0
    assert objective.minimizer.tolist() == [1.0, -2.0]
    assert Expression("x**2", minimum=0.0).minimum == 0.0
    with pytest.raises(ObjectiveError, match="minimum is 2.0 but f"):
        Expression("(x - 1)**2 + 3", minimizer=[1.0], minimum=2.0)
    with pytest.raises(ObjectiveError, match="minimizer has 1 value"):
        Expression("x**2 + y**2", minimizer=[0.0])


def test_abs_is_not_complex_differentiable():
    assert Expression("x**2 + y").supports_complex
    objective = Expression("abs(x) + y")
    assert not objective.supports_complex
    with pytest.raises(ObjectiveError, match="not holomorphic"):
        ComplexStep().check(objective)
    assert Analytic()(objective, torch.tensor([-2.0, 1.0]))[1].tolist() == [-1.0, 1.0]


@pytest.mark.parametrize(
    "formula, match",
    [
        ("x.__class__", r"attribute access \(x.__class__\) is not allowed"),
        ("(lambda: 1)()", r"lambda \(lambda: 1\) is not allowed"),
        ("[i for i in x]", r"comprehension \(\[i for i in x\]\) is not allowed"),
        ("open('f')", r"function open\(\) is not allowed"),
        ("eval('1')", r"function eval\(\) is not allowed"),
        ("x + foo(x)", r"function foo\(\) is not allowed"),
        ("__class__ + x", r"name \(__class__\) is not allowed"),
        ("x + 'abc'", r"constant \('abc'\) is not allowed"),
        ("x + 1j", r"constant \(1j\) is not allowed"),
        ("exp(x, base=2)", r"keyword argument \(base=2\) is not allowed"),
        ("sin(x, y)", r"sin\(\) takes 1 argument, got 2"),
        ("x ^ 2", r"operator BitXor \(x \^ 2\) is not allowed; use \*\* for powers"),
        ("x < 1", r"comparison \(x < 1\) is not allowed"),
        ("y[0] + x[1]", r"only x can be indexed"),
        ("x[-1]", r"index \(x\[-1\]\) is not allowed"),
        ("a + x[0]", r"mixes the vector x .* with named variables \(a\)"),
        ("sum(a)", r"mixes the vector x"),
        ("x" * 100_001, r"has 100001 characters; the limit is 100000"),
        ("(" * 10_000 + "x" + ")" * 10_000, r"nests brackets 10000 deep"),
        ("(" * 60 + "x" + ")" * 60, r"nests brackets 60 deep"),
        ("**".join(["x"] * 60), r"nests calls and powers"),
        ("9**9**9**9", r"9\*\*9\*\*9 is not a finite real number"),
        ("x * 9**9**9**9", r"is not a finite real number"),
        ("x + 1/0", r"1/0 divides by zero"),
        ("x + sqrt(-1)", r"sqrt\(-1\) is not a finite real number"),
        ("1 + 2", r"does not depend on any variable"),
        ("sum(x**2)", r"length of x is unknown; give x0 or dim"),
        ("exp + x", r"exp is a function; call it as exp\(...\)"),
        ("x +", r"invalid syntax"),
        ("import os", r"invalid syntax"),
    ],
)
def test_bad_formulas_are_rejected_with_short_messages(formula, match):
    with pytest.raises(ObjectiveError, match=match) as info:
        Expression(formula)
    message = str(info.value)
    assert message.startswith("objective.") and len(message) <= 200


def test_injection_has_no_side_effect(tmp_path):
    target = tmp_path / "pwned"
    with pytest.raises(ObjectiveError, match="attribute access .* is not allowed"):
        Expression(f"__import__('os').system('touch {target}')")
    assert not target.exists()


def test_bad_variables():
    with pytest.raises(ObjectiveError, match="uses c, which objective.variables \\(a, b\\)"):
        Expression("a + c", variables=["a", "b"])
    with pytest.raises(ObjectiveError, match="'exp' is not a usable variable name"):
        Expression("a", variables=["a", "exp"])
    with pytest.raises(ObjectiveError, match="lists a name twice"):
        Expression("a", variables=["a", "a"])
    with pytest.raises(ObjectiveError, match="variables is for named variables"):
        Expression("x[0]", variables=["a"])


# ---- issue 14: analytic gradients exact wherever f is differentiable

@pytest.mark.parametrize(
    "formula, x, expected",
    [("(x[0]*x[1])**2", [0.0, 1.0], [0.0, 0.0]),  # 2·x₀x₁², 2·x₀²x₁
     ("(-x[0])**2", [0.0], [0.0]),
     ("(x[0]**2)**2", [0.0], [0.0]),
     ("(x[0]*x[1])**1.5", [0.0, 1.0], [0.0, 0.0]),  # 1.5·(x₀x₁)^0.5·(x₁, x₀)
     ("(-x[0]*x[1])**3 + x[1]", [0.0, 2.0], [0.0, 1.0]),
     ("(x[0]**2*x[1])**2.5", [0.0, -1.0], [0.0, 0.0])],
)
def test_powers_of_zero_products_have_exact_gradients(formula, x, expected):
    # SymPy's own derivative of uᶜ is c·uᶜ·u′/u: 0·∞ = NaN at u = 0
    objective = Expression(formula)
    _, grad = Analytic()(objective, torch.tensor(x, dtype=torch.float64))
    assert grad.tolist() == expected


def random_formula(rng, depth=0):
    """A formula over x[0..2] made of what broke SymPy's derivatives: zero factors, negated
    bases, nested and fractional powers, products, sums over ranges, and a few functions."""
    if depth >= 3 or rng.random() < 0.2:
        return rng.choice(["x[0]", "x[1]", "x[2]", "-x[0]", "-x[1]", "(x[0] - x[1])",
                           str(rng.randint(1, 3))])
    a, b = random_formula(rng, depth + 1), random_formula(rng, depth + 1)
    i = "ijk"[depth]
    return rng.choice([
        f"({a})*({b})",
        f"({a})**{rng.choice([2, 3, 4, 2.0, 1.5, 2.5, 3.5])}",
        f"(-({a}))**{rng.choice([2, 3, 4])}",
        f"(({a})**2)**{rng.choice([2, 1.5, 3])}",
        f"({a}) + ({b})",
        f"({a}) - ({b})",
        f"{rng.choice(['exp', 'sin', 'cos', 'tanh', 'atan'])}({a})",
        f"prod(({a})*x[{i}] for {i} in range(3))",
        f"sum(x[{i}]*({a})**2 for {i} in range(3))",
        f"where({a} > 0, ({a})**2, x[2]*({a}))",
        f"abs({a})*({b})",
    ])


def test_analytic_gradients_match_autograd_at_zero_coordinates():
    import random

    rng = random.Random(14)
    formulas = set()
    while len(formulas) < 600:
        formulas.add(random_formula(rng))
    points = torch.tensor([[0.0, 1.0, -1.0], [0.0, 0.0, 2.0], [1.0, 0.0, 0.0],
                           [-1.0, 0.0, 0.5], [0.0, -0.5, 0.0], [0.0, 0.0, 0.0]],
                          dtype=torch.float64)
    built = compared = 0
    for formula in sorted(formulas):
        try:
            objective = Expression(formula, dim=3)
        except ObjectiveError as err:  # constant formulas, such as where(2 > 0, 4, 2*x[2])*0
            assert "does not depend on any variable" in str(err)
            continue
        built += 1
        _, expected = Autograd()(objective, points)
        _, got = Analytic()(objective, points)
        for g, e, x in zip(got, expected, points):
            if torch.isfinite(e).all():  # where autograd is finite, analytic must agree
                compared += 1
                scale = max(1.0, e.abs().max().item())
                assert (g - e).abs().max().item() <= 1e-12 * scale, (formula, x.tolist(), g, e)
    assert built >= 500 and compared >= 2500
