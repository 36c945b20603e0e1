"""The stability map's axes: which keys, and where each run's value puts it.

A cell never pools categories: runs of two optimizers (gradient methods, sweeps, or values of
a non-numeric param) do not share a cell. The default axes are the swept numeric params
with the most values, except that when they do not already tell the categories apart, the
first category they leave pooled becomes the y axis; categories still pooled after that
join the y axis (rows `adam · 0.9`).

A numeric param with more than MAX_TICKS values (sampled from a continuous range, as in an
Optuna search) is binned: BINS bins between its extremes, log-spaced when its values are
positive and span at least a decade, every bin drawn (an empty one grey) and the axis
labelled at the bin edges with two significant digits.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from runner.report.data import (
    SEED,
    RunData,
    bookkeeping,
    display,
    number,
    sort_values,
    varying,
)

MAX_TICKS = 12  # more distinct numeric values than this: a continuous param, binned
BINS = 8
TAGS = ("sweep", "optimizer", "gradient")  # categories recorded as tags, not params


@dataclass
class Scale:
    """One key's positions: its values in order (what a cell is keyed by), their tick
    labels, and the bin edges of a binned numeric key."""

    key: str
    values: list[str]
    ticks: list[str]
    edges: np.ndarray | None = None
    log: bool = False

    def value(self, run: RunData) -> str:
        """The run's position on this scale: its value, or its bin's label."""
        text = run.get(self.key)
        if self.edges is None:
            return text
        i = np.searchsorted(self.edges, float(text), side="right") - 1
        return self.values[int(np.clip(i, 0, len(self.values) - 1))]

    @property
    def title(self) -> str:
        return self.key + ("" if self.edges is None else " (log bins)" if self.log else " (bins)")


@dataclass
class Axis:
    """One axis of the map: one or more scales (a row `sgd · 0.9` is two), or none."""

    scales: list[Scale]
    values: list[str]
    ticks: list[str]

    def value(self, run: RunData) -> str:
        """The run's position: its scale values joined with ' · ', '—' on an empty axis."""
        return " · ".join(s.value(run) for s in self.scales) if self.scales else "—"

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.scales)

    @property
    def title(self) -> str:
        return " · ".join(s.title for s in self.scales)

    @property
    def edge_ticks(self) -> list[str] | None:
        """A binned axis is labelled at its bin edges (short numbers that never overlap),
        every bin drawn, empty ones grey; None for any other axis."""
        if len(self.scales) != 1 or self.scales[0].edges is None:
            return None
        return [_compact(e) for e in self.scales[0].edges]


def scale(runs: list[RunData], key: str) -> Scale:
    """A key's scale: binned where it is numeric with more than MAX_TICKS values, else its
    distinct values in order (long numbers shortened in the tick labels)."""
    values = sort_values(r.get(key) for r in runs)
    numbers = [number(v) for v in values]
    if len(values) <= MAX_TICKS or any(n is None for n in numbers):
        return Scale(key, values, [display(v) for v in values])
    low, high = min(numbers), max(numbers)
    log = low > 0 and high >= 10 * low
    edges = np.geomspace(low, high, BINS + 1) if log else np.linspace(low, high, BINS + 1)
    labels = [f"{_compact(a)}–{_compact(b)}" for a, b in itertools.pairwise(edges)]
    return Scale(key, labels, labels, edges, log)


def axis(runs: list[RunData], keys: Sequence[str]) -> Axis:
    """The axis of these keys, its positions in order of the scales' values."""
    scales = [scale(runs, k) for k in keys]
    if not scales:
        return Axis([], ["—"], [""])
    order = {s.key: {v: i for i, v in enumerate(s.values)} for s in scales}
    seen = {tuple(s.value(r) for s in scales) for r in runs}
    if len(scales) == 1 and scales[0].edges is not None:  # every bin, empty ones too
        seen = {(v,) for v in scales[0].values}
    ranked = sorted(seen, key=lambda t: tuple(order[s.key][v] for s, v in zip(scales, t)))
    tick = {s.key: dict(zip(s.values, s.ticks)) for s in scales}
    return Axis(scales, [" · ".join(t) for t in ranked],
                [" · ".join(tick[s.key][v] for s, v in zip(scales, t)) for t in ranked])


def categories(runs: list[RunData]) -> list[str]:
    """The categorical keys that tell runs of one objective apart: the sweep, optimizer and
    gradient tags, then non-numeric params; a key is kept only where it splits runs the keys
    before it do not (optimizer._target_ adds nothing to the optimizer)."""
    candidates = [*TAGS, *(k for k in varying(runs) if k != SEED and not bookkeeping(k)
                           and any(number(r.params.get(k)) is None for r in runs))]
    kept: list[str] = []
    count = len({r.get("objective") for r in runs})
    for key in candidates:
        n = len({tuple(r.get(k) for k in ("objective", *kept, key)) for r in runs})
        if n > count:
            kept.append(key)
            count = n
    return kept


def pooled(runs: list[RunData], cell: Callable[[RunData], object],
           keys: Sequence[str]) -> list[str]:
    """Of the categorical `keys`, those a cell (of one objective) would otherwise pool,
    each added in turn to what tells cells apart."""
    split: list[str] = []
    for key in keys:
        seen: dict[tuple, str] = {}
        for r in runs:
            where = (r.get("objective"), cell(r), *(r.get(k) for k in split))
            if seen.setdefault(where, r.get(key)) != r.get(key):
                split.append(key)
                break
    return split


def axes_for(runs: list[RunData], x: str | None = None, y: str | None = None
             ) -> tuple[str | None, str | None]:
    """The map's axes: as given, else the numeric params (not seed) with the most distinct
    values; a category the two would pool takes the y axis instead (sgd and adam swept over
    lr: x = optimizer.lr, y = optimizer)."""
    numeric = [k for k in varying(runs) if k != SEED
               and all(number(r.params.get(k)) is not None for r in runs if not r.bad)]
    numeric.sort(key=lambda k: (-len({r.params.get(k) for r in runs}), k))
    cats = categories(runs)
    x = x or next((k for k in [*numeric, *cats] if k != y), None)
    if y is not None or x is None:
        return x, y
    second = next((k for k in numeric if k != x), None)
    keys = [k for k in (x, second) if k is not None]
    shown = axis(runs, keys)
    left = [k for k in pooled(runs, shown.value, cats) if k != x]
    return x, (left[0] if left else second)


def _compact(value: float) -> str:
    """Two significant digits: 0.022 from 1e-3 to 1e4, else 2.2e-4 (not 2.2e-04)."""
    fixed = f"{value:.2g}"
    if "e" in fixed or not 1e-3 <= abs(value) < 1e4:
        mantissa, exponent = f"{value:.1e}".split("e")
        fixed = f"{float(mantissa):g}e{int(exponent)}"
    return fixed
