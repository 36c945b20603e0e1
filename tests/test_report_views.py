"""What a researcher reads at a glance (issue 15): the best-configuration ranking, stability
maps that never pool optimizers and bin sampled params, convergence axes floored at machine
precision, the sweep's command and run links, several sweeps on one page, honest per-run
loss plots."""

from __future__ import annotations

import csv
import html
import itertools
import math
import shlex
import statistics

import numpy as np
import pytest
import torch

from objectives import Autograd, Expression, LinearRegression
from optimizers.sgd import sgd
from runner import plots
from runner.loop import optimize
from runner.report import build
from runner.report.curves import convergence
from runner.report.data import RunData
from runner.report.groups import group_keys, make_groups
from runner.report.stability import axes_for, stability
from runner.report.tables import best_rows
from runner.results import Record
from runner.tracking.history import History
from tests.conftest import Store, run_cli

EPS = np.finfo(np.float64).eps  # 2.220446049250313e-16
OPTIMIZERS = {  # the params each optimizer logs (conf/optimizer/sgd.yaml, adam.yaml)
    "sgd": {"optimizer._target_": "optimizers.sgd.sgd", "optimizer.momentum": "0.0",
            "optimizer.nesterov": "False"},
    "adam": {"optimizer._target_": "optimizers.adam.adam", "optimizer.b1": "0.9",
             "optimizer.b2": "0.999", "optimizer.amsgrad": "False"},
}
SWEEP = ("-m", "optimizer=sgd,adam", "optimizer.lr=0.01,0.1", "steps=20", "artifacts.plots=false")


def made(values: list[float], optimizer: str = "sgd", status: str = "max_steps",
         objective: str = "quad", seed: int = 0, known: bool = True, **params) -> RunData:
    """A run by hand: f − f* = `values` at steps 0, 1, ... (f* = 0), or f = `values` where
    f* is not `known`."""
    steps = np.arange(len(values))
    logged = {**OPTIMIZERS.get(optimizer, {}), "seed": str(seed),
              **{k.replace("__", "."): str(v) for k, v in params.items()}}
    name = f"{objective}-autograd-{optimizer}-{len(logged)}-{seed}-{values[-1]}"
    finals = {"final_loss": values[-1], **({"final_suboptimality": values[-1]} if known else {})}
    return RunData(name, name, status, logged,
                   {"objective": objective, "optimizer": optimizer, "gradient": "autograd"},
                   finals, History(steps, np.array(values, dtype=float), steps * 0.01))


def gradient_descent_on_x_squared(steps: int, f0: float = 10.0) -> list[float]:
    """f(x) = x², lr 0.25: x ← x − 0.25 · 2x = x/2, so f_k = f₀ · 4⁻ᵏ (closed form)."""
    return [f0 * 4.0**-k for k in range(steps + 1)]


# ---------------------------------------------------------------- the best-configuration table


def test_best_table_is_ranked_by_median_final_within_each_objective():
    runs = [made([1.0, 2.4e-4], "adam", seed=s, optimizer__lr=0.1) for s in (0, 1)]
    runs += [made([1.0, 3.6e-21], "sgd", seed=s, optimizer__lr=0.1) for s in (0, 1)]
    runs += [made([1.0, 0.5], "adam", objective="rosenbrock", optimizer__lr=0.1),
             made([1.0, 0.7], "sgd", objective="rosenbrock", optimizer__lr=0.1)]
    keys = group_keys(None)
    rows = best_rows(make_groups(runs, keys), keys)
    assert [(r["objective"], r["optimizer"], r["median_final"]) for r in rows] == [
        ("quad", "sgd", 3.6e-21), ("quad", "adam", 2.4e-4),
        ("rosenbrock", "adam", 0.5), ("rosenbrock", "sgd", 0.7)]


# ---------------------------------------------------------------- the stability map


def sgd_and_adam_over_lr() -> list[RunData]:
    finals = {("sgd", 0.01): 1.5e-3, ("sgd", 0.1): 2e-5, ("adam", 0.01): 1.8, ("adam", 0.1): 0.3}
    return [made([5.0, f], opt, optimizer__lr=lr) for (opt, lr), f in finals.items()]


def test_default_axes_give_each_optimizer_its_own_row():
    runs = sgd_and_adam_over_lr()
    assert axes_for(runs) == ("optimizer.lr", "optimizer")
    cells = stability(runs, *axes_for(runs)).cells["quad"]
    assert {xy: (c.runs, c.median) for xy, c in cells.items()} == {
        ("0.01", "sgd"): (1, 1.5e-3), ("0.1", "sgd"): (1, 2e-5),
        ("0.01", "adam"): (1, 1.8), ("0.1", "adam"): (1, 0.3)}


