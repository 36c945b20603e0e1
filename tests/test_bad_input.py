"""Bad input through the command line: refused before any MLflow run exists, with exit code
2 and a line on stderr that names the key, the value and what is allowed.

A subprocess costs seconds (imports), so the catalogue calls the CLI's Hydra entry point,
`runner.app.main`, in this process with `sys.argv` set, as `python -m runner` does; a few
entries also go through a real subprocess to show that the shortcut answers the same.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from typing import NamedTuple

import pytest
import torch

from runner.constants import EXIT_USAGE
from tests.conftest import ROOT, Store

# Hydra's own exit code for an override it cannot compose (an unknown option or key, a value
# the schema's type refuses): Hydra reports those before the runner's code is called.
HYDRA_ERROR = 2  # runner.app.cli: Hydra's own refusals exit as all bad input does
MAX_LINES = 2  # the runner's refusal: one line (and room for one wrapped note)
HYDRA_LINES = 20  # Hydra's, which lists a group's options and its search path


class Bad(NamedTuple):
    args: tuple[str, ...]
    says: tuple[str, ...]  # fragments stderr must hold: the key, the value, what is allowed
    code: int = EXIT_USAGE
    lines: int = MAX_LINES


FN = "objective.function=tests.fixtures.bad_functions."
HUGE = "100000000000000000000"  # 10**20: beyond int64

CATALOGUE = [
    # ---- optimizer: wrong types, out of range, unknown or missing keys
    Bad(("optimizer.lr=abc",), ("optimizer.lr", "'abc'", "must be a number")),
    Bad(("optimizer.lr=null",), ("optimizer.lr", "null", "must be a number")),
    Bad(("optimizer.lr=[0.1,0.2]",), ("optimizer.lr", "[0.1, 0.2]", "must be a number")),
    Bad(("optimizer.lr=nan",), ("optimizer.lr", "nan", "finite")),
    Bad(("optimizer.lr=-0.1",), ("optimizer.lr", "-0.1", "must lie in [0.0, ∞)")),
    Bad(("optimizer.nesterov=maybe",), ("optimizer.nesterov", "'maybe'", "true or false")),
    Bad(("optimizer.nesterov=true",), ("optimizer.nesterov", "momentum > 0")),
    Bad(("optimizer=adam", "optimizer.amsgrad=3"), ("optimizer.amsgrad", "3", "true or false")),
    Bad(("optimizer=adam", "optimizer.b1=1.0"), ("optimizer.b1", "1.0", "[0.0, 1.0)")),
    Bad(("+optimizer.betas=0.9",), ("optimizer", "no option 'betas'", "lr, momentum")),
    Bad(("+optimizer.schedule=1",), ("optimizer.schedule", "top-level `schedule`")),
    Bad(("~optimizer.lr",), ("optimizer.lr", "not set")),
    # ---- L-BFGS and the torch.optim pass-through
    Bad(("optimizer=lbfgs", "optimizer.history_size=0"), ("optimizer.history_size", ">= 1", "0")),
    Bad(("optimizer=lbfgs", "optimizer.history_size=2.5"),
        ("optimizer.history_size", "2.5", "an integer")),
    Bad(("optimizer=lbfgs", "optimizer.line_search_fn=bogus"),
        ("optimizer.line_search_fn", "'bogus'", "strong_wolfe or null")),
    Bad(("optimizer=lbfgs", "optimizer.lr=0"), ("optimizer.lr", "(0.0, ∞)", "got 0")),
    Bad(("optimizer=torch", "optimizer.cls=torch.optim.Nope"),
        ("optimizer.cls", "'torch.optim.Nope'", "does not resolve")),
    Bad(("optimizer=torch", "optimizer.cls=torch.optim.Adam", "+optimizer.betas=[1.5,0.9]"),
        ("torch.optim.Adam", "betas=[1.5, 0.9]", "beta")),
    Bad(("optimizer=torch", "+optimizer.bogus=1"), ("torch.optim.SGD", "bogus=1")),
    # ---- schedules
    Bad(("schedule=step", "schedule.step_size=0"), ("schedule.step_size", ">= 1", "0")),
    Bad(("schedule=exponential", "schedule.gamma=1.5"), ("schedule.gamma", "1.5", "(0.0, 1.0]")),
    Bad(("schedule=triangle",), ("schedule/triangle", "constant, cosine")),
    Bad(("-m", "optimizer=sgd,adamm"), ("optimizer=adamm: no such option", "adam, adamax")),
    # ---- quadratics: ragged, NaN, inf, empty, wrong dimensions, huge
    Bad(("objective.A=[[1,2],[3]]",), ("objective.A", "[[1, 2], [3]]", "same length")),
    Bad(("objective.A=[[nan,0],[0,1]]",), ("objective.A", "nan", "finite")),
    Bad(("objective.A=[[1,2],[3,4]]",), ("objective.A", "symmetric")),
    Bad(("objective.A=[[1,0],[0,-2]]",), ("objective.A", "positive semidefinite", "-2")),
    Bad(("objective.A=[[a,b],[c,d]]",), ("objective.A", "'a'", "lists of numbers")),
    Bad(("objective.A=[[1,0],[0,1]]", "objective.cond=10"), ("objective.A", "objective.cond")),
    Bad(("objective=quad_cond", "objective.cond=inf"), ("objective.cond", "inf", "finite")),
    Bad(("objective=quad_cond", "objective.dim=30000"),
        ("objective.dim=30000", "30000×30000 matrix", "7.2 GB")),
    Bad(("objective=quad_cond", "objective.dim=abc"), ("objective.dim", "'abc'", "an integer")),
    Bad(("objective.diag=[]",), ("objective.diag", "must not be empty")),
    Bad(("objective.dim=3",), ("objective.dim=3", "objective.diag has 2 values")),
    Bad(("objective.b=[1,2,3]",), ("objective.b", "3 value(s)", "2×2")),
    Bad(("objective.x0=[a,b]",), ("objective.x0", "['a', 'b']", "a list of numbers")),
    Bad(("objective.x0=[1,2,3]",), ("objective.x0", "3 value(s)", "2-dimensional")),
    Bad(("objective.x0=5",), ("objective.x0", "5", "a list of numbers")),
    Bad(("+objective.foo=1",), ("objective", "no option 'foo'", "diag")),
    Bad(("+objective.dtype=float32",), ("objective.dtype", "top-level `dtype`")),
    Bad(("objective.foo=1",), ("objective.foo", "+objective.foo=1"), HYDRA_ERROR, HYDRA_LINES),
    # ---- the other families
    Bad(("objective=rosenbrock", "objective.dim=10000000000"),
        ("objective.dim=10000000000", "80 GB")),
    Bad(("objective=rosenbrock", "objective.a=abc"), ("objective.a", "'abc'", "a number")),
    Bad(("objective=linreg", "objective.n=10000000000"), ("objective.n=10000000000", "GB")),
    Bad(("objective=linreg", "objective.loss=l1"), ("objective.loss", "'l1'", "norm, mse")),
    Bad(("objective=linreg", f"objective.seed={HUGE}"), ("objective.seed", HUGE, "int64")),
    Bad(("objective=softmax", "objective.labels=[5]"), ("objective.labels", "[5]", "0..2")),
    Bad(("objective=softmax", "objective.labels=[1.5]"), ("objective.labels", "[1.5]", "integers")),
    Bad(("objective=softmax", "objective.classes=10000000000"),
        ("objective.classes=10000000000", "80 GB")),
    Bad(("objective=softmax", "objective.inputs=[[1,2],[3]]"), ("objective.inputs", "same length")),
    # ---- objective=python: import paths, signatures, output shapes
    Bad(("objective=python", "objective.function=no.such.module"),
        ("objective.function", "'no.such.module'", "cannot import")),
    Bad(("objective=python", FN + "two_arguments"),
        ("objective.function", "one tensor x of shape (..., 2)", "missing 1 required")),
    Bad(("objective=python", FN + "no_reduction"),
        ("objective.function", "returned shape (2, 2), not (2,)")),
    Bad(("objective=python", FN + "first_axis"), ("objective.function", "x[..., i]")),
    Bad(("objective=python", FN + "python_float"), ("objective.function", "tensor, got float")),
    Bad(("objective=python", FN + "raises"), ("objective.function", "always fails")),
    Bad(("objective=python", "objective.function=null"),
        ("objective.function", "null", "a string")),
    Bad(("objective=python",
         "objective.grad_function=tests.fixtures.bad_functions.gradient_of_wrong_shape"),
        ("objective.grad_function", "returned shape (2,), not (2, 2)")),
    Bad(("objective=python", "objective.dim=10000000000", "objective.x0=null",
         "objective.minimizer=null"), ("objective.dim=10000000000", "80 GB")),
    # ---- formulas
    Bad(("objective=expr", "objective.expr='x[0]**'"), ("objective.expr", "syntax")),
    # ---- gradient methods
    Bad(("gradient=finite_diff", "gradient.h=abc"), ("gradient.h", "'abc'", "a number or null")),
    Bad(("gradient=finite_diff", "gradient.scheme=sideways"),
        ("gradient.scheme", "'sideways'", "central")),
    Bad(("objective=quad", "objective.diag=null", "objective.dim=20000", "gradient=finite_diff"),
        ("gradient=finite_diff", "40001×20000", "6.4 GB", "gradient=autograd")),
    Bad(("+gradient.foo=1",), ("gradient", "no option 'foo'")),
    Bad(("gradient=analytic", "objective=python"), ("gradient=analytic", "no closed-form")),
    # ---- run options
    Bad(("steps=-1",), ("steps", ">= 0", "-1")),
    Bad((f"steps={HUGE}",), ("steps", HUGE, "int64")),
    Bad(("steps=abc",), ("steps", "'abc'", "Integer"), HYDRA_ERROR, HYDRA_LINES),
    Bad((f"seed={HUGE}",), ("seed", HUGE, "int64")),
    Bad(("tol=-1",), ("tol", "-1", ">= 0")),
    Bad(("divergence.max_loss=0",), ("divergence.max_loss", "> 0", "0.0")),
    Bad(("check.every=5", "check.reference=symbolic"),
        ("check.reference", "'symbolic'", "autograd")),
    Bad(("check.every=5", "check.reference=analytic", "objective=python"),
        ("gradient=analytic", "no closed-form")),
    Bad(("tracking.max_points=-5",), ("tracking.max_points", ">= 1", "-5", "null")),
    Bad(("tracking.sweep_points=0",), ("tracking.sweep_points", ">= 1", "0")),
    Bad(("dtype=float16",), ("dtype", "'float16'", "float64, float32")),
    Bad(("device=bogus",), ("device", "'bogus'", "cpu, cuda")),
    Bad(("+foo=1",), ("foo", "not a config key", "steps")),
    Bad(("+tracking.foo=1",), ("tracking.foo", "not a config key", "max_points")),
    Bad(("foo=1",), ("foo", "+foo=1"), HYDRA_ERROR, HYDRA_LINES),
]


def _id(bad: Bad) -> str:
    return " ".join(bad.args)[:70]


@contextlib.contextmanager
def _argv(args: list[str]):
    saved = sys.argv
    sys.argv = args
    try:
        yield
    finally:
        sys.argv = saved


def cli_in_process(store: Store, *overrides: str) -> tuple[int, str, str]:
    """`python -m runner *overrides` in this process: (exit code, stdout, stderr)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    import runner.app

    out, err = io.StringIO(), io.StringIO()
    args = ["gradlab", *overrides, f"tracking.uri={store.uri}",
            f"hydra.run.dir={store.folder / 'outputs'}"]
    code = 0
    try:
        with _argv(args), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runner.app.cli()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:  # Hydra keeps the config it composed in two singletons: forget them
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None
    return code, out.getvalue(), err.getvalue()


