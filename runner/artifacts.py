"""A run's artifact files: config.yaml, result.json, trajectory.csv and the plots asked for."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from objectives import LinearRegression, Objective
from runner import plots
from runner.loop import Trace
from runner.results import Record
from runner.spec import RunSpec
from runner.tracking.files import RunFiles


def run_files(spec: RunSpec, record: Record, objective: Objective, in_sweep: bool) -> RunFiles:
    """The files of one run; plots are drawn when written, if `artifacts` asks for them for
    this run (`plots_here`), from numpy arrays alone (what they need of the objective is
    evaluated here: `scene`)."""
    wanted = {"plots": plots_here(spec.artifacts["plots"], in_sweep), "gif": spec.artifacts["gif"]}
    draw = None
    if wanted["plots"] or wanted["gif"]:
        draw = functools.partial(plots.draw_plots, artifacts=wanted, record=record,
                                 scene=scene(objective, record), name=spec.name)
    return record.files(spec.yaml, draw)


def read_rows(jobs: Sequence[tuple[RunSpec, Any]], trace: Trace, rows: Sequence[int],
              objective: Objective, status: str | None = None
              ) -> tuple[list[Record], list[RunFiles]]:
    """Rows of a trace (one job, (spec, ctx), each; no ctx: a sweep's): their records and
    files."""
    records = read_records(trace, rows, objective, status)
    return records, rows_files(jobs, records, objective)


def read_records(trace: Trace, rows: Sequence[int], objective: Objective,
                 status: str | None = None) -> list[Record]:
    return [Record.from_trace(trace, row, objective, status) for row in rows]


def rows_files(jobs: Sequence[tuple[RunSpec, Any]], records: Sequence[Record],
               objective: Objective) -> list[RunFiles]:
    return [run_files(spec, record, objective, ctx is None or ctx.in_sweep)
            for (spec, ctx), record in zip(jobs, records)]


def plots_here(plots: bool | str, in_sweep: bool) -> bool:
    """Whether a run draws its own PNGs as it is logged: `artifacts.plots=true` draws them
    for a single run, and in a sweep (any launcher) only for the best run, once the sweep
    ends (`runner.plot`: nobody opens 1,800 PNGs of a 900-run sweep, and at 0.45 s a run
    they were most of its time); `all` draws them for every run, `false` for none."""
    return plots == "all" or (plots is True and not in_sweep)


def scene(objective: Objective, record: Record) -> plots.Scene:
    """What the run's plots need of its objective: x*, f*, f on a grid around a 2-D path
    (one batched evaluation), a line fit's data."""
    minimizer = None if objective.minimizer is None else objective.minimizer.cpu().numpy()
    contour = fit_data = None
    if objective.dim == 2 and record.points is not None:
        U, V = plots.contour_box(record.points, minimizer)
        grid = torch.as_tensor(np.stack([U, V], -1), dtype=objective.dtype,
                               device=objective.device)
        with torch.no_grad():
            contour = (U, V, objective.value(grid).cpu().numpy())
    if isinstance(objective, LinearRegression):
        fit_data = (objective.x_data.cpu().numpy(), objective.y_data.cpu().numpy())
    return plots.Scene(minimizer, objective.minimum, contour, fit_data)
