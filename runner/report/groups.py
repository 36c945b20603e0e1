"""Runs into groups and configurations; each group's best configuration; seed statistics.

A *configuration* is what a run computes: its varying params except the replicate `seed`.
A *group* is a set of runs sharing the values of the group keys (by default objective ×
optimizer × gradient). Its *best configuration* has the lowest median final value over its
seeds (f − f* where f* is known, else f; a diverged or failed seed counts as +inf, so a
setting that diverges on half its seeds loses to one that never does; ties go to the lower
best seed). Its curve is the median over that configuration's seeds, and its best run the
lowest final loss among them.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from runner.report.data import SEED, History, RunData, display, varying

DEFAULT_GROUP = ("objective", "optimizer", "gradient")
# group keys whose values name themselves (sgd, autograd, sweep-1a2b3c4d); a param's value is
# shown with its name (momentum=0.9)
SELF_NAMED = ("objective", "optimizer", "gradient", "sweep")
# stands in for +inf inside np.quantile: finite, so interpolation never meets inf − inf
HUGE = 1e300


@dataclass
class Group:
    """The runs sharing one value of the group keys, and the best configuration among them."""

    values: tuple[str, ...]
    runs: list[RunData]
    best: RunData | None
    replicates: list[RunData]  # the runs of the best configuration (its seeds)
    config: dict[str, str]  # the best configuration's params that vary within the group
    keys: tuple[str, ...] = ()  # what `values` are the values of (group_keys)

    @property
    def objective(self) -> str:
        return self.values[0]


def short(key: str) -> str:
    """A param's last name: optimizer.momentum -> momentum."""
    return key.split(".")[-1]


def label(g: Group) -> str:
    """A legend entry: the group's values beyond the objective (a param's named:
    `sgd · momentum=0.9`), its best configuration in parentheses, the number of seeds."""
    parts = ([v if k in SELF_NAMED else f"{short(k)}={display(v)}"
              for k, v in zip(g.keys[1:], g.values[1:])] if g.keys else list(g.values[1:]))
    shown = [f"{short(k)}={display(v)}" for k, v in g.config.items()]
    return (" · ".join(parts) + (f"  ({', '.join(shown)})" if shown else "")
            + f"  n={len(g.replicates)}")


def group_keys(keys: tuple[str, ...] | None, by_sweep: bool = False) -> tuple[str, ...]:
    """The user's group keys with `objective` first: groups never mix problems (nor
    sweeps, with `by_sweep`: a report of several sweeps compares them)."""
    first = ("objective", "sweep") if by_sweep else ("objective",)
    return (*first, *[k for k in keys or DEFAULT_GROUP if k not in first])


def configuration(run: RunData, keys: list[str]) -> tuple[str, ...]:
    """The run's values of `keys` ('—' where it has no such param)."""
    return tuple(run.params.get(k, "—") for k in keys)


def make_groups(runs: list[RunData], keys: tuple[str, ...] | None = None) -> list[Group]:
    """Groups in order of their values, each with its best configuration and its seeds."""
    keys = group_keys(keys)
    config_keys = [k for k in varying(runs) if k != SEED]
    by_value: dict[tuple[str, ...], list[RunData]] = defaultdict(list)
    for run in runs:
        by_value[tuple(run.get(k) for k in keys)].append(run)
    groups = []
    for values in sorted(by_value):
        members = by_value[values]
        configs: dict[tuple[str, ...], list[RunData]] = defaultdict(list)
        for r in members:
            configs[configuration(r, config_keys)].append(r)
        replicates = configs[min(configs, key=lambda c: (score(configs[c]), c))]
        finite = [r for r in replicates if math.isfinite(r.metrics.get("final_loss", math.nan))]
        best = min(finite, key=lambda r: (r.metrics["final_loss"], r.run_id), default=None)
        swept = [k for k in varying(members) if k != SEED and k in config_keys]
        config = dict(zip(swept, configuration(replicates[0], swept)))
        groups.append(Group(values, members, best, replicates, config, keys))
    return groups


def final_or_inf(run: RunData) -> float:
    """A run's final value, +inf where it diverged, failed or logged none."""
    return run.final if not run.bad and math.isfinite(run.final) else math.inf


def score(replicates: list[RunData]) -> tuple[float, float]:
    """(median over seeds, best seed) of the final values: lower is better."""
    finals = [final_or_inf(r) for r in replicates]
    return statistics.median(finals), min(finals)


@dataclass
class Band:
    """Median and interquartile range across runs, at common steps."""

    steps: np.ndarray
    seconds: np.ndarray  # median wall time at each step
    median: np.ndarray
    q25: np.ndarray
    q75: np.ndarray


def band(runs: list[RunData]) -> Band | None:
    """Median and quartiles across the runs' histories, aligned by step.

    A run that stopped early holds its last value (it converged, or ran out of steps); a
    diverged run counts as +inf after its end (and so does a nan), so it pulls the
    quartiles up instead of vanishing from them.
    """
    series = [r for r in runs if r.history is not None and len(r.history.steps)]
    if not series:
        return None
    steps = np.unique(np.concatenate([r.history.steps for r in series]))
    values = np.vstack([_hold(r.history, steps, r.bad, "values") for r in series])
    seconds = np.vstack([_hold(r.history, steps, False, "seconds") for r in series])
    q25, median, q75 = quartiles(values)
    return Band(steps, np.median(seconds, axis=0), median, q25, q75)


def quartiles(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quartiles along axis 0 where +inf (or nan) means diverged: a quantile that falls
    between a finite value and an infinite one is infinite. (np.quantile itself returns nan
    there, and even for the median of (1, 1, inf), from inf · 0.)"""
    bad = ~np.isfinite(values)
    highest = np.max(np.where(bad, -np.inf, values), axis=0)
    q = np.quantile(np.where(bad, HUGE, values), [0.25, 0.5, 0.75], axis=0)
    return tuple(np.where(row > highest, np.inf, row) for row in q)


def _hold(history: History, steps: np.ndarray, diverged: bool, field: str) -> np.ndarray:
    """`field` at `steps`: the last value at or before each step; +inf past a divergence."""
    data = getattr(history, field)
    at = np.searchsorted(history.steps, steps, side="right") - 1
    out = data[np.clip(at, 0, None)].astype(np.float64)
    if diverged:
        out[steps > history.steps[-1]] = np.inf
    return out