def all_runs(store: Store) -> list:
    client = store.client
    return [run for exp in client.search_experiments()
            for run in client.search_runs([exp.experiment_id], max_results=100)]


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory) -> Store:
    """One store for the whole module (each entry checks that it adds no run), made with
    its experiment up front as the CLI makes it, so that no test pays for that."""
    from runner.tracking.client import open_experiment

    store = Store(tmp_path_factory.mktemp("bad-input"))
    open_experiment(store.uri, "gradlab")
    return store


@pytest.mark.parametrize("bad", CATALOGUE, ids=[_id(b) for b in CATALOGUE])
def test_bad_input_is_refused_before_any_run(shared_store, subprocesses, bad):
    before = len(all_runs(shared_store))
    code, out, err = cli_in_process(shared_store, *bad.args)
    assert code == bad.code, err
    for fragment in bad.says:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    lines = err.strip().splitlines()
    assert lines, "nothing was said"  # a refusal names its problem
    assert len(lines) <= bad.lines, err  # in a line or two (Hydra's own: its option list)
    if bad.lines < HYDRA_LINES:  # the runner's own message (Hydra's has its own form)
        assert lines[0].startswith("error: "), err
    assert "Traceback" not in err + out
    assert not out.strip(), out
    assert len(all_runs(shared_store)) == before  # no run, not even a FAILED one


