"""Build a report of one or more sweeps (or of an experiment): read in bulk, draw, write."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path

from runner.constants import PARENT_TAG
from runner.headless import pyplot
from runner.report import frames, search
from runner.report.curves import convergence
from runner.report.data import RunData, children_filter, run_data
from runner.report.groups import Group, group_keys, make_groups
from runner.report.page import Command, Section, render
from runner.report.profile import Profile, profile
from runner.report.stability import StabilityMap, axes_for, stability
from runner.report.sweeps import Sweep, read_sweeps
from runner.report.tables import best_rows, markdown, write_csv
from runner.tracking import history
from runner.tracking.client import search_all
from runner.tracking.ui import run_url, ui_base

HELP = {
    "convergence": "One curve per group: the median over seeds of the group's best configuration "
                   "(lowest median final value over its seeds, a diverged seed counting as "
                   "+∞), the band its interquartile range. Log scale; f − f* where the "
                   "minimum is known. The axis stops at machine precision (dotted line: "
                   "2.2e-16 × the larger of |f*| and the starting gap; lower values are drawn "
                   "on it, as rounding). A quartile that diverged stops at the dashed "
                   "‘diverged’ line. Left against steps, right against wall time.",
    "stability": "Median final f − f* (or f) over two swept params, one panel per objective: "
                 "bright is good. Optimizers (and other categories) never share a cell: "
                 "those the axes do not tell apart get rows of their own. A param with many "
                 "sampled values (an Optuna search) is binned. ✕ marks cells where runs "
                 "diverged or failed (k/n: k of n).",
    "profile": "Dolan–Moré: the fraction of problems (objective × seed) each configuration "
               "solves within a factor α of the fastest, in steps to reach f − f_L ≤ τ (f₀ − "
               "f_L). High and to the left is better; the value at α = 1 is how often it is "
               "fastest, the plateau how often it gets there at all.",
    "best": "Each group's best configuration, ranked within each objective by median_final "
            "(its median final f − f*, or f, over seeds; ∞ when half of them diverged), "
            "lowest first, and that configuration's best run. Also in best.md and best.csv; "
            "every run is in runs.csv (runner.report.frames).",
}


@dataclass
class Options:
    """What to draw: group keys (params or tags), stability-map axes, profile tolerance."""

    group: tuple[str, ...] | None = None
    x: str | None = None
    y: str | None = None
    tau: float = 1e-3
    history: str = "auto"  # how histories are read: auto, sql, rest, per_run


@dataclass
class Report:
    """What was read and drawn (figures closed, data kept), the files, seconds per stage."""

    runs: list[RunData]
    groups: list[Group]
    rows: list[dict]
    convergence: object | None = None
    stability: StabilityMap | None = None
    profile: Profile | None = None
    files: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    sweeps: list[Sweep] = field(default_factory=list)
    search: dict[str, object] = field(default_factory=dict)  # an Optuna study's figures


def build(client, experiment_id: str, parent_run_id: str | Sequence[str] | None,
          out: Path, options: Options | None = None, title: str | None = None,
          found: list | None = None, *, ui: str | None = None,
          histories: dict[str, dict[str, history.History]] | None = None) -> Report:
    """Read the runs of the sweeps `parent_run_id` (one id or several, to compare them on
    one page, groups told apart by sweep), or of the experiment when None, unless the
    caller has (`found`, MLflow runs, and `histories`, by metric key then run id); draw
    every figure; write report.html, PNGs, best.md, best.csv and runs.csv. Run ids link to
    the MLflow UI at `ui` (default: the tracking URI, where it is an HTTP(S) server)."""
    options = options or Options()
    clock = _Clock()
    parents = [parent_run_id] if isinstance(parent_run_id, str) else list(parent_run_id or [])
    sweeps = read_sweeps(client, parents)
    importance = search.importances_later(sweeps)
    if found is None:
        found = _search(client, experiment_id, parents, sweeps)
    runs = run_data(found)
    several = len(sweeps) > 1
    if several:  # the sweep is a group key: tag each run with its parent's name
        names = {s.run_id: s.name for s in sweeps}
        for r in runs:
            r.tags["sweep"] = names.get(r.tags.get(PARENT_TAG, ""), "—")
    clock.lap("search")
    keys = group_keys(options.group, by_sweep=several)
    groups = make_groups(runs, keys)
    objectives = len({r.tags.get("objective") for r in runs}) > 1
    # the profile needs every history; the curves only those of each group's best config
    read_histories(client, runs if objectives else [r for g in groups for r in g.replicates],
                   options.history, histories)
    clock.lap("histories")
    report = Report(runs, groups, best_rows(groups, keys), sweeps=sweeps)
    if any(g.replicates for g in groups):
        report.convergence = convergence(groups)
    x, y = axes_for(runs, options.x, options.y)
    if x is not None:
        report.stability = stability(runs, x, y)
    if objectives:
        report.profile = profile(runs, options.tau)
    report.search = search.figures(runs, sweeps, importance())
    clock.lap("figures")
    base = ui_base(ui or getattr(client, "tracking_uri", None))
    report.files = write(report, out, title or "gradlab report", _meta(runs), base,
                         frames.runs_frame(found))
    clock.lap("files")
    report.seconds = clock.laps
    return report


def read_histories(client, runs: list[RunData], method: str = "auto",
                   given: dict[str, dict[str, history.History]] | None = None) -> None:
    """Attach to each run the history of its metric (`RunData.key`), read in bulk, or
    taken from `given` (by key, then run id)."""
    by_id = {r.run_id: r for r in runs}
    for key in sorted({r.key for r in runs}):
        ids = [r.run_id for r in runs if r.key == key]
        found = (history.read(client, ids, key, method) if given is None
                 else {i: given[key][i] for i in ids if i in given.get(key, {})})
        for run_id, h in found.items():
            by_id[run_id].history = h


def write(report: Report, out: Path, title: str, meta: str, ui: str | None = None,
          runs_frame=None) -> list[Path]:
    """PNGs, tables and the page into `out`; the figures are closed. Run ids link to the
    MLflow UI at `ui` where given."""
    out.mkdir(parents=True, exist_ok=True)
    figures = {"convergence": report.convergence,
               "stability": report.stability and report.stability.figure,
               "profile": report.profile and report.profile.figure, **report.search}
    pngs = {name: _png(fig) for name, fig in figures.items() if fig is not None}
    files = []
    for name, png in pngs.items():
        files.append(out / f"{name}.png")
        files[-1].write_bytes(png)
    (out / "best.md").write_text(markdown(report.rows))
    write_csv(report.rows, out / "best.csv")
    tables = [out / "best.md", out / "best.csv"]
    if runs_frame is not None:
        runs_frame.to_csv(out / "runs.csv", index=False)
        tables.append(out / "runs.csv")
    links = {}
    if ui:
        links = {"run_id": {r.run_id: run_url(ui, r.experiment_id, r.run_id)
                            for r in report.runs}}
    titles = {"convergence": "Convergence", "stability": "Stability map",
              "profile": "Performance profile", "history": "Optimization history",
              "importance": "Parameter importances"}
    helps = {**HELP, **search.HELP}
    sections = [Section(n, titles[n], helps[n], [(titles[n], png)]) for n, png in pngs.items()]
    sections.append(Section("best", "Best configuration per group", HELP["best"], [],
                            report.rows, links))
    commands = [Command(s.name, s.command, ui and run_url(ui, s.experiment_id, s.run_id))
                for s in report.sweeps]
    (out / "report.html").write_text(render(title, meta, sections, commands), encoding="utf-8")
    return [*files, *tables, out / "report.html"]


def _search(client, experiment_id: str, parents: list[str], sweeps: list[Sweep]) -> list:
    """The sweeps' children, each in its parent's experiment; the experiment's runs without
    parents."""
    if not parents:
        return search_all(client, experiment_id)
    where = {s.run_id: s.experiment_id for s in sweeps}
    return [run for p in parents
            for run in search_all(client, where.get(p, experiment_id), children_filter(p))]


def _png(fig) -> bytes:
    buffer = BytesIO()
    fig.savefig(buffer, format="png")
    pyplot().close(fig)
    return buffer.getvalue()


def _meta(runs: list[RunData]) -> str:
    counts = Counter(r.status for r in runs)
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{len(runs)} runs ({statuses}) · generated {stamp}"


class _Clock:
    """Seconds per stage, for the bench and the CLI's summary line."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self.last
        self.last = now
