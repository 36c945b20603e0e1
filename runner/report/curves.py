"""Convergence curves: each group's best configuration, median and IQR over seeds."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from runner.headless import pyplot
from runner.report.data import RunData
from runner.report.groups import Band, Group, band

MAX_PANELS = 6
# f − f* is drawn no lower than this times |f*|: f near f* ≠ 0 is resolved no finer in float64
EPS = float(np.finfo(np.float64).eps)


def floor_of(runs: list[RunData]) -> float:
    """Machine precision at the known minimum f* = final_loss − final_suboptimality (0 where
    f* = 0: there f − f* = f is resolved to the last digit however small)."""
    f_star = [r.metrics["final_loss"] - r.metrics["final_suboptimality"] for r in runs
              if "final_suboptimality" in r.metrics and "final_loss" in r.metrics]
    return EPS * max([0.0, *(abs(f) for f in f_star if math.isfinite(f))])


def panels(groups: list[Group]) -> dict[str, list[Group]]:
    """Groups by objective, at most MAX_PANELS objectives."""
    out: dict[str, list[Group]] = defaultdict(list)
    for g in groups:
        out[g.objective].append(g)
    return dict(list(out.items())[:MAX_PANELS])


def convergence(groups: list[Group]):
    """One row per objective: median (line) and IQR (band) of each group's best
    configuration over its seeds, against step (left) and wall time (right), log scale."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    rows = panels(groups)
    fig, axes = plt.subplots(len(rows), 2, figsize=(11, 3.6 * len(rows)), dpi=90,
                             squeeze=False)
    colours = _colours(groups)
    for row, (objective, members) in zip(axes, rows.items()):
        runs = [r for g in members for r in g.replicates]
        known = all(r.key == "suboptimality" for r in runs)
        floor = floor_of(runs) if known else 0.0
        bands = {g.values: b for g in members if (b := band(g.replicates)) is not None}
        lo, hi = _limits(list(bands.values()), floor)
        for g in members:
            if g.values in bands:
                b = bands[g.values]
                for ax, x in zip(row, (b.steps, b.seconds)):
                    _draw(ax, x, b, (lo, hi), colours[g.values[1:]], _label(g))
        for ax, xlabel in zip(row, ("step", "wall time (s)")):
            if 0 < floor and lo <= floor:
                ax.axhline(floor, color="grey", ls=":", lw=1)
            ax.set_yscale("log")
            ax.set_ylim(lo, hi)
            ax.xaxis.set_major_locator(MaxNLocator(6))
            ax.set_xlabel(xlabel)
            ax.set_ylabel("f(x) − f*" if known else "f(x)")
            ax.set_title(objective, fontsize=10)
            ax.grid(True, which="major", alpha=0.3)
        row[0].legend(fontsize=7, loc="best")
    fig.suptitle("median and interquartile range over seeds, best configuration per group",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # room for the suptitle
    return fig


def _limits(bands: list[Band], floor: float) -> tuple[float, float]:
    """The y range: down to the lowest value drawn (not below `floor`), up to 10x the
    highest median or starting spread; a quartile beyond that (a seed blowing up) is drawn
    on the ceiling rather than stretching the axis over tens of decades."""
    low = np.concatenate([np.r_[b.median, b.q25] for b in bands] or [np.ones(1)])
    high = np.concatenate([np.r_[b.median, b.q75[:1]] for b in bands] or [np.ones(1)])
    low, high = (v[np.isfinite(v) & (v > 0)] for v in (low, high))
    lo = low.min(initial=1.0)
    lo = max(lo, floor) if floor > 0 else lo
    return lo / 2, max(high.max(initial=lo) * 10, lo * 10)


def _draw(ax, x: np.ndarray, b: Band, limits: tuple[float, float], colour, label: str) -> None:
    """Values below the range sit on its floor; +inf (diverged) on its ceiling."""
    lo, hi = limits
    ax.plot(x, np.clip(np.where(np.isfinite(b.median), b.median, np.nan), lo, hi),
            color=colour, lw=1.6, label=label)
    ax.fill_between(x, np.clip(b.q25, lo, hi), np.clip(b.q75, lo, hi), color=colour,
                    alpha=0.2, lw=0)


def _label(g: Group) -> str:
    shown = [f"{k.split('.')[-1]}={v}" for k, v in g.config.items()]
    return (" · ".join(g.values[1:]) + (f"  ({', '.join(shown)})" if shown else "")
            + f"  n={len(g.replicates)}")


def _colours(groups: list[Group]) -> dict:
    keys = list(dict.fromkeys(g.values[1:] for g in groups))
    cmap = pyplot().get_cmap("tab10" if len(keys) <= 10 else "tab20")
    return {k: cmap(i % cmap.N) for i, k in enumerate(keys)}
