"""Pictures and reports: per-run GIF and fit plots, the sweep report, its HTML page in a
real browser, and the MLflow UI showing a sweep."""

from __future__ import annotations

import csv
import math
import re
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from objectives import Autograd, LinearRegression, Quadratic
from optimizers.sgd import sgd
from runner import plots
from runner.artifacts import scene
from runner.loop import optimize
from runner.report import Options, build
from runner.report.data import RunData, varying
from runner.report.groups import band
from runner.report.profile import profile
from runner.results import Record
from runner.tracking import history
from runner.tracking.history import History
from tests.conftest import Store, run_cli

# quad is 4x₁² + x₂² (L = 8): sgd diverges for lr > 2/8, so lr = 0.3 diverges and 0.001
# does not; heavy ball (momentum 0.9) is stable up to lr·L < 2(1 + 0.9), so it survives 0.3
SWEEP = ("-m", "objective=quad,rosenbrock", "optimizer=sgd,momentum", "optimizer.lr=0.001,0.3",
         "seed=0,1", "steps=60", "artifacts.plots=false")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")


# ---------------------------------------------------------------- per-run pictures


def record_of(objective, lr: float, x0: list[float], steps: int, momentum: float = 0.0) -> Record:
    x = torch.tensor(x0, dtype=torch.float64)
    rule = sgd(lr=lr, momentum=momentum, dampening=0.0, nesterov=False, weight_decay=0.0)
    trace = optimize(objective, Autograd(), rule, x[None],
                     steps=steps, keep_points=True)
    return Record.from_trace(trace, 0, objective)


def test_forked_computes_in_another_process_and_hands_back_the_value_or_the_default():
    import os

    from runner.forked import forked

    later = forked(lambda n: (os.getpid(), math.factorial(n)), 25)
    pid, value = later()
    assert pid != os.getpid() and value == 15511210043330985984000000
    assert forked(int, "not a number", default=-1)() == -1  # it raised in the child


def test_a_prepared_fork_computes_once_released_and_sees_the_state_of_that_moment(tmp_path):
    """forked(..., prepare=...): the child prepares at once, then waits; what the function
    reads is what was there when it was released, not when the child was forked."""
    import time

    from runner.forked import forked

    note, ready = tmp_path / "note", tmp_path / "prepared"
    note.write_text("at the fork")
    later = forked(note.read_text, prepare=lambda: ready.write_text(str(time.time())))
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ready.exists()
    note.write_text("at the release")  # after the child prepared, before it is released
    assert later() == "at the release"


def test_a_release_brings_the_last_arguments_though_later_forks_hold_the_gate():
    """Arguments known only at the release (a sweep's runs, for its report) reach the child
    whole, even while a process forked since (the best run's plots) holds a copy of the
    gate; without forking (`_Here`) they are added the same way."""
    import operator
    import os
    import signal
    import threading

    from runner.forked import _Here, forked

    big = "x" * 300_000  # more than a pipe holds: the child reads while it is written
    later = forked(operator.add, "a", prepare=lambda: None)
    holder = forked(signal.pause)  # never ends by itself
    try:
        got = []
        waiting = threading.Thread(target=lambda: got.append((later.release(big), later())))
        waiting.start()
        waiting.join(timeout=60)
        assert got == [(None, "a" + big)]
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder()
    here = _Here(operator.add, ("a",))
    here.release("b")
    here.release("c")  # once only, as a fork's
    assert here() == "ab"


def test_a_prepared_fork_whose_caller_is_killed_ends_without_computing(tmp_path):
    """A sweep killed (-9) before its report: the child waiting to compute the importances
    ends too, and computes nothing."""
    import signal
    import subprocess
    import sys
    import time

    script = ("import pathlib, sys, time\n"
              "from runner.forked import forked\n"
              "folder = pathlib.Path(sys.argv[1])\n"
              "later = forked((folder / 'computed').write_text, 'yes', prepare=lambda: None)\n"
              "print(later.pid, flush=True)\n"
              "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], text=True,
                            stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent)
    child = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    def running() -> bool:  # not ended, nor a zombie its new parent has not reaped
        stat = Path(f"/proc/{child}/stat")
        try:
            return stat.read_text().rpartition(")")[2].split()[0] not in "ZX"
        except OSError:
            return False

    deadline = time.monotonic() + 30
    while running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not running()
    assert not (tmp_path / "computed").exists()


def test_gif_draws_the_path_frame_by_frame(tmp_path):
    from PIL import Image, ImageChops

    quad = Quadratic(diag=[4.0, 1.0])
    record = record_of(quad, 0.1, [1.5, 2.0], 100, momentum=0.8)
    frames = plots.trajectory_gif(scene(quad, record), record, "quad", tmp_path / "path.gif",
                                  frames=30)
    with Image.open(tmp_path / "path.gif") as gif:
        assert gif.n_frames == frames == 30
        gif.seek(0)
        first = gif.convert("RGB")
        gif.seek(frames - 1)
        last = gif.convert("RGB")
        assert gif.info["duration"] == 1000  # the last frame is held
    assert ImageChops.difference(first, last).getbbox() is not None  # the path grew
    assert (tmp_path / "path.gif").stat().st_size < 300_000


