"""The stability map: median final value over two swept params, diverged cells marked."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from runner.headless import pyplot
from runner.report.axes import Axis, axes_for, axis, categories, pooled
from runner.report.curves import MAX_PANELS
from runner.report.data import RunData

__all__ = ["Cell", "StabilityMap", "axes_for", "stability"]

DECADES = 16  # the colour scale's span
MAX_LABELLED = 120  # cells; larger maps are not annotated with their values


@dataclass
class Cell:
    """The runs at one (x, y): how many, how many diverged or failed, the others' finals."""

    runs: int = 0
    bad: int = 0
    finals: list[float] = field(default_factory=list)
    key: str = "loss"  # what `finals` hold: suboptimality (f − f*) or loss (f)

    @property
    def median(self) -> float:
        return float(np.median(self.finals)) if self.finals else math.nan


@dataclass
class StabilityMap:
    """The figure and the data behind it."""

    figure: object
    x: str
    y: str | None
    x_values: list[str]
    y_values: list[str]
    cells: dict[str, dict[tuple[str, str], Cell]]  # objective -> (x value, y value) -> cell
    x_axis: Axis | None = None
    y_axis: Axis | None = None  # y, then the categories x and y alone would pool


def stability(runs: list[RunData], x: str, y: str | None = None) -> StabilityMap:
    """Median final f − f* (or f) per objective over the cells of x and y, never pooling
    categories (optimizers, sweeps: those x and y leave pooled get rows of their own); ✕
    marks cells where runs diverged or failed (k/n: k of the n runs there)."""
    xa = axis(runs, [x])
    ya = axis(runs, [y] if y else [])
    split = [k for k in pooled(runs, lambda r: (xa.value(r), ya.value(r)), categories(runs))
             if k not in (x, y)]
    if split:
        ya = axis(runs, [*ya.keys, *split])
    cells: dict[str, dict[tuple[str, str], Cell]] = defaultdict(lambda: defaultdict(Cell))
    for r in runs:
        cell = cells[r.tags.get("objective", "—")][(xa.value(r), ya.value(r))]
        cell.runs += 1
        cell.bad += r.bad
        if not r.bad and math.isfinite(r.final):
            cell.finals.append(r.final)
            cell.key = r.key
    cells = {k: dict(v) for k, v in list(cells.items())[:MAX_PANELS]}
    figure = _heatmaps(cells, xa, ya)
    return StabilityMap(figure, x, y, xa.values, ya.values, cells, xa, ya)


def _heatmaps(cells, xa: Axis, ya: Axis):
    plt = pyplot()
    n = len(cells)
    cols = min(n, 2)
    rows = -(-n // cols)
    longest = max(map(len, ya.ticks), default=0)
    width = min(max(4.5, 0.55 * len(xa.values) + 2.5 + 0.06 * longest), 9)
    height = max(2.6, 0.45 * len(ya.values) + 1.8)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), dpi=90,
                             squeeze=False)
    for ax, (objective, grid) in zip(axes.flat, cells.items()):
        _panel(fig, ax, grid, xa, ya)
        ax.set_xlabel(xa.title)
        ax.set_ylabel(ya.title)
        ax.set_title(objective, fontsize=10)
    for ax in axes.flat[n:]:
        ax.remove()
    fig.tight_layout()
    return fig


def _panel(fig, ax, grid: dict, xa: Axis, ya: Axis) -> None:
    """One objective: cells coloured by median (log scale, bright = low), ✕ where runs
    diverged or failed, grey where no run finished."""
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    xs, ys = xa.values, ya.values
    values = np.array([[grid.get((u, v), Cell()).median for u in xs] for v in ys])
    positive = values[values > 0]
    norm = None
    if positive.size:
        # at most DECADES decades: f − f* of 1e-300 next to 1 would leave no colour for the rest
        top = positive.max()
        norm = LogNorm(max(positive.min(), top * 10.0**-DECADES), top, clip=True)
        values = np.where(values <= 0, norm.vmin, values)  # f − f* of 0 (or below): the best
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis_r", norm=norm, aspect="auto",
                      origin="lower")
    ax.set_facecolor("#d9d9d9")
    for (u, v), cell in grid.items():
        i, j = ys.index(v), xs.index(u)
        if cell.bad:
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="xx",
                                   edgecolor="crimson", lw=0))
            text = "✕" if cell.bad == cell.runs else f"✕ {cell.bad}/{cell.runs}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="crimson",
                    fontweight="bold", bbox={"facecolor": "white", "edgecolor": "none",
                                             "alpha": 0.85, "pad": 1.5})
        elif len(xs) * len(ys) <= MAX_LABELLED and norm is not None and cell.finals:
            ax.text(j, i, f"{cell.median:.1e}", ha="center", va="center", fontsize=7,
                    color="white" if norm(max(cell.median, norm.vmin)) > 0.5 else "black")
    if xa.edge_ticks is not None:
        ax.set_xticks(np.arange(len(xs) + 1) - 0.5, xa.edge_ticks, fontsize=8)
    else:
        long = len(xs) > 6 or max(map(len, xa.ticks), default=0) > 8
        ax.set_xticks(range(len(xs)), xa.ticks, rotation=35 if long else 0,
                      ha="right" if long else "center", fontsize=8)
    if ya.edge_ticks is not None:
        ax.set_yticks(np.arange(len(ys) + 1) - 0.5, ya.edge_ticks, fontsize=8)
    else:
        ax.set_yticks(range(len(ys)), ya.ticks, fontsize=8)
    if norm is not None:
        known = all(c.key == "suboptimality" for c in grid.values() if c.finals)
        fig.colorbar(image, ax=ax, label="median final " + ("f − f*" if known else "f"))