def test_a_map_asked_for_over_lr_alone_still_splits_the_optimizers():
    stab = stability(sgd_and_adam_over_lr(), "optimizer.lr")
    assert sorted(stab.y_values) == ["adam", "sgd"]
    assert all(c.runs == 1 for c in stab.cells["quad"].values())


def test_sampled_learning_rates_are_binned_with_readable_labels():
    # an Optuna-like search: 20 log-uniform lrs in [1e-4, 1], logged to 16 digits
    lrs = np.exp(np.random.default_rng(0).uniform(np.log(1e-4), np.log(1.0), 20))
    runs = [made([1.0, (math.log10(lr) + 2) ** 2 + 0.01], "adam", seed=i, optimizer__lr=repr(float(lr)))
            for i, lr in enumerate(lrs)]
    runs[int(np.argmax(lrs))].status = "diverged"
    stab = stability(runs, *axes_for(runs))
    (ax,) = [a for a in stab.figure.axes if a.get_title() == "quad"]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert 2 <= len(ticks) <= 12 and max(map(len, ticks)) <= 8  # not 20 labels of 18 digits
    stab.figure.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels()]
    assert not any(a.overlaps(b) for a, b in itertools.pairwise(boxes))
    edges = stab.x_axis.scales[0].edges
    assert edges[0] == pytest.approx(lrs.min(), rel=1e-12)
    assert edges[-1] == pytest.approx(lrs.max(), rel=1e-12)
    assert np.allclose(np.diff(np.log(edges)), np.log(edges[1] / edges[0]))  # log-spaced
    last = len(edges) - 2
    bins = [[r for r, lr in zip(runs, lrs) if (i == 0 or lo <= lr) and (i == last or lr < hi)]
            for i, (lo, hi) in enumerate(itertools.pairwise(edges))]
    assert len(stab.x_values) == len(bins) and sum(map(len, bins)) == 20
    for label, inside in zip(stab.x_values, bins):
        if not inside:
            assert (label, "—") not in stab.cells["quad"]
            continue
        cell = stab.cells["quad"][(label, "—")]
        assert cell.runs == len(inside) and cell.bad == sum(r.bad for r in inside)
        good = [r.final for r in inside if not r.bad]
        assert cell.median == pytest.approx(statistics.median(good)) if good else not cell.finals


# ---------------------------------------------------------------- convergence


def test_convergence_axis_stops_at_machine_precision():
    runs = [made(gradient_descent_on_x_squared(150), seed=s, optimizer__lr=0.25) for s in (0, 1)]
    assert runs[0].final < 1e-88  # the defect: f − f* keeps shrinking to 1e-90
    fig = convergence(make_groups(runs))
    for ax in fig.axes:
        bottom = ax.get_ylim()[0]
        assert EPS * 10.0 / 10 <= bottom <= EPS * 10.0  # machine precision relative to f₀
        (curve,) = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
        y = curve.get_ydata()
        assert np.isfinite(y[-1]) and y[-1] >= bottom
    assert fig.axes[0].get_lines()[0].get_xdata()[-1] == 150  # drawn to the last step


