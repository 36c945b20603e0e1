"""Objectives and gradient methods against the demos' printed numbers and independent references."""

import numpy as np
import pytest
import torch
from torch.func import vmap

from objectives import (
    Analytic,
    Autograd,
    ComplexStep,
    FiniteDifference,
    LinearRegression,
    ObjectiveError,
    Quadratic,
    Rosenbrock,
    SoftmaxClassifier,
)
from objectives.gradients import default_step

# Flux/Zygote demo (seeds/000): x0 = randn(2) with seed 1, then ten steps of x - 0.1 ∇f.
FLUX_X0 = [0.2972879845354616, 0.3823959677906078]
FLUX_ITERATES = [
    [0.05945759690709232, 0.30591677423248625],
    [0.011891519381418462, 0.244733419385989],
    [0.0023783038762836915, 0.1957867355087912],
    [0.0004756607752567383, 0.15662938840703294],
    [9.513215505134763e-5, 0.12530351072562634],
    [1.9026431010269525e-5, 0.10024280858050108],
    [3.8052862020539047e-6, 0.08019424686440087],
    [7.610572404107806e-7, 0.06415539749152069],
    [1.5221144808215608e-7, 0.05132431799321655],
    [3.044228961643121e-8, 0.041059454394573244],
]
# Textbook (seeds/003): simpleNet's printed W, its loss and numerical dW.
SIMPLENET_W = [[0.42875037, -1.09670346, 0.24866542], [-2.38228839, 0.47330153, -0.20017261]]
SIMPLENET_LOSS = 0.6801400453747255
SIMPLENET_DW = [[0.0475098, 0.24856257, -0.29607237], [0.0712647, 0.37284386, -0.44410856]]

METHODS = {
    "autograd": Autograd(),
    "analytic": Analytic(),
    "central": FiniteDifference("central"),
    "complex_step": ComplexStep(),
}


def descend(objective, method, x0, lr, steps):
    x = torch.as_tensor(x0, dtype=torch.float64)
    path = []
    for _ in range(steps):
        x = x - lr * method(objective, x)[1]
        path.append(x)
    return torch.stack(path)


@pytest.mark.parametrize(
    "method, tol",
    [(Analytic(), 1e-15), (Autograd(), 1e-15), (FiniteDifference("central"), 1e-8)],
    ids=["analytic", "autograd", "central"],
)
def test_flux_demo_iterates(method, tol):
    path = descend(Quadratic(diag=[4.0, 1.0]), method, FLUX_X0, 0.1, 10)
    assert torch.allclose(path, torch.tensor(FLUX_ITERATES, dtype=torch.float64), rtol=0, atol=tol)


@pytest.mark.parametrize(
    "point, expected", [([3.0, 4.0], [6.0, 8.0]), ([0.0, 2.0], [0.0, 4.0]), ([3.0, 0.0], [6.0, 0.0])]
)
def test_textbook_numerical_gradient(point, expected):
    _, g = FiniteDifference("central", h=1e-4)(Quadratic(dim=2), torch.tensor(point, dtype=torch.float64))
    assert torch.allclose(g, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-9)


def test_textbook_descent_and_its_mutation_bug():
    quad, fd = Quadratic(dim=2), FiniteDifference("central", h=1e-4)
    end = descend(quad, fd, [-3.0, 4.0], 0.1, 100)[-1]
    assert np.allclose(end.numpy(), [-6.11110793e-10, 8.14814391e-10], rtol=1e-8, atol=0)
    # The demo's gradient_descent overwrote init_x, so its lr=10 run started from `end`; its
    # finite differences then stall where (x+h)² and (x−h)² round to the same number.
    blown = descend(quad, fd, end, 10.0, 100)[-1]
    assert np.allclose(blown.numpy(), [2.34235971e12, -3.96091057e12], rtol=1e-8, atol=0)


def simplenet():
    return SoftmaxClassifier(x0=[w for row in SIMPLENET_W for w in row])


