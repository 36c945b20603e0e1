"""A sweep's runs read back in bulk: params, tags and final metrics in pages of search_runs."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from runner.constants import BAD, PARENT_TAG, ROLE_TAG, STATUS_TAG, SWEEP_ROLE, UNHASHED
from runner.tracking.client import search_all
from runner.tracking.history import History

# the replicate key: runs that differ only in it are one configuration
SEED = "seed"
KEYS = ("loss", "suboptimality")  # the metrics whose histories a report plots (RunData.key)


@dataclass
class RunData:
    """What the report needs of one run."""

    run_id: str
    name: str
    status: str
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, float]
    history: History | None = field(default=None, repr=False)
    experiment_id: str = ""

    def get(self, key: str) -> str:
        """A param by dotted name, else a tag (`objective`, `optimizer`, ...), else '—'."""
        return self.params.get(key, self.tags.get(key, "—"))

    @property
    def key(self) -> str:
        """The metric the report plots (one of KEYS): f − f* where the run knows f*, else f."""
        return "suboptimality" if "final_suboptimality" in self.metrics else "loss"

    @property
    def final(self) -> float:
        """The final value of `key` (nan for a run that logged none)."""
        return self.metrics.get(f"final_{self.key}", math.nan)

    @property
    def bad(self) -> bool:
        """Diverged or failed: no usable final value."""
        return self.status in BAD


def load_runs(client, experiment_id: str, parent_run_id: str | None = None
              ) -> list[RunData]:
    """The runs of a sweep (children of `parent_run_id`) or of a whole experiment.

    Sweep parents themselves (tag role=sweep) are left out.
    """
    query = children_filter(parent_run_id) if parent_run_id else ""
    return run_data(search_all(client, experiment_id, query))


def children_filter(parent_run_id: str) -> str:
    """The search filter for the runs of a sweep: the children of its parent run."""
    return f"tags.`{PARENT_TAG}` = '{parent_run_id}'"


def run_data(found: list) -> list[RunData]:
    """What the report needs of MLflow runs (sweep parents left out), sorted by name."""
    out = []
    for run in found:
        tags = run.data.tags
        if tags.get(ROLE_TAG) == SWEEP_ROLE:
            continue
        out.append(RunData(run.info.run_id, run.info.run_name or run.info.run_id[:8],
                           tags.get(STATUS_TAG, run.info.status.lower()), dict(run.data.params),
                           dict(tags), dict(run.data.metrics),
                           experiment_id=run.info.experiment_id))
    return sorted(out, key=lambda r: (r.name, r.run_id))


def bookkeeping(key: str) -> bool:
    """A param that does not change a run's result (tracking.*, artifacts.*, ...)."""
    return key.split(".", 1)[0] in UNHASHED


def varying(runs: list[RunData]) -> list[str]:
    """Params that take more than one value across the runs (a missing param counts as one)."""
    keys = sorted({k for r in runs for k in r.params if not bookkeeping(k)})
    return [k for k in keys if len({r.params.get(k) for r in runs}) > 1]


def varying_within(runs: list[RunData], by: tuple[str, ...]) -> list[str]:
    """Params that take more than one value among runs sharing the values of `by`."""
    classes: dict[tuple[str, ...], list[RunData]] = defaultdict(list)
    for r in runs:
        classes[tuple(r.get(k) for k in by)].append(r)
    return sorted({k for members in classes.values() for k in varying(members)})


def number(text: str) -> float | None:
    """A param's value as a float, or None when it is not a number."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def display(text: str, longest: int = 8) -> str:
    """A value as a label: as logged, a number longer than `longest` characters to 3
    significant digits (an Optuna lr of 0.8801430629121746 reads 0.88)."""
    value = number(text)
    return text if value is None or len(text) <= longest else f"{value:.3g}"


def sort_values(values) -> list[str]:
    """Distinct param values, numerically where they all are numbers."""
    distinct = set(values)
    if all(number(v) is not None for v in distinct):
        return sorted(distinct, key=float)
    return sorted(distinct)
