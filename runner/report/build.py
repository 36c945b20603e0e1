"""Build a sweep's (or an experiment's) report: read in bulk, draw, write the files."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path

from runner.headless import pyplot
from runner.report.curves import convergence
from runner.report.data import RunData, load_runs, run_data
from runner.report.groups import Group, group_keys, make_groups
from runner.report.page import Section, render
from runner.report.profile import Profile, profile
from runner.report.stability import StabilityMap, axes_for, stability
from runner.report.tables import best_rows, markdown, write_csv
from runner.tracking import history

HELP = {
    "convergence": "One curve per group: the median over seeds of the group's best configuration "
                   "(lowest median final value over its seeds, a diverged seed counting as "
                   "+∞), the band its interquartile range. Log scale; f − f* where the "
                   "minimum is known (dotted line: f* to machine precision). Left against "
                   "steps, right against wall time.",
    "stability": "Median final f − f* (or f) over two swept params, one panel per objective: "
                 "bright is good. ✕ marks cells where runs diverged or failed (k/n: k of n).",
    "profile": "Dolan–Moré: the fraction of problems (objective × seed) each configuration "
               "solves within a factor α of the fastest, in steps to reach f − f_L ≤ τ (f₀ − "
               "f_L). High and to the left is better; the value at α = 1 is how often it is "
               "fastest, the plateau how often it gets there at all.",
    "best": "Each group's best configuration, ranked by median_final (its median final "
            "f − f*, or f, over seeds; ∞ when half of them diverged), and that "
            "configuration's best run. Also in best.md and best.csv.",
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


def build(client, experiment_id: str, parent_run_id: str | None,
          out: Path, options: Options | None = None, title: str | None = None,
          found: list | None = None) -> Report:
    """Read the runs (unless the caller has: `found`, MLflow runs), draw every figure,
    write report.html, PNGs, best.md and best.csv."""
    options = options or Options()
    clock = _Clock()
    runs = run_data(found) if found is not None else load_runs(client, experiment_id, parent_run_id)
    clock.lap("search")
    keys = group_keys(options.group)
    groups = make_groups(runs, keys)
    several = len({r.tags.get("objective") for r in runs}) > 1
    # the profile needs every history; the curves only those of each group's best config
    read_histories(client, runs if several else [r for g in groups for r in g.replicates],
                   options.history)
    clock.lap("histories")
    report = Report(runs, groups, best_rows(groups, keys))
    if any(g.replicates for g in groups):
        report.convergence = convergence(groups)
    x, y = axes_for(runs, options.x, options.y)
    if x is not None:
        report.stability = stability(runs, x, y)
    if several:
        report.profile = profile(runs, options.tau)
    clock.lap("figures")
    report.files = write(report, out, title or "gradlab report", _meta(runs))
    clock.lap("files")
    report.seconds = clock.laps
    return report


def read_histories(client, runs: list[RunData], method: str = "auto") -> None:
    """Attach to each run the history of its metric (`RunData.key`), read in bulk."""
    by_id = {r.run_id: r for r in runs}
    for key in sorted({r.key for r in runs}):
        ids = [r.run_id for r in runs if r.key == key]
        for run_id, h in history.read(client, ids, key, method).items():
            by_id[run_id].history = h


def write(report: Report, out: Path, title: str, meta: str) -> list[Path]:
    """PNGs, tables and the page into `out`; the figures are closed."""
    out.mkdir(parents=True, exist_ok=True)
    figures = {"convergence": report.convergence,
               "stability": report.stability and report.stability.figure,
               "profile": report.profile and report.profile.figure}
    pngs = {name: _png(fig) for name, fig in figures.items() if fig is not None}
    files = []
    for name, png in pngs.items():
        files.append(out / f"{name}.png")
        files[-1].write_bytes(png)
    (out / "best.md").write_text(markdown(report.rows))
    write_csv(report.rows, out / "best.csv")
    titles = {"convergence": "Convergence", "stability": "Stability map",
              "profile": "Performance profile"}
    sections = [Section(n, titles[n], HELP[n], [(titles[n], png)]) for n, png in pngs.items()]
    sections.append(Section("best", "Best configuration per group", HELP["best"], [],
                            report.rows))
    (out / "report.html").write_text(render(title, meta, sections), encoding="utf-8")
    return [*files, out / "best.md", out / "best.csv", out / "report.html"]


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
