"""Objectives fitted to data and stochastic gradients (objectives.learning, .sampling), each
against a reference outside the code: NumPy's and scikit-learn's solvers, torch's gradcheck,
central differences, statistics of many draws; and the accuracies and fits the issue names."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression, Ridge

from objectives import Autograd, FiniteDifference, Quadratic
from objectives.learning import MLP, LeastSquares, Logistic, SoftmaxRegression
from objectives.sampling import Minibatch, Noise
from objectives.stochastic import Noisy2D, QuadraticDeep
from runner.loop import optimize
from tests.configs import optimizer as make
from tests.configs import schedule

F64 = torch.float64


def design(objective) -> np.ndarray:
    return np.column_stack([objective.split.X_train, np.ones(objective.n_train)])


def test_least_squares_optimum_is_numpys():
    objective = LeastSquares(dataset="diabetes")
    X, y = design(objective), objective.split.y_train
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(objective.minimizer.numpy(), beta, rtol=1e-10)
    residual = X @ beta - y
    assert objective.minimum == pytest.approx(residual @ residual / len(y), rel=1e-12)
    assert objective.value(torch.as_tensor(beta)[None]).item() == pytest.approx(
        objective.minimum, rel=1e-12)


@pytest.mark.parametrize("l2", [0.01, 1.0])
def test_ridge_optimum_is_scikit_learns(l2):
    """sklearn's Ridge minimises ‖y − Xw − b‖² + α‖w‖²: the same optimum at α = n·l2."""
    objective = LeastSquares(dataset="diabetes", l2=l2)
    ridge = Ridge(alpha=objective.n_train * l2, fit_intercept=True, solver="cholesky",
                  tol=1e-14).fit(objective.split.X_train, objective.split.y_train)
    expected = np.append(ridge.coef_, ridge.intercept_)
    np.testing.assert_allclose(objective.minimizer.numpy(), expected, rtol=1e-9, atol=1e-9)
    _, grad = Autograd()(objective, objective.minimizer[None])
    assert float(grad.abs().max()) < 1e-9


@pytest.mark.parametrize("l2", [1.0, 0.01])
def test_logistic_optimum_is_scikit_learns_to_1e_10(l2):
    """benchopt's L2 logistic regression, Σ log(1 + exp(−y xᵀβ)) + λ/2‖β‖², is
    LogisticRegression(C = 1/λ, no intercept); its f* to 1e-10 relative."""
    objective = Logistic(dataset="breast_cancer", l2=l2)
    clf = LogisticRegression(C=1 / l2, fit_intercept=False, solver="newton-cg", tol=1e-14,
                             max_iter=10_000).fit(objective.split.X_train, objective.split.y_train)
    X, y = objective.split.X_train, 2.0 * objective.split.y_train - 1
    beta = clf.coef_[0]
    f_sklearn = np.logaddexp(0, -y * (X @ beta)).sum() + l2 / 2 * beta @ beta
    assert objective.minimum == pytest.approx(f_sklearn, rel=1e-10)
    assert objective.minimum <= f_sklearn * (1 + 1e-14)  # Newton's is no worse
    np.testing.assert_allclose(objective.minimizer.numpy(), beta, rtol=1e-5, atol=1e-6)


def test_mlp_gradient_passes_gradcheck_and_matches_central_differences():
    objective = MLP(dataset="iris", hidden=[5, 4], activation="tanh")
    x = torch.stack([objective.initial_point(s) for s in range(3)])
    assert torch.autograd.gradcheck(objective.value, (x.clone().requires_grad_(True),))
    _, exact = Autograd()(objective, x)
    _, central = FiniteDifference("central")(objective, x)
    assert float((central - exact).abs().max() / exact.abs().max()) < 1e-8


