"""The histories a run logs besides f and ‖∇f‖, each against a reference outside the runner:
`lr` against torch.optim.lr_scheduler (and torch's Adagrad decay formula), `evaluations`
against torch.optim.LBFGS driven by hand with a counting closure, `log10_suboptimality`
against numpy, and the data sets of objectives that carry data as MLflow dataset inputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow import MlflowClient

from objectives import Autograd, Quadratic, Rosenbrock
from objectives.regression import LinearRegression
from runner.loop import optimize
from runner.results import Record
from tests.conftest import run_cli
from tests.configs import optimizer as make
from tests.configs import schedule

X0 = torch.tensor([[3.0, -2.0]], dtype=torch.float64)
QUAD = Quadratic(diag=[1.0, 10.0])


def record(optimizer, steps: int, objective=QUAD, x0=X0) -> Record:
    trace = optimize(objective, Autograd(), optimizer, x0, steps=steps)
    return Record.from_trace(trace, 0, objective)


def torch_rates(scheduler_cls, steps: int, **kwargs) -> list[float]:
    """The rate torch's scheduler gives each of `steps` + 1 steps (the last one unused)."""
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=0.1)
    scheduler = scheduler_cls(opt, **kwargs)
    rates = []
    for _ in range(steps + 1):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("name, params, scheduler, kwargs", [
    ("exponential", dict(gamma=0.9), torch.optim.lr_scheduler.ExponentialLR, dict(gamma=0.9)),
    ("step", dict(step_size=7, gamma=0.5), torch.optim.lr_scheduler.StepLR,
     dict(step_size=7, gamma=0.5)),
    ("cosine", dict(t_max=30, eta_min=0.001), torch.optim.lr_scheduler.CosineAnnealingLR,
     dict(T_max=30, eta_min=0.001)),
])
def test_lr_history_is_torchs_scheduler(name, params, scheduler, kwargs):
    got = record(make("momentum", lr=0.1, schedule=schedule(name, **params)), 40)
    expected = torch_rates(scheduler, 40, **kwargs)
    np.testing.assert_allclose(got.histories["lr"], expected, rtol=1e-13, atol=0)
    assert list(got.index) == list(range(41))


def test_adagrad_lr_decay_is_an_lr_history():
    """torch.optim.Adagrad's clr = lr / (1 + (k − 1)·lr_decay) at its k-th step (k from 1)."""
    got = record(make("adagrad", lr=0.5, lr_decay=0.1), 20)
    np.testing.assert_allclose(got.histories["lr"], [0.5 / (1 + t * 0.1) for t in range(21)],
                               rtol=1e-15)


def test_a_constant_rate_has_no_lr_history():
    assert "lr" not in record(make("adam", lr=0.1), 10).histories


def test_evaluations_per_step_are_what_torch_lbfgs_asks_for():
    """Rosenbrock from (−1.2, 1): torch.optim.LBFGS with the config's settings, driven by
    hand, counting every evaluation; the count when each step's point is evaluated is the
    run's `evaluations` history (several a step: the strong-Wolfe line search)."""
    optimizer = make("lbfgs")
    settings = {k: v for k, v in optimizer.hyperparams.items() if k != "cls"}
    rosenbrock, steps = Rosenbrock(), 12
    got = record(optimizer, steps, rosenbrock, torch.tensor([[-1.2, 1.0]], dtype=torch.float64))

    param = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    lbfgs = torch.optim.LBFGS([param], **settings)
    calls, expected = 0, []

    def closure():
        nonlocal calls
        calls += 1
        lbfgs.zero_grad()
        value = rosenbrock.value(param)
        value.backward()
        return value

    for t in range(steps + 1):
        calls += 1  # the step's own evaluation of f and ∇f at x_t
        expected.append(calls)
        if t < steps:
            lbfgs.step(closure)
    assert got.status == "max_steps"
    assert got.histories["evaluations"].tolist() == expected
    assert expected[-1] > 3 * (steps + 1)
    assert got.x_final == pytest.approx(param.detach().tolist(), abs=0, rel=1e-12)


@pytest.mark.parametrize("x_final", [[], [1.5], [0.1, -0.0, 1e-300, -2.5e308, "inf", "-inf", "nan"],
                                     list(np.random.default_rng(0).normal(size=2410))])
def test_result_json_is_json_indented_by_two_spaces(x_final):
    """result.json, written faster than json.dumps(indent=2) writes it, is what it writes."""
    import dataclasses
    import json

    rec = record(make("adam", lr=0.1), 5)
    rec = dataclasses.replace(rec, x_final=[v if isinstance(v, str) else float(v)
                                            for v in x_final])
    result = rec.result()
    assert rec.result_json() == json.dumps(result, indent=2) + "\n"
    assert json.loads(rec.result_json())["x_final"] == result["x_final"]