def test_fit_plot_draws_the_data_and_the_fitted_line(tmp_path):
    linreg = LinearRegression()
    record = record_of(linreg, 0.05, [0.0, 0.0], 300)
    fig = plots.fit_plot(scene(linreg, record), record, "linreg", tmp_path / "fit.png")
    data, fitted, least_squares = fig.axes[0].lines
    assert np.array_equal(data.get_xdata(), linreg.x_data.numpy())
    assert np.array_equal(data.get_ydata(), linreg.y_data.numpy())
    a, b = record.x_final
    x = np.asarray(fitted.get_xdata())
    assert np.allclose(fitted.get_ydata(), a * x + b)
    # the least-squares line comes from numpy's solver, not from the objective
    X = np.stack([linreg.x_data.numpy(), np.ones(linreg.x_data.shape[0])], 1)
    a_star, b_star = np.linalg.lstsq(X, linreg.y_data.numpy(), rcond=None)[0]
    assert np.allclose(least_squares.get_ydata(), a_star * x + b_star)
    assert (tmp_path / "fit.png").stat().st_size > 10_000


# ---------------------------------------------------------------- report pieces, by hand


def run(name: str, values: list[float], status: str = "max_steps", objective: str = "quad",
        **params) -> RunData:
    steps = np.arange(len(values))
    return RunData(name, name, status, {k: str(v) for k, v in params.items()},
                   {"objective": objective},
                   {"final_loss": values[-1], "final_suboptimality": values[-1]},
                   History(steps, np.array(values, dtype=float), steps * 0.01))


def test_band_counts_a_diverged_run_as_infinite_after_it_stops():
    runs = [run("a", [4, 2, 1]), run("b", [4, 8], status="diverged"), run("c", [4, 1])]
    b = band(runs)
    assert list(b.steps) == [0, 1, 2]
    assert list(b.median) == [4, 2, 1]  # step 1: {2, 8, 1}; step 2: {1, inf, 1} (c holds 1)
    assert b.q25[2] == 1 and b.q75[2] == math.inf


def test_profile_costs_are_steps_to_the_more_wild_test():
    # τ = 0.1: the first step with f − f* ≤ 0.1 (f₀ − f*)
    runs = [run("p1s1", [1, 0.5, 0.05], objective="quad", **{"optimizer.lr": 1}),
            run("p1s2", [1, 0.01], objective="quad", **{"optimizer.lr": 2}),
            run("p2s1", [10, 1e9], "diverged", objective="rosen", **{"optimizer.lr": 1}),
            run("p2s2", [10, 5, 2, 0.5], objective="rosen", **{"optimizer.lr": 2})]
    for r in runs:
        r.tags.update(optimizer="sgd", gradient="autograd")
    result = profile(runs, tau=0.1)
    assert result.problems == [("quad",), ("rosen",)]
    assert result.solvers == [("sgd", "autograd", "1"), ("sgd", "autograd", "2")]
    assert result.cost.tolist() == [[2, 1], [math.inf, 3]]
    # ratios: quad (2, 1), rosen (inf, 1)
    assert result.rho([1, 2]).tolist() == [[0, 0.5], [1, 1]]


def test_only_params_that_change_results_make_a_configuration():
    runs = [run("a", [1.0], **{"optimizer.lr": 0.1, "tracking.uri": "x", "seed": 0}),
            run("b", [1.0], **{"optimizer.lr": 0.2, "tracking.uri": "y", "seed": 1})]
    assert varying(runs) == ["optimizer.lr", "seed"]


# ---------------------------------------------------------------- a real sweep


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Store:
    store = Store(tmp_path_factory.mktemp("sweep"))
    store.run(*SWEEP)
    return store


def parent_of(store: Store):
    return next(r for r in store.runs() if r.data.tags.get("role") == "sweep")


@pytest.fixture(scope="module")
def report(sweep, tmp_path_factory):
    parent = parent_of(sweep)
    return build(sweep.client, parent.info.experiment_id, parent.info.run_id,
                 tmp_path_factory.mktemp("report"))