def inside_and_apart(fig) -> None:
    """Every text of `fig` is inside it, and no panel (its ticks and labels) runs into
    another: what tight_layout would ensure, for figures laid out with fixed margins."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(fig)  # a figure pyplot closed has none to draw on
    canvas.draw()
    renderer = canvas.get_renderer()
    page = fig.bbox
    # each panel as drawn (its ticks within its limits, labels, title, legend), and the
    # figure's own texts (the suptitle)
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]
    titles = [t.get_window_extent(renderer) for t in fig.get_children()
              if isinstance(t, Text) and t.get_visible() and t.get_text()]
    for box in boxes + titles:
        assert (page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1 and page.y0 - 1 <= box.y0
                and box.y1 <= page.y1 + 1), (box, page)
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    assert not any(t.overlaps(b) for t in titles for b in boxes)


def test_the_convergence_figure_keeps_its_labels_inside_and_apart():
    """Two objectives (two rows of panels), f − f* down to machine precision (ticks to
    10^-15), a diverged seed (the line's label)."""
    runs = [made(gradient_descent_on_x_squared(30), objective=name, seed=s,
                 optimizer__lr=0.25) for name in ("quad", "rosenbrock") for s in (0, 1)]
    runs.append(made([10.0 * 4.0**k for k in range(11)], "sgd", "diverged", seed=2,
                     optimizer__lr=0.25))
    fig = convergence(make_groups(runs))
    assert len(fig.axes) == 4 and fig.axes[0].get_ylim()[0] < 1e-14
    inside_and_apart(fig)


def test_a_diverged_seed_stops_at_the_divergence_line():
    good = gradient_descent_on_x_squared(30)
    runs = [made(good, seed=0, optimizer__lr=0.25), made(good, seed=1, optimizer__lr=0.25),
            made([10.0 * 4.0**k for k in range(11)], "sgd", "diverged", seed=2,
                 optimizer__lr=0.25)]
    fig = convergence(make_groups(runs))
    for ax in fig.axes:
        (line,) = [line for line in ax.get_lines() if line.get_gid() == "divergence"]
        level = line.get_ydata()[0]
        assert level < ax.get_ylim()[1]  # the panel does not end at the band's edge
        (band,) = ax.collections
        top = max(path.vertices[:, 1].max() for path in band.get_paths())
        assert top <= level * (1 + 1e-12)


def test_a_negative_f_is_drawn_as_f_minus_the_lowest_f_reached():
    # f(x) = x² − 5 from x₀ = 2, lr 0.25: x_k = 2 · 2⁻ᵏ, f_k = 4 · 4⁻ᵏ − 5 (f* not given)
    f = [4.0 * 4.0**-k - 5.0 for k in range(21)]
    runs = [made(f, seed=s, known=False, optimizer__lr=0.25) for s in (0, 1)]
    fig = convergence(make_groups(runs))
    ax = fig.axes[0]
    (curve,) = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    gap = np.array(f) - min(f)
    resolved = gap > 1e-12
    assert np.allclose(curve.get_ydata()[resolved], gap[resolved], rtol=1e-12)
    assert "f_L" in ax.get_ylabel()


def test_legend_names_the_grouped_param():
    runs = [made([1.0, f], "momentum", optimizer__momentum=m, optimizer__lr=lr)
            for m, lr, f in ((0.0, 0.1, 1e-3), (0.0, 0.01, 1e-2), (0.9, 0.1, 1e-5))]
    fig = convergence(make_groups(runs, ("optimizer.momentum",)))
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["momentum=0.0  (lr=0.1)  n=1", "momentum=0.9  n=1"]


# ---------------------------------------------------------------- commands and links


def test_the_sweep_command_pastes_into_a_shell():
    from runner.report.sweeps import Sweep

    overrides = ('optimizer=sgd,adam optimizer.lr=tag(log,interval(0.0001,1)) '
                 'objective.expr="x[0]**2 + 1"')
    command = Sweep("id", "sweep-1", "0", overrides).command
    assert shlex.split(command) == ["python", "-m", "runner", "-m", "optimizer=sgd,adam",
                                    "optimizer.lr=tag(log,interval(0.0001,1))",
                                    'objective.expr="x[0]**2 + 1"']


def test_only_an_http_store_has_a_ui_to_link_to():
    from runner.tracking.ui import ui_base

    assert ui_base("http://127.0.0.1:5000/") == "http://127.0.0.1:5000"
    assert ui_base("https://mlflow.example.org") == "https://mlflow.example.org"
    assert ui_base("sqlite:///mlflow.db") is None and ui_base("file:///tmp/mlruns") is None


# ---------------------------------------------------------------- per-run loss plots


@pytest.fixture
def saved(monkeypatch) -> list:
    """The figures plots save, in order."""
    from matplotlib.figure import Figure

    figures, save = [], Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (figures.append(self),
                                                                   save(self, *a, **k))[1])
    return figures


def record_of(objective, lr: float, x0: list[float], steps: int) -> Record:
    rule = sgd(lr=lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0)
    trace = optimize(objective, Autograd(), rule, torch.tensor([x0], dtype=torch.float64),
                     steps=steps)
    return Record.from_trace(trace, 0, objective)


def test_loss_png_runs_to_the_last_step_when_f_minus_fstar_reaches_zero(saved, tmp_path):
    record = record_of(LinearRegression(), 0.01, [0.0, 0.0], 1000)
    gap = record.histories["suboptimality"]
    assert len(gap) == 1001 and (gap == 0).any()  # f − f* is exactly 0 from some step on
    plots.loss_curve(record, "linreg", tmp_path / "loss.png")
    (ax,) = saved[-1].axes
    x, y = ax.get_lines()[0].get_data()
    drawn = np.asarray(x)[np.isfinite(y)]
    assert drawn.max() == 1000 and ax.get_xlim()[1] >= 1000
    assert np.all(np.asarray(y)[gap == 0] > 0)  # on the floor, not off the log axis
    inside_and_apart(saved[-1])  # ticks down to 10^-16, the legend, the run's long name