def test_the_catalogue_is_large_and_has_no_duplicates():
    assert len(CATALOGUE) >= 60
    assert len({b.args for b in CATALOGUE}) == len(CATALOGUE)


# the in-process shortcut answers as the command line does: a Hydra error, a value the
# runner refuses, a failure inside a user's function
FAITHFUL = [b for b in CATALOGUE if b.args in {
    ("steps=abc",), ("objective.A=[[1,2],[3]]",), ("objective=python", FN + "two_arguments")}]


@pytest.fixture(scope="module")
def subprocesses(shared_store):
    """`python -m runner` for each FAITHFUL entry, started once (the catalogue asks for them
    only so that these slow starts run beside it); each in a folder of its own."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = {}
    for i, bad in enumerate(FAITHFUL):
        cwd = shared_store.folder / f"subprocess-{i}"
        cwd.mkdir()
        procs[bad.args] = subprocess.Popen(
            [sys.executable, "-m", "runner", *bad.args, f"tracking.uri={shared_store.uri}"],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("bad", FAITHFUL, ids=[_id(b) for b in FAITHFUL])
def test_in_process_cli_answers_as_a_subprocess(shared_store, subprocesses, bad):
    assert len(FAITHFUL) == 3
    proc = subprocesses[bad.args]
    _, sub_err = proc.communicate(timeout=300)
    code, _, err = cli_in_process(shared_store, *bad.args)
    assert proc.returncode == code == bad.code
    assert sub_err.splitlines()[0] == err.splitlines()[0], sub_err[-3000:]
    assert "Traceback" not in sub_err


def test_a_valid_config_runs_in_process(shared_store):
    """The shortcut is not refusing everything: a good config makes one FINISHED run."""
    before = {run.info.run_id for run in all_runs(shared_store)}
    code, out, err = cli_in_process(shared_store, "steps=3", "artifacts.plots=false")
    assert code == 0, err
    assert "max_steps" in out
    (run,) = [run for run in all_runs(shared_store) if run.info.run_id not in before]
    assert run.info.status == "FINISHED"


# ---- what needs no command line: large quadratics


def test_a_large_diagonal_quadratic_is_kept_as_a_vector():
    from objectives import Quadratic

    start = time.perf_counter()
    quad = Quadratic(dim=30_000)  # a dense identity would take 7.2 GB
    assert time.perf_counter() - start < 5
    assert quad.dense is None and quad.diagonal.shape == (30_000,)
    x = torch.linspace(-1, 1, 30_000, dtype=torch.float64)
    assert torch.equal(quad.value(x), (x * x).sum())
    assert torch.equal(quad.grad(x), 2 * x)


def test_a_dense_quadratic_too_large_is_refused_at_once():
    from objectives import ObjectiveError, Quadratic

    start = time.perf_counter()
    with pytest.raises(ObjectiveError, match=r"objective.dim=30000 needs a 30000×30000 matrix "
                                             r"\(7.2 GB\)"):
        Quadratic(dim=30_000, cond=10.0)
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_a_diagonal_quadratic_gives_the_dense_form_to_the_last_bit(dtype):
    from objectives import Autograd, ComplexStep, FiniteDifference, Quadratic

    diag = Quadratic(diag=[4.0, 1.0, 0.25], b=[1.0, -2.0, 0.5], dtype=dtype)
    dense = Quadratic(A=[[4.0, 0, 0], [0, 1.0, 0], [0, 0, 0.25]], b=[1.0, -2.0, 0.5],
                      dtype=dtype)
    assert diag.dense is None and dense.diagonal is None
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=dtype)
    assert torch.equal(diag.value(x), dense.value(x))
    assert torch.equal(diag.grad(x), dense.grad(x))
    assert torch.equal(diag.A, dense.A)
    for method in (Autograd(), FiniteDifference("central"), ComplexStep()):
        for a, b in zip(method(diag, x), method(dense, x)):
            assert torch.equal(a, b), method.name
    assert torch.equal(diag.minimizer, dense.minimizer) and diag.minimum == dense.minimum