@pytest.mark.slow
def test_runner_plot_draws_later_what_a_run_draws_as_it_is_logged(store):
    """A run drawn as it is logged, and its twin logged without plots and drawn afterwards
    by `python -m runner.plot` from its files: the same PNGs, byte for byte."""
    args = ("objective=rosenbrock", "objective.x0=[-1.2,1.0]", "optimizer=adam", "steps=300")
    store.run(*args)
    store.run(*args, "artifacts.plots=false")
    drawn, bare = sorted(store.runs(), key=lambda r: r.info.start_time)
    proc = run_cli(bare.info.run_id, "--uri", store.uri, cwd=store.folder, module="runner.plot")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == f"{bare.info.run_id}: loss.png, trajectory.png"
    for name in ("loss.png", "trajectory.png"):
        a, b = (Path(store.client.download_artifacts(run.info.run_id, name,
                                                     str(store.folder / run.info.run_id)))
                for run in (drawn, bare))
        assert a.read_bytes() == b.read_bytes(), name
    proc = run_cli("0" * 32, "--uri", store.uri, cwd=store.folder, module="runner.plot")
    assert proc.returncode == 1 and proc.stderr.startswith(f"error: {'0' * 32}: ")
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_the_histories_read_in_bulk_are_those_of_each_run(sweep):
    parent = parent_of(sweep)
    children = [r for r in sweep.runs() if r.info.run_id != parent.info.run_id]
    ids = [r.info.run_id for r in children]
    bulk = history.read(sweep.client, ids, "loss", "sql")
    assert set(bulk) == set(ids)
    for run_id in ids:
        steps, values = zip(*sweep.history(run_id, "loss"))
        assert list(bulk[run_id].steps) == list(steps)
        assert np.array_equal(bulk[run_id].values, values)


@pytest.mark.slow
def test_convergence_has_one_curve_per_group_with_the_median_over_seeds(sweep, report):
    groups = {(g.values[0], g.values[1]): g for g in report.groups}
    assert set(groups) == {(o, p) for o in ("quad", "rosenbrock") for p in ("sgd", "momentum")}
    axes = report.convergence.axes
    assert len(axes) == 4  # two objectives × (step, wall time)
    for ax in axes:
        objective = ax.get_title()
        curves = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
        assert len(curves) == sum(1 for o, _ in groups if o == objective) == 2
    # the median at the last step, from each replicate's own history
    for g in report.groups:
        finals = [sweep.history(r.run_id, "suboptimality")[-1][1] for r in g.replicates]
        if not any(r.bad for r in g.replicates):
            assert math.isclose(band(g.replicates).median[-1], float(np.median(finals)))
        assert {r.get("seed") for r in g.replicates} == {"0", "1"}


@pytest.mark.slow
def test_stability_map_marks_exactly_the_cells_of_diverged_runs(sweep, report):
    stab = report.stability
    assert (stab.x, stab.y) == ("optimizer.lr", "optimizer.momentum")
    marked = {(objective, xy) for objective, cells in stab.cells.items()
              for xy, cell in cells.items() if cell.bad}
    runs = [r for r in sweep.runs() if r.data.tags.get("role") != "sweep"]
    diverged = {(r.data.tags["objective"], (r.data.params["optimizer.lr"],
                                            r.data.params["optimizer.momentum"]))
                for r in runs if r.data.tags["status"] == "diverged"}
    assert marked == diverged
    assert ("quad", ("0.3", "0.0")) in marked  # sgd past 2/L
    assert ("quad", ("0.3", "0.9")) not in marked  # heavy ball still stable
    hatched = [p for ax in stab.figure.axes for p in ax.patches if p.get_hatch() == "xx"]
    assert len(hatched) == len(marked)


@pytest.mark.slow
def test_best_configuration_table_matches_a_search_ordered_by_final_loss(sweep, report):
    parent = parent_of(sweep)
    assert len(report.rows) == 4
    for row in report.rows:
        query = " and ".join([f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
                              *(f"tags.{k} = '{row[k]}'" for k in ("objective", "optimizer",
                                                                  "gradient"))])
        group = sweep.client.search_runs([parent.info.experiment_id], query)
        # the best learning rate: lowest median final f − f* over seeds, diverged = +inf
        finals = {}
        for r in group:
            bad = r.data.tags["status"] == "diverged"
            finals.setdefault(r.data.params["optimizer.lr"], []).append(
                math.inf if bad else r.data.metrics["final_suboptimality"])
        lr = min(finals, key=lambda k: (statistics.median(finals[k]), min(finals[k])))
        assert row["configuration"] == f"optimizer.lr={lr}"
        assert row["median_final"] == statistics.median(finals[lr])
        (best,) = sweep.client.search_runs(
            [parent.info.experiment_id], f"{query} and params.`optimizer.lr` = '{lr}'",
            max_results=1, order_by=["metrics.final_loss ASC"])
        assert row["run_id"] == best.info.run_id
        assert row["final_loss"] == best.data.metrics["final_loss"]
    with open(report.files[0].parent / "best.csv") as fh:
        assert [r["run_id"] for r in csv.DictReader(fh)] == [r["run_id"] for r in report.rows]