def test_loss_png_of_a_negative_loss_draws_f_minus_its_minimum(saved, tmp_path):
    record = record_of(Expression("x[0]**2 - 5"), 0.1, [2.0], 60)
    loss = record.histories["loss"]  # from −1 down towards −5: |f| would rise from 1 to 5
    assert loss[0] == pytest.approx(-1.0) and loss.min() < -4.99
    plots.loss_curve(record, "expr", tmp_path / "loss.png")
    (ax,) = saved[-1].axes
    y = np.asarray(ax.get_lines()[0].get_ydata())
    resolved = loss - loss.min() > 1e-9
    assert np.allclose(y[resolved], (loss - loss.min())[resolved], rtol=1e-12)
    assert "min f" in ax.get_ylabel()


# ---------------------------------------------------------------- a real sweep


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    store = Store(tmp_path_factory.mktemp("views"))
    store.run(*SWEEP)
    return store


def sweeps_of(store: Store) -> list:
    return [r for r in store.runs() if r.data.tags.get("role") == "sweep"]


@pytest.mark.slow
def test_page_shows_the_command_and_links_run_ids_to_the_ui(store, tmp_path):
    (parent,) = sweeps_of(store)
    experiment = parent.info.experiment_id
    report = build(store.client, experiment, parent.info.run_id, tmp_path / "http",
                   ui="http://127.0.0.1:5000")
    page = (tmp_path / "http" / "report.html").read_text()
    command = shlex.join(["python", "-m", "runner", *SWEEP, f"tracking.uri={store.uri}"])
    assert html.escape(command) in page
    assert len(report.rows) == 2
    for row in report.rows:
        url = (f"http://127.0.0.1:5000/#/experiments/{experiment}/runs/{row['run_id']}"
               "?workflowType=machine_learning")  # the model-training page, not GenAI's
        assert f'<a href="{html.escape(url)}">{row["run_id"]}</a>' in page
    build(store.client, experiment, parent.info.run_id, tmp_path / "sqlite")
    assert 'href="' not in (tmp_path / "sqlite" / "report.html").read_text()  # no UI to link


@pytest.mark.slow
def test_the_map_of_a_real_sgd_adam_sweep_has_one_row_per_optimizer(store, tmp_path):
    (parent,) = sweeps_of(store)
    report = build(store.client, parent.info.experiment_id, parent.info.run_id, tmp_path)
    stab = report.stability
    assert (stab.x, stab.y) == ("optimizer.lr", "optimizer") and len(stab.y_values) == 2
    children = [r for r in store.runs() if r.info.run_id != parent.info.run_id]
    assert len(children) == 4
    for r in children:
        cell = stab.cells["quad"][(r.data.params["optimizer.lr"], r.data.tags["optimizer"])]
        assert cell.runs == 1 and cell.median == r.data.metrics["final_suboptimality"]


@pytest.mark.slow
def test_two_parents_compare_two_sweeps_on_one_page(store, tmp_path):
    (first,) = sweeps_of(store)
    store.run("-m", "optimizer=sgd", "optimizer.lr=0.01,0.1", "steps=40", "artifacts.plots=false")
    (second,) = [r for r in sweeps_of(store) if r.info.run_id != first.info.run_id]
    out = tmp_path / "report"
    proc = run_cli("--uri", store.uri, "--parent", first.info.run_id, "--parent",
                   second.info.run_id, "--out", str(out), cwd=tmp_path, module="runner.report")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("6 runs")
    with open(out / "best.csv") as fh:
        rows = list(csv.DictReader(fh))
    names = {first.info.run_name, second.info.run_name}
    assert {(r["sweep"], r["optimizer"]) for r in rows} == {
        (first.info.run_name, "sgd"), (first.info.run_name, "adam"), (second.info.run_name, "sgd")}
    for r in rows:  # each sweep's best sgd is a run of that sweep
        run = store.client.get_run(r["run_id"])
        assert {run.data.tags["mlflow.parentRunId"]} <= {first.info.run_id, second.info.run_id}
        parent = first if r["sweep"] == first.info.run_name else second
        assert r["sweep"] in names and run.data.tags["sweep_id"] == parent.data.tags["sweep_id"]
    page = (out / "report.html").read_text()
    assert page.count('<pre class="command">') == 2 and "steps=40" in page
