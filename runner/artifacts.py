"""A run's artifact files: config.yaml, result.json, trajectory.csv and the plots asked for."""

from __future__ import annotations

import functools
from pathlib import Path

from objectives import LinearRegression, Objective
from runner import plots
from runner.results import Record
from runner.spec import RunSpec
from runner.tracking.files import RunFiles


def run_files(spec: RunSpec, record: Record, objective: Objective) -> RunFiles:
    """The files of one run; plots are drawn when written, if `artifacts` asks for them."""
    texts = {"config.yaml": spec.yaml, "result.json": record.result_json()}
    artifacts = spec.artifacts
    draw = None
    if artifacts["plots"] or artifacts["gif"]:
        draw = functools.partial(draw_plots, artifacts=artifacts, record=record,
                                 objective=objective, name=spec.name)
    return RunFiles(texts, record.table(), draw)


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
