"""Convergence curves: each group's best configuration, median and IQR over seeds."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict

import numpy as np

from runner.headless import margins, pyplot
from runner.report.data import RunData
from runner.report.groups import Band, Group, band, label

MAX_PANELS = 6
# float64 resolves f − f* no finer than this times the larger of |f*| and the starting gap
EPS = float(np.finfo(np.float64).eps)


def floor_of(runs: list[RunData], shift: float = 0.0) -> float:
    """Machine precision relative to the values drawn: EPS · max(|f*|, |v₀|), with f* =
    final_loss − final_suboptimality where known (else the `shift` subtracted from f) and
    v₀ each run's first value drawn (f₀ − f*, or f₀ − shift). Below it a difference is
    rounding, not progress (0 when nothing is known)."""
    f_star = [r.metrics["final_loss"] - r.metrics["final_suboptimality"] for r in runs
              if "final_suboptimality" in r.metrics and "final_loss" in r.metrics]
    first = [r.history.values[0] - shift for r in runs
             if r.history is not None and len(r.history.values)]
    scale = [abs(v) for v in [*f_star, shift, *first] if math.isfinite(v)]
    return EPS * max(scale, default=0.0)


def baseline(runs: list[RunData]) -> float:
    """What a panel of f (f* unknown) subtracts: f_L, the lowest f its runs reached, where
    that is 0 or below (a log axis cannot show f ≤ 0, and |f| is another curve); else 0."""
    if all(r.key == "suboptimality" for r in runs):
        return 0.0
    lows = [float(np.min(v[np.isfinite(v)])) for r in runs if r.history is not None
            and np.isfinite(v := r.history.values).any()]
    return min(0.0, *lows)


def panels(groups: list[Group]) -> dict[str, list[Group]]:
    """Groups by objective, at most MAX_PANELS objectives."""
    out: dict[str, list[Group]] = defaultdict(list)
    for g in groups:
        out[g.objective].append(g)
    return dict(list(out.items())[:MAX_PANELS])


def convergence(groups: list[Group]):
    """One row per objective: median (line) and IQR (band) of each group's best
    configuration over its seeds, against step (left) and wall time (right), log scale,
    floored at machine precision; a diverged seed's band stops at the divergence line."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    rows = panels(groups)
    fig, axes = plt.subplots(len(rows), 2, figsize=(11, 3.6 * len(rows)), dpi=90,
                             squeeze=False)
    colours = _colours(groups)
    for row, (objective, members) in zip(axes, rows.items()):
        runs = [r for g in members for r in g.replicates]
        known = all(r.key == "suboptimality" for r in runs)
        shift = baseline(runs)
        floor = floor_of(runs, shift)
        bands = {g.values: _minus(b, shift) for g in members
                 if (b := band(g.replicates)) is not None}
        lo, line, top = _limits(list(bands.values()), floor)
        for g in members:
            if g.values in bands:
                b = bands[g.values]
                for ax, x in zip(row, (b.steps, b.seconds)):
                    _draw(ax, x, b, (lo, line), colours[g.values[1:]], label(g))
        for ax, xlabel in zip(row, ("step", "wall time (s)")):
            if 0 < floor and lo <= floor:
                ax.axhline(floor, color="grey", ls=":", lw=1, gid="precision")
            if top > line:
                _divergence_line(ax, line)
            ax.set_yscale("log")
            ax.set_ylim(lo, top)
            ax.xaxis.set_major_locator(MaxNLocator(6))
            ax.set_xlabel(xlabel)
            ax.set_ylabel("f(x) − f*" if known else "f(x)" if not shift
                          else f"f(x) − f_L   (f_L = {shift:.4g}, the lowest f reached)")
            ax.set_title(objective, fontsize=10)
            ax.grid(True, which="major", alpha=0.3)
        row[0].legend(fontsize=7, loc="best")
    fig.suptitle("median and interquartile range over seeds, best configuration per group",
                 fontsize=10)
    # log-scale ticks and a label left of each panel and below it; the suptitle, then each
    # row's titles, above
    margins(fig, left=0.9, right=0.25, bottom=0.6, top=0.8, wspace=0.9, hspace=1.0)
    return fig


def _limits(bands: list[Band], floor: float) -> tuple[float, float, float]:
    """(bottom, divergence line, top) of the y axis. The bottom: half the lowest value
    drawn, not below machine precision (`floor`). The line: 10x the highest median or
    starting spread; a quartile beyond it (a seed blowing up) stops there, and the axis
    keeps a decade above it for the line's label rather than stretching over tens of
    decades. Without such a quartile there is no line and the line is the top."""
    low = np.concatenate([np.r_[b.median, b.q25] for b in bands] or [np.ones(1)])
    high = np.concatenate([np.r_[b.median, b.q75[:1]] for b in bands] or [np.ones(1)])
    low, high = (v[np.isfinite(v) & (v > 0)] for v in (low, high))
    lo = max(low.min(initial=1.0), floor)
    line = max(high.max(initial=lo) * 10, lo * 10)
    beyond = any(np.any(np.r_[b.median, b.q75] > line) for b in bands)
    return lo / 2, line, line * 10 if beyond else line


def _minus(b: Band, shift: float) -> Band:
    if not shift:
        return b
    return dataclasses.replace(b, median=b.median - shift, q25=b.q25 - shift, q75=b.q75 - shift)


def _draw(ax, x: np.ndarray, b: Band, limits: tuple[float, float], colour, text: str) -> None:
    """Values below the range sit on its floor; above it (+inf: diverged), on the line."""
    lo, line = limits
    ax.plot(x, np.clip(b.median, lo, line), color=colour, lw=1.6, label=text)
    ax.fill_between(x, np.clip(b.q25, lo, line), np.clip(b.q75, lo, line), color=colour,
                    alpha=0.2, lw=0)


def _divergence_line(ax, y: float) -> None:
    ax.axhline(y, color="crimson", ls="--", lw=0.8, gid="divergence")
    ax.text(0.995, y, "diverged ↑", transform=ax.get_yaxis_transform(), ha="right",
            va="bottom", fontsize=7, color="crimson")


def _colours(groups: list[Group]) -> dict:
    keys = list(dict.fromkeys(g.values[1:] for g in groups))
    cmap = pyplot().get_cmap("tab10" if len(keys) <= 10 else "tab20")
    return {k: cmap(i % cmap.N) for i, k in enumerate(keys)}