def test_simplenet_loss_and_numerical_gradient():
    net = simplenet()
    x = net.initial_point()
    # W is printed to 8 digits, so the loss agrees to about that many.
    assert net.value(x).item() == pytest.approx(SIMPLENET_LOSS, abs=1e-8)
    _, dW = FiniteDifference("central", h=1e-4)(net, x)
    assert np.allclose(dW.reshape(2, 3).numpy(), SIMPLENET_DW, rtol=0, atol=1e-8)


def objectives_f64():
    return {
        "quad": Quadratic(diag=[4.0, 1.0]),
        "quad_b": Quadratic(A=[[3.0, 1.0], [1.0, 2.0]], b=[1.0, -2.0]),
        "quad_cond": Quadratic(dim=8, cond=1e3, seed=1),
        "rosenbrock": Rosenbrock(dim=6),
        "linreg_norm": LinearRegression(loss="norm"),
        "linreg_mse": LinearRegression(loss="mse", n=50, seed=3),
        "softmax": SoftmaxClassifier(inputs=[[0.6, 0.9], [1.0, -0.5], [0.2, 0.3]], labels=[2, 0, 1]),
    }


@pytest.mark.parametrize("name", list(objectives_f64()))
def test_gradient_methods_agree(name):
    objective = objectives_f64()[name]
    x = torch.randn(16, objective.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    value, reference = Autograd()(objective, x)
    scale = reference.abs().amax(-1, keepdim=True).clamp_min(1.0)
    for method, rtol in [(Analytic(), 1e-12), (ComplexStep(), 1e-13),
                         (FiniteDifference("central"), 1e-7), (FiniteDifference("richardson"), 1e-9),
                         (FiniteDifference("forward"), 1e-5)]:
        v, g = method(objective, x)
        assert torch.allclose(v, value, rtol=1e-15, atol=0), method.name
        assert ((g - reference).abs() / scale).max() < rtol, (method.name, getattr(method, "scheme", ""))


@pytest.mark.parametrize("name", list(objectives_f64()))
def test_value_passes_gradcheck(name):
    objective = objectives_f64()[name]
    x = torch.randn(3, objective.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert torch.autograd.gradcheck(lambda p: objective.value(p), (x.requires_grad_(),))


@pytest.mark.parametrize("name", list(objectives_f64()))
def test_vmap_over_1000_points_equals_loop(name):
    objective = objectives_f64()[name]
    x = torch.randn(1000, objective.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    looped = torch.stack([objective.value(p) for p in x])
    assert torch.equal(vmap(objective.value)(x), looped)
    assert torch.allclose(objective.value(x), looped, rtol=1e-14, atol=0)
    grads = vmap(torch.func.grad(objective.value))(x)
    looped_grads = torch.stack([Autograd()(objective, p)[1] for p in x])
    assert torch.allclose(grads, looped_grads, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("name", list(objectives_f64()))
def test_float32(name):
    objective = type(objectives_f64()[name])(dtype=torch.float32)
    x = torch.randn(4, objective.dim, generator=torch.Generator().manual_seed(3))
    for method in METHODS.values():
        value, grad = method(objective, x)
        assert value.dtype == grad.dtype == torch.float32
        assert torch.isfinite(grad).all()


def test_known_minima():
    for objective in objectives_f64().values():
        if objective.minimizer is None:
            continue
        _, g = Autograd()(objective, objective.minimizer)
        assert g.abs().max() < 1e-9, objective.name
        assert objective.value(objective.minimizer).item() == pytest.approx(objective.minimum, abs=1e-12)
    assert torch.equal(Rosenbrock(dim=4).minimizer, torch.ones(4, dtype=torch.float64))
    # least squares from numpy as the independent reference
    reg = LinearRegression(n=40, seed=5)
    slope, intercept = np.polyfit(reg.x_data.numpy(), reg.y_data.numpy(), 1)
    assert np.allclose(reg.minimizer.numpy(), [slope, intercept], rtol=1e-10)
    assert Quadratic(A=[[2.0, 0.0], [0.0, 0.5]], b=[4.0, 1.0]).minimizer.tolist() == [1.0, 1.0]


def test_generated_quadratic_has_the_asked_condition_number():
    quad = Quadratic(dim=20, cond=1e4, seed=3)
    eig = np.linalg.eigvalsh(quad.A.numpy())
    assert eig.max() / eig.min() == pytest.approx(1e4, rel=1e-8)


def test_default_step_follows_dtype():
    assert default_step(torch.float64, "central") == pytest.approx(6.06e-6, rel=1e-2)
    assert default_step(torch.float64, "forward") == pytest.approx(1.49e-8, rel=1e-2)
    assert default_step(torch.float32, "central") == pytest.approx(4.92e-3, rel=1e-2)


def test_starting_point_from_seed_or_config():
    quad = Quadratic(dim=3)
    assert torch.equal(quad.initial_point(4), quad.initial_point(4))
    assert not torch.equal(quad.initial_point(4), quad.initial_point(5))
    given = Quadratic(dim=3, x0=[1.0, 2.0, 3.0])
    x = given.initial_point(9)
    x += 1  # the caller's copy, never the objective's own
    assert given.initial_point().tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Quadratic(x0=[1.0, 2.0, 3.0]), "x0 has 3 value.*2-dimensional"),
        (lambda: Quadratic(A=[[1.0, 0.0], [0.0, -1.0]]), "positive semidefinite"),
        (lambda: Quadratic(A=[[1.0, 2.0], [0.0, 1.0]]), "symmetric"),
        (lambda: Quadratic(A=[[1.0, 0.0], [0.0, 0.0]], b=[1.0, 1.0]), "positive definite"),
        (lambda: Quadratic(dim=3, cond=0.5), "cond must be >= 1"),
        (lambda: Rosenbrock(dim=1), "dim must be >= 2"),
        (lambda: LinearRegression(loss="l1"), "loss must be one of"),
        (lambda: SoftmaxClassifier(labels=[5]), "labels must lie in"),
        (lambda: FiniteDifference(h=0.0), "h must be > 0"),
        (lambda: FiniteDifference(h=-1e-3), "h must be > 0"),
        (lambda: FiniteDifference(scheme="sideways"), "scheme must be one of"),
        (lambda: Rosenbrock(x0=[float("nan"), 1.0]), "must be finite"),
    ],
)
def test_bad_input_is_a_clear_error(build, message):
    with pytest.raises(ObjectiveError, match=message):
        build()


def test_analytic_on_objective_without_one_names_those_that_have_it():
    from runner.build import check_gradient

    class Blackbox(Quadratic):
        name = "blackbox"
        has_analytic_grad = False

    with pytest.raises(ObjectiveError, match="has no closed-form gradient.*quad.*rosenbrock"):
        check_gradient(Analytic(), Blackbox())


def test_python_objective_takes_the_optimum_of_the_function_it_is_given():
    """conf/objective/python.yaml with another `function`: the optimum is that function's
    (Jamil & Yang's minima), never the default function's."""
    from runner.build import instantiate_node
    from runner.config import option

    def built(**values):
        return instantiate_node({**option("objective", "python"), **values}, "objective")

    beale = built()
    assert beale.minimum == 0.0 and beale.minimizer.tolist() == [3.0, 0.5]
    himmelblau = built(function="objectives.testfunctions.himmelblau")
    assert himmelblau.minimum == 0.0 and himmelblau.minimizer is None  # four global minima
    assert himmelblau.value(torch.tensor([3.0, 2.0], dtype=torch.float64)).item() == 0.0
    booth = built(function="objectives.testfunctions.booth", minimizer=[1.0, 3.0], minimum=0.0)
    assert booth.value(booth.minimizer).item() == 0.0
    own = built(function="tests.fixtures.fragile.fragile")  # a function without attributes
    assert own.minimum is None and own.minimizer is None