@pytest.mark.slow
def test_profile_spans_both_objectives_and_no_diverged_run_solves(sweep, report):
    prof = report.profile
    assert sorted(p[0] for p in prof.problems) == ["quad", "quad", "rosenbrock", "rosenbrock"]
    for r in report.runs:
        p = prof.problems.index((r.get("objective"), r.get("seed")))
        s = prof.solvers.index((r.get("optimizer"), r.get("gradient"), r.get("optimizer.lr")))
        if r.bad:
            assert prof.cost[p, s] == math.inf
        else:  # the Moré–Wild test on the run's own history, f* known (τ = 1e-3)
            sub = np.array([v for _, v in sweep.history(r.run_id, "suboptimality")])
            hit = np.flatnonzero(sub <= 1e-3 * sub[0])
            assert prof.cost[p, s] == (max(hit[0], 1) if len(hit) else math.inf)


@pytest.mark.slow
def test_the_sweep_parent_holds_the_report(sweep):
    parent = parent_of(sweep)
    files = {f.path for f in sweep.client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/report.html", "report/convergence.png", "report/stability.png",
            "report/profile.png", "report/best.md", "report/best.csv"} <= files
    (out,) = sweep.folder.glob("multirun/*/*/report")
    assert (out / "report.html").stat().st_size > 10_000


# ---------------------------------------------------------------- in a browser


def browse(chromium: str, url: str, folder: Path, name: str, size: str = "1400,3000",
           wait_ms: int | None = None) -> str:
    """Load `url` headless: save a screenshot as folder/name.png, return the DOM after load."""
    profile_dir = folder / f"chromium-{name}"
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", f"--window-size={size}"]
    if wait_ms:  # a single-page app: let its scripts fetch and draw
        flags += [f"--virtual-time-budget={wait_ms}", "--run-all-compositor-stages-before-draw"]
    shot = folder / f"{name}.png"
    for extra in ([f"--screenshot={shot}"], ["--dump-dom"]):
        proc = subprocess.run([chromium, *flags, *extra, url], capture_output=True, text=True,
                              timeout=180)
        assert proc.returncode == 0, proc.stderr[-2000:]
    print(f"screenshot: {shot}")
    return proc.stdout


def colourful(png: Path, at_least: int = 50) -> bool:
    from PIL import Image

    with Image.open(png) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 24)
    return len(colours) >= at_least


@pytest.mark.slow
def test_report_cli_page_opens_offline_in_chromium(sweep, chromium, tmp_path):
    parent = parent_of(sweep)
    out = tmp_path / "report"
    proc = run_cli("--uri", sweep.uri, "--parent", parent.info.run_id, "--out", str(out),
                   cwd=tmp_path, module="runner.report")
    assert proc.returncode == 0, proc.stderr
    page = out / "report.html"
    dom = browse(chromium, page.as_uri(), tmp_path, "report")
    assert re.findall(r"<h2>(.*?)</h2>", dom) == [
        "Convergence", "Stability map", "Performance profile", "Best configuration per group"]
    sources = re.findall(r'<img[^>]* src="([^"]*)"', dom)
    assert len(sources) == 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r'(src|href)="(https?:)?//', page.read_text())  # nothing to fetch
    body = dom.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr>") == 4 and "quad" in body and "rosenbrock" in body
    assert colourful(tmp_path / "report.png")


# ---------------------------------------------------------------- the console


@pytest.mark.slow
def test_a_sweep_prints_its_progress(store):
    proc = store.run("-m", "optimizer=sgd,momentum", "optimizer.lr=0.01,0.3", "steps=60",
                     "artifacts.plots=false",
                     "++hydra.callbacks.progress._target_=runner.sweep.progress.SweepProgress")
    lines = [line for line in proc.stderr.splitlines() if line.startswith("sweep [")]
    assert [re.search(r"\] (\d+/\d+) ", line).group(1) for line in lines] == [
        "1/4", "2/4", "3/4", "4/4"]
    assert "last: diverged" in proc.stderr and "ETA" in lines[0]


def test_report_cli_names_a_missing_experiment(tmp_path):
    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    proc = run_cli("--uri", uri, "--experiment", "nope", cwd=tmp_path, module="runner.report")
    assert proc.returncode == 2 and "no experiment named 'nope'" in proc.stderr


def test_an_experiment_with_finished_runs_reports_without_a_sweep(store):
    store.run("optimizer.lr=0.1", "steps=20", "artifacts.plots=false")
    store.run("optimizer.lr=0.2", "steps=20", "artifacts.plots=false")
    experiment = store.client.get_experiment_by_name("gradlab").experiment_id
    result = build(store.client, experiment, None, store.folder / "out", Options())
    assert len(result.runs) == 2 and len(result.rows) == 1
    assert result.stability.x == "optimizer.lr" and result.profile is None
    assert (store.folder / "out" / "report.html").is_file()
