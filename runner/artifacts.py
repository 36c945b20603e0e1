"""A run's artifact files: config.yaml, result.json, trajectory.csv and the plots asked for."""

from __future__ import annotations

import functools
from pathlib import Path

from objectives import LinearRegression, Objective
from runner import plots
from runner.results import Record
from runner.spec import RunSpec
from runner.tracking.files import RunFiles


def run_files(spec: RunSpec, record: Record, objective: Objective, in_sweep: bool) -> RunFiles:
    """The files of one run; plots are drawn when written, if `artifacts` asks for them for
    this run (`plots_here`)."""
    texts = {"config.yaml": spec.yaml, "result.json": record.result_json()}
    wanted = {"plots": plots_here(spec.artifacts["plots"], in_sweep), "gif": spec.artifacts["gif"]}
    draw = None
    if wanted["plots"] or wanted["gif"]:
        draw = functools.partial(draw_plots, artifacts=wanted, record=record,
                                 objective=objective, name=spec.name)
    return RunFiles(texts, record.table(), draw)


def plots_here(plots: bool | str, in_sweep: bool) -> bool:
    """Whether a run draws its own PNGs as it is logged: `artifacts.plots=true` draws them
    for a single run, and in a sweep (any launcher) only for the best run, once the sweep
    ends (`runner.plot`: nobody opens 1,800 PNGs of a 900-run sweep, and at 0.45 s a run
    they were most of its time); `all` draws them for every run, `false` for none."""
    return plots == "all" or (plots is True and not in_sweep)


def draw_plots(folder: Path, artifacts: dict, record: Record, objective: Objective,
               name: str) -> None:
    """The plots `artifacts` asks for (`plots`, `gif`), drawn into folder."""
    points = objective.dim == 2 and record.points is not None
    if artifacts["plots"]:
        plots.loss_curve(record, name, folder / "loss.png")
        if points:
            plots.trajectory_plot(objective, record, name, folder / "trajectory.png")
        if isinstance(objective, LinearRegression):
            plots.fit_plot(objective, record, name, folder / "fit.png")
    if artifacts["gif"] and points:
        plots.trajectory_gif(objective, record, name, folder / "trajectory.gif")