@pytest.mark.parametrize("x_final", [[], [1.5, -0.0, 5e-324], [1e308, 1e308, -1e308],
                                     [0.1, float("inf")], [float("-inf"), float("nan"), 2.0],
                                     [float("inf"), float("-inf")],
                                     list(np.random.default_rng(1).normal(size=2410))])
def test_the_results_final_point_keeps_every_digit_and_names_what_json_lacks(x_final):
    """Finite coordinates as they are (even where their sum overflows), ±inf and NaN as
    strings: JSON has no such numbers."""
    import dataclasses

    rec = dataclasses.replace(record(make("adam", lr=0.1), 5), x_final=x_final)
    got = rec.result()["x_final"]
    assert got == [v if math.isfinite(v) else str(v) for v in x_final]
    assert all(type(v) is (float if isinstance(x, float) and math.isfinite(x) else str)
               for v, x in zip(got, x_final))


def test_log10_suboptimality_is_floored_at_what_float64_resolves():
    """Linear least squares (f* > 0): gradient descent reaches f* to the last bits, where
    f − f* is 0 or a few ulps of f*; below ε·f* the log is ε·f*'s."""
    objective = LinearRegression(loss="mse")
    got = record(make("sgd", lr=0.2), 3000, objective, torch.zeros(1, 2, dtype=torch.float64))
    gap = got.histories["loss"] - objective.minimum
    floor = np.finfo(np.float64).eps * objective.minimum
    assert (gap <= floor).any() and (gap > floor).any()
    with np.errstate(divide="ignore"):
        expected = np.where(gap > floor, np.log10(gap), math.log10(floor))
    np.testing.assert_array_equal(got.histories["log10_suboptimality"], expected)
    assert np.isfinite(got.histories["log10_suboptimality"]).all()


def test_a_quadratic_reaching_exactly_zero_floors_at_the_smallest_normal():
    got = record(make("sgd", lr=0.5), 5, Quadratic(diag=[1.0, 1.0]))  # x₁ = 0 exactly
    assert got.histories["suboptimality"][-1] == 0.0
    assert got.histories["log10_suboptimality"][-1] == math.log10(np.finfo(np.float64).tiny)


@pytest.mark.slow
def test_runs_log_lr_evaluations_log10_and_their_data(tmp_path):
    """Through the command line: a scheduled linreg run has the four histories in MLflow and
    in trajectory.csv, and its points as a dataset input; a sweep's runs share that dataset."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = run_cli("objective=linreg", "optimizer.lr=0.01", "schedule=exponential", "steps=30",
                   f"tracking.uri={uri}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("-m", "objective=linreg", "optimizer.lr=0.01,0.1", "steps=30",
                   f"tracking.uri={uri}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("gradlab").experiment_id
    runs = [r for r in client.search_runs([experiment], order_by=["attributes.start_time"])
            if r.data.tags.get("role") != "sweep"]
    single, swept = runs[0], runs[1:]
    objective = LinearRegression()
    lr = [m.value for m in client.get_metric_history(single.info.run_id, "lr")]
    assert lr == pytest.approx([0.01 * 0.99**t for t in range(31)], rel=1e-14)
    evaluations = client.get_metric_history(single.info.run_id, "evaluations")
    assert [(m.step, m.value) for m in evaluations] == [(t, t + 1.0) for t in range(31)]
    loss = {m.step: m.value for m in client.get_metric_history(single.info.run_id, "loss")}
    logs = client.get_metric_history(single.info.run_id, "log10_suboptimality")
    assert [m.value for m in logs] == pytest.approx(
        [math.log10(loss[m.step] - objective.minimum) for m in logs], rel=1e-12)
    assert all("lr" not in r.data.metrics for r in swept)  # a constant rate: no history
    csv = Path(client.download_artifacts(single.info.run_id, "trajectory.csv", str(tmp_path)))
    header = csv.read_text().splitlines()[0].split(",")
    assert {"log10_suboptimality", "evaluations", "lr"} <= set(header)
    inputs = [r.inputs.dataset_inputs for r in runs]
    assert all(len(i) == 1 for i in inputs)
    assert {(i[0].dataset.name, i[0].dataset.digest) for i in inputs} == {
        ("linreg", inputs[0][0].dataset.digest)}
    assert '"features_shape": [100, 1]' in inputs[0][0].dataset.profile
