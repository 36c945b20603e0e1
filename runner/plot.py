"""`python -m runner.plot RUN_ID [RUN_ID ...] [--uri URI] [--gif]`: a finished run's plots
(loss.png; trajectory.png for a 2-D objective; fit.png for a regression), drawn from the
files it logged (config.yaml, result.json, trajectory.csv) and logged to it.

A sweep with `artifacts.plots=true` draws them this way for its best run when it ends; any
other run of it gets them on demand.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from runner.errors import describe
from runner.forked import forked
from runner.headless import pyplot
from runner.results import Record
from runner.tracking.files import TRAJECTORY

HISTORIES = ("loss", "grad_norm", "suboptimality", "dist_to_opt")
FILES = ("config.yaml", "result.json", TRAJECTORY)  # what the plots are drawn from


class PlotError(RuntimeError):
    """A run's plots could not be drawn (what failed, said by the drawing process)."""


def record_from_files(folder: Path) -> Record:
    """A run's Record, as far as its files have it (every kept step; no gradient checks)."""
    result = json.loads((folder / "result.json").read_text())
    with open(folder / TRAJECTORY) as f:
        header = f.readline().strip().split(",")
    table = np.loadtxt(folder / TRAJECTORY, delimiter=",", skiprows=1, ndmin=2)
    column = {name: table[:, i] for i, name in enumerate(header)}
    coords = [name for name in header if name[0] == "x" and name[1:].isdigit()]
    histories = {k: column[k] for k in HISTORIES if k in column}
    ends = {k: float(result.get(f"final_{k}", np.nan)) for k in histories}
    ends["wall_time"] = float(result.get("wall_time_s", np.nan))
    return Record(status=result["status"], steps=int(result["steps"]),
                  last=int(column["step"][-1]), x_final=[float(v) for v in result["x_final"]],
                  index=column["step"].astype(np.int64), histories=histories,
                  wall_time=column["wall_time_s"],
                  points=np.column_stack([column[c] for c in coords]) if coords else None,
                  checks=None, ends=ends)


def draw_run(client, run_id: str, gif: bool = False) -> list[str]:
    """Draw run `run_id`'s plots and log them to it; the names of the files logged."""
    return draw_run_later(client, run_id, gif)()


def draw_run_later(client, run_id: str, gif: bool = False,
                   elsewhere: Callable[..., Callable[[], Any]] = forked,
                   ) -> Callable[..., list[str]]:
    """draw_run, drawn in another process while this one goes on (a sweep builds its
    report): the run's files are read here, its plots drawn there (`elsewhere`, as
    runner.forked.forked: a forked process, or a sweep's engine) and logged here by the
    function returned, which gives their names or raises what failed (called with
    keep=False, it waits for them and logs nothing)."""
    run = client.get_run(run_id)
    tmp = tempfile.TemporaryDirectory(prefix="gradlab-plot-")
    try:
        for name in FILES:
            client.download_artifacts(run_id, name, tmp.name)
    except BaseException:
        tmp.cleanup()
        raise
    return _drawn_later(client, run_id, run.info.run_name, tmp, gif, elsewhere)


def draw_files_later(client, run_id: str, name: str, files: Path, gif: bool = False,
                     elsewhere: Callable[..., Callable[[], Any]] = forked,
                     ) -> Callable[..., list[str]]:
    """draw_run_later for the run `run_id` (named `name`) whose files are in the folder
    `files` (its artifacts, written before its run is committed): drawn from copies of
    them now, logged to the run by the function returned, once it exists."""
    tmp = tempfile.TemporaryDirectory(prefix="gradlab-plot-")
    try:
        for file in FILES:
            shutil.copy(files / file, tmp.name)
    except BaseException:
        tmp.cleanup()
        raise
    return _drawn_later(client, run_id, name, tmp, gif, elsewhere)


def _drawn_later(client, run_id: str, name: str, tmp: tempfile.TemporaryDirectory, gif: bool,
                 elsewhere: Callable[..., Callable[[], Any]]) -> Callable[..., list[str]]:
    """The plots drawn by `elsewhere` where they need the run's objective (a 2-D run's:
    torch, which that process may have loaded), else in a process forked from this one
    (numpy and pyplot alone)."""
    from runner import plots  # noqa: F401 - loaded here, not by a child forked meanwhile

    folder = Path(tmp.name)
    pyplot()  # here, before the fork: the report that a sweep builds meanwhile needs it too
    plane = _plane(folder)
    drawing = (elsewhere if plane else forked)(
        _draw_files, folder, name, gif, plane,
        default="the process drawing them ended unexpectedly")

    def log(keep: bool = True) -> list[str]:
        try:
            drawn = drawing()
            if not keep:
                return []
            if isinstance(drawn, str):  # what failed, said by the drawing process
                raise PlotError(drawn)
            client.log_artifacts(run_id, str(folder / "plots"))
            return drawn
        finally:
            tmp.cleanup()

    return log


def _draw_files(folder: Path, name: str, gif: bool, plane: bool) -> list[str] | str:
    """The plots of the run whose files are in `folder`, drawn into folder/plots (with its
    objective's scene if the run is 2-D, `plane`: _plane): their names, or what failed
    (`Type: message`)."""
    from runner.plots import Scene, draw_plots

    try:
        out = folder / "plots"
        out.mkdir()
        record = record_from_files(folder)
        draw_plots(out, {"plots": True, "gif": gif}, record,
                   _scene(folder, record) if plane else Scene(), name)
        return sorted(p.name for p in out.iterdir())
    except Exception as exc:  # noqa: BLE001 - said where the plots were asked for
        return describe(exc)


def _scene(folder: Path, record: Record):
    """What a 2-D run's plots need of its objective (its contour, a line fit's data),
    from the objective its config.yaml builds; only a 2-D run's plots show more than the
    record (runner.plots.draw_plots)."""
    from runner.artifacts import scene
    from runner.build import build_objective
    from runner.spec import RunSpec

    config = yaml.safe_load((folder / "config.yaml").read_text())
    return scene(build_objective(RunSpec(config, {})), record)


def _plane(folder: Path) -> bool:
    """Whether the run whose files are in `folder` is 2-D (its plots need its objective);
    where that cannot be read, as if it were (the drawing process says what is wrong)."""
    try:
        return len(json.loads((folder / "result.json").read_text())["x_final"]) == 2
    except (OSError, ValueError, KeyError, TypeError):
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.plot", description=__doc__.split(
        "\n\n")[0].split(": ", 1)[1])
    parser.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    parser.add_argument("--uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, "
                                      "else sqlite:///mlflow.db here)")
    parser.add_argument("--gif", action="store_true", help="also trajectory.gif (2-D)")
    args = parser.parse_args(argv)
    from runner.tracking.client import StoreError, client_for, resolve_uri

    client = client_for(resolve_uri(args.uri, Path.cwd()))
    failed = 0
    for run_id in args.run_ids:
        try:
            print(f"{run_id}: {', '.join(draw_run(client, run_id, args.gif))}")
        except (StoreError, PlotError, OSError, KeyError, ValueError) as exc:
            print(f"error: {run_id}: {str(exc).splitlines()[0] if str(exc) else exc!r}",
                  file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