def test_the_cross_entropy_is_torchs():
    """An MLP's and softmax regression's per-sample loss, log Σ exp − out[y], is
    torch.nn.functional.cross_entropy's, and so is its gradient, to rounding."""
    for objective in (MLP(dataset="digits"), SoftmaxRegression(dataset="digits")):
        x = torch.stack([objective.initial_point(s) for s in range(3)]) + 0.1
        x.requires_grad_(True)
        ours = objective.sample_losses(objective.outputs(x[None], objective.X[None]),
                                       objective.y[None])[0]
        out = objective.outputs(x[None], objective.X[None])[0]
        theirs = torch.stack([torch.nn.functional.cross_entropy(o, objective.y,
                                                                reduction="none") for o in out])
        torch.testing.assert_close(ours, theirs, rtol=1e-14, atol=1e-14)
        (g_ours,) = torch.autograd.grad(ours.sum(), x)
        (g_theirs,) = torch.autograd.grad(theirs.sum(), x)
        torch.testing.assert_close(g_ours, g_theirs, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("make_objective", [lambda: MLP(dataset="digits", hidden=[32, 16]),
                                            lambda: SoftmaxRegression(dataset="wine"),
                                            lambda: Logistic(dataset="breast_cancer")])
def test_a_whole_set_evaluated_in_blocks_is_the_same_to_the_bit(monkeypatch, make_objective):
    """Without a gradient, 100 points' losses on the training and test sets go through the
    samples in blocks (learning.EVAL_BLOCK_BYTES): each point's values are those of one
    block, and those of the point alone, to rounding (the products' shapes differ)."""
    from objectives import learning

    objective = make_objective()
    x = torch.stack([objective.initial_point(s) for s in range(100)]) + 0.05
    with torch.no_grad():
        monkeypatch.setattr(learning, "EVAL_BLOCK_BYTES", 2**15)  # 10 to 40 samples a block
        blocked = objective.evaluate(x)
        monkeypatch.setattr(learning, "EVAL_BLOCK_BYTES", 2**40)
        whole = objective.evaluate(x)
        alone = objective.evaluate(x[7:8])
    for key, values in whole.items():
        torch.testing.assert_close(blocked[key], values, rtol=1e-13, atol=0)
        torch.testing.assert_close(alone[key][0], values[7], rtol=1e-13, atol=0)


def test_a_minibatch_gradient_is_unbiased():
    """At a fixed point, the mean of 4,000 minibatch gradients (batch 16 of breast_cancer's
    427 training samples) is the full gradient, within 5 standard errors per coordinate."""
    objective = Logistic(dataset="breast_cancer", l2=0.01)
    x = objective.initial_point(3)[None]
    _, full = Autograd()(objective, x)
    draws = Minibatch(16).start(objective, [7])
    grads = torch.cat([Autograd()(draws.objective(t), x)[1] for t in range(4000)])
    mean, sem = grads.mean(0), grads.std(0) / math.sqrt(len(grads))
    assert bool(((mean - full[0]).abs() <= 5 * sem).all())
    assert float(sem.max()) < 0.05 * float(full.abs().max())  # the bound is tight enough


@pytest.mark.parametrize("kind, df", [("gaussian", 5.0), ("student_t", 10.0),
                                      ("multiplicative", 5.0)])
def test_each_noise_model_has_the_mean_and_variance_it_defines(kind, df):
    """200,000 draws on a 5-coordinate gradient: mean g, variance s² (additive models, the
    Student-t scaled to unit variance) or s²g² (multiplicative), within 5 standard errors."""
    g = torch.tensor([[1.0, -2.0, 0.5, 3.0, -0.25]], dtype=F64)
    scale, n = 0.3, 200_000
    draws = Noise(kind, scale=scale, df=df).start(Quadratic(diag=[1.0] * 5), list(range(n)))
    noisy = draws.gradient(g.expand(n, 5), 0)
    mean, var = noisy.mean(0), noisy.var(0)
    expected_var = (scale * g[0]) ** 2 if kind == "multiplicative" else torch.full((5,), scale**2)
    assert bool(((mean - g[0]).abs() <= 5 * (expected_var / n).sqrt()).all())
    excess = 3 + 6 / (df - 4) if kind == "student_t" else 3  # kurtosis: the variance's spread
    var_se = expected_var * math.sqrt((excess - 1) / n)
    assert bool(((var - expected_var).abs() <= 5 * var_se).all())


def test_rows_draw_their_own_minibatches_as_they_would_alone():
    objective = Logistic(dataset="breast_cancer", l2=0.01)
    lrs = torch.tensor([[1e-3], [3e-3], [1e-3]], dtype=F64)
    x0 = torch.stack([objective.initial_point(s) for s in (0, 1, 2)])
    together = optimize(objective, Autograd(), make("sgd", lr=lrs), x0, steps=60,
                        sampling=Minibatch(8).start(objective, [0, 1, 2]), evaluate_every=20)
    for row, seed in enumerate((0, 1, 2)):
        alone = optimize(objective, Autograd(), make("sgd", lr=lrs[row:row + 1]), x0[row:row + 1],
                         steps=60, sampling=Minibatch(8).start(objective, [seed]),
                         evaluate_every=20)
        torch.testing.assert_close(together.x_final[row], alone.x_final[0], rtol=1e-12, atol=0)
        torch.testing.assert_close(together.history()["loss"][:, row],
                                   alone.history()["loss"][:, 0], rtol=1e-12, atol=0)


def test_the_memos_line_fit_is_least_squares_on_the_line_data_set():
    """objective=linreg (loss mse), the PyTorch memo's fit, is objective=least_squares on
    dataset=line: the same 100 points, so the same f everywhere and the same optimum."""
    from objectives.regression import LinearRegression

    memo = LinearRegression(loss="mse")
    fit = LeastSquares(dataset="line", n=100, noise=0.1, standardize=False)
    x = torch.randn(50, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
    assert torch.equal(fit.value(x), memo.value(x))
    torch.testing.assert_close(fit.minimizer, memo.minimizer, rtol=1e-12, atol=0)
    assert fit.minimum == pytest.approx(memo.minimum, rel=1e-12)


def test_the_memos_line_fit_with_minibatches_and_adam_reaches_the_least_squares_line():
    """y = −x + 1 + 0.1ε (the PyTorch memo's data), batches of 10, Adam with a cosine
    schedule: the fitted (a, b) is the least-squares line to 1e-3."""
    objective = LeastSquares(dataset="line", n=100, standardize=False)  # linreg's points
    optimizer = make("adam", lr=0.05, schedule=schedule("cosine", t_max=2000, eta_min=0.0))
    trace = optimize(objective, Autograd(), optimizer, torch.zeros(1, 2, dtype=F64), steps=2000,
                     sampling=Minibatch(10).start(objective, [0]), evaluate_every=100)
    X, y = design(objective), objective.split.y_train
    line = np.linalg.lstsq(X, y, rcond=None)[0]
    assert np.abs(trace.x_final[0].numpy() - line).max() < 1e-3
    assert abs(line[0] + 1) < 0.05 and abs(line[1] - 1) < 0.05  # the memo's line


@pytest.mark.parametrize("objective, optimizer, target", [
    (lambda: SoftmaxRegression(dataset="digits"), lambda: make("sgd", lr=0.1), 0.93),
    (lambda: MLP(dataset="digits", hidden=[32]), lambda: make("momentum", lr=0.05), 0.95),
])
def test_classifiers_on_digits_reach_their_test_accuracy(objective, optimizer, target):
    """Minibatch SGD, batches of 32, 10 epochs (420 steps) from the default start."""
    model = objective()
    trace = optimize(model, Autograd(), optimizer(), model.initial_point(0)[None], steps=420,
                     sampling=Minibatch(32).start(model, [0]), evaluate_every=42)
    assert float(trace.final_evals["test_accuracy"][0]) >= target


# ---------------------------------------------------------------- through the command line


@pytest.mark.slow
@pytest.mark.parametrize("grid", [
    ("objective=logistic", "objective.l2=0.01", "optimizer.lr=0.001,0.003,0.01",
     "seed=0,1,2,3", "sampling.batch_size=8,32,64"),  # 36 configurations
    ("objective=mlp", "objective.hidden=[16]", "optimizer=momentum",
     "optimizer.lr=0.01,0.03,0.05", "seed=0,1,2,3", "sampling.batch_size=16,32,64"),  # 36
], ids=["logistic-breast_cancer", "mlp-digits"])
def test_a_minibatch_sweep_matches_the_basic_launcher(tmp_path, grid):
    """Rows draw their own minibatches from their own seeds: the vectorized launcher's runs
    are the basic launcher's, histories and train/test evaluations included (1e-12)."""
    from tests.test_vectorized import VECTORIZED, assert_same_runs, twin_stores

    basic, vectorized = twin_stores(tmp_path)
    args = ("-m", *grid, "sampling=minibatch", "steps=60", "eval_every=20",
            "artifacts.plots=false")
    basic.run(*args)
    vectorized.run(*args, VECTORIZED)
    statuses = assert_same_runs(basic, vectorized, ("loss", "grad_norm", "train_loss",
                                                    "test_loss", "test_accuracy", "epoch"))
    assert len(statuses) == 36


@pytest.mark.slow
def test_a_minibatch_run_logs_its_evaluations_epochs_and_data(store):
    store.run("objective=softmax_regression", "sampling=minibatch", "sampling.batch_size=64",
              "optimizer.lr=0.1", "steps=105", "eval_every=21")
    (run,) = store.runs()
    metrics = run.data.metrics
    assert [s for s, _ in store.history(run.info.run_id, "test_accuracy")] == [0, 21, 42, 63, 84,
                                                                                105]
    epochs = dict(store.history(run.info.run_id, "epoch"))
    assert epochs[105] == 105 / (1348 // 64)  # digits: 1,348 training samples, 21 batches
    assert metrics["final_loss"] == metrics["final_train_loss"]  # f on the whole set
    assert metrics["final_test_accuracy"] > 0.9
    (data,) = run.inputs.dataset_inputs
    assert data.dataset.name == "digits" and '"features_shape": [1348, 64]' in data.dataset.profile


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (("objective=mlp", "objective.dataset=mnist"), "objective.dataset must be one of digits"),
    (("objective=logistic", "sampling=minibatch", "sampling.batch_size=0"),
     "sampling.batch_size must be >= 1, got 0"),
    (("objective=logistic", "sampling=minibatch", "sampling.batch_size=5000"),
     "sampling.batch_size=5000 is larger than the training set (427 samples)"),
    (("objective=mlp", "objective.test_fraction=1.5"), "objective.test_fraction must be in (0, 1)"),
    (("objective=mlp", "objective.test_fraction=0"), "objective.test_fraction must be in (0, 1)"),
    (("sampling=noise", "sampling.scale=-1"), "sampling.scale must be a finite number >= 0"),
    (("sampling=noise", "sampling.kind=student_t", "sampling.df=2"),
     "sampling.df=2: Student-t noise with df <= 2 has infinite variance"),
    (("sampling=minibatch",), "sampling=minibatch needs an objective fitted to data"),
    (("objective=logistic", "objective.dataset=digits"), "needs a data set of two classes"),
])
def test_bad_data_and_sampling_settings_are_one_line_errors(store, args, message):
    proc = store.run(*args, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not store.runs()


# ---------------------------------------------------------------- DeepOBS-style problems


@pytest.mark.parametrize("function, f, start", [
    ("rosenbrock", lambda u, v: (1 - u) ** 2 + 100 * (v - u * u) ** 2, (1.0, 1.0)),
    ("beale", lambda u, v: (1.5 - u + u * v) ** 2 + (2.25 - u + u * v * v) ** 2
     + (2.625 - u + u * v**3) ** 2, (3.0, 0.5)),
])
def test_noisy_2d_optimum_is_scipys(function, f, start):
    """f(θ) + z̄ᵀθ over the training draws, minimised by scipy (BFGS, the gradient by the
    complex step in NumPy) from the noiseless minimizer: the same θ* and f*."""
    from scipy.optimize import minimize

    objective = Noisy2D(function=function, noise=1.0)
    mean = objective.split.X_train.mean(0)

    def fun(t):
        return f(*t) + mean @ t

    def jac(t):
        return np.array([fun(t + 1e-30j * e).imag / 1e-30 for e in np.eye(2)])

    found = minimize(fun, np.array(start), jac=jac, method="BFGS", options={"gtol": 1e-13})
    np.testing.assert_allclose(objective.minimizer.numpy(), found.x, atol=1e-8)
    assert objective.minimum == pytest.approx(found.fun, rel=1e-10, abs=1e-12)
    assert objective.minimum <= found.fun + 1e-14 * abs(found.fun)  # no worse, but rounding
    samples = objective.split.X_train  # f is the mean of the per-sample losses
    at = objective.minimizer.numpy()
    assert objective.minimum == pytest.approx(np.mean(f(*at) + samples @ at), rel=1e-12)


def test_quadratic_deep_has_deepobs_spectrum_and_its_optimum_in_closed_form():
    objective = QuadraticDeep()
    eigenvalues = np.linalg.eigvalsh(objective.Q.numpy())
    assert ((eigenvalues > 0) & (eigenvalues < 1)).sum() == 90
    assert ((eigenvalues > 30) & (eigenvalues < 60)).sum() == 10
    z, Q = objective.split.X_train, objective.Q.numpy()
    theta = np.linalg.solve(Q, Q @ z.mean(0))  # ∇f = Q(θ − z̄) = 0
    np.testing.assert_allclose(objective.minimizer.numpy(), theta, atol=1e-12)
    losses = [0.5 * (theta - zi) @ Q @ (theta - zi) for zi in z]
    assert objective.minimum == pytest.approx(np.mean(losses), rel=1e-12)


def test_noise_escapes_the_saddle_that_stops_gradient_descent():
    """f = x0⁴/4 − x0²/2 + x1²/2 from (0, 1): gradient descent converges to the saddle at the
    origin (f = 0); with Gaussian gradient noise it leaves it for a minimum, f* = −1/4."""
    from runner.build import instantiate_node
    from runner.config import option

    saddle = instantiate_node(option("objective", "saddle"), "objective")
    x0 = saddle.x0[None]
    exact = optimize(saddle, Autograd(), make("sgd", lr=0.1), x0, steps=300)
    assert abs(float(exact.history()["loss"][-1, 0])) < 1e-20
    noisy = optimize(saddle, Autograd(), make("sgd", lr=0.1), x0, steps=300,
                     sampling=Noise("gaussian", scale=0.01).start(saddle, [0]))
    assert float(noisy.history()["loss"][-1, 0]) == pytest.approx(-0.25, abs=1e-4)
