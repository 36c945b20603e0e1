"""A run's metric points as columns, and the rows MLflow's SQL store keeps of them.

A vectorised sweep's run logs thousands of points (every step's loss, gradient norm, ...);
an MLflow `Metric` entity per point, then a dict per row, cost about 10 ms a run of Python
work, on the thread that also computes the next batch. Here the points stay NumPy columns
until they become the tuples the database driver takes; iterating a table gives MLflow's
entities where the public client is called.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from mlflow.entities import Metric

# SQL cannot hold ±inf: MLflow stores the largest finite doubles instead (and NaN as 0)
MAX = 1.7976931348623157e308
COLUMNS = ("run_uuid", "key", "value", "timestamp", "step", "is_nan")


@dataclass(frozen=True)
class MetricTable:
    """Points (key, value, timestamp in ms, step), in the order they were logged."""

    keys: np.ndarray  # str
    values: np.ndarray  # float64
    timestamps: np.ndarray  # int64
    steps: np.ndarray  # int64

    @classmethod
    def of(cls, steps: Sequence[int] | np.ndarray, histories: Mapping[str, np.ndarray],
           timestamps_ms: np.ndarray | int) -> MetricTable:
        """Each history's points at `steps` (stamped `timestamps_ms`: one per step, or one)."""
        n = len(steps)
        stamps = np.broadcast_to(np.asarray(timestamps_ms, dtype=np.int64), (n,))
        names = list(histories)
        return cls(np.repeat(np.array(names, dtype=object), n),
                   np.concatenate([np.asarray(histories[k], dtype=np.float64).reshape(n)
                                   for k in names]) if names else np.zeros(0),
                   np.tile(stamps, len(names)), np.tile(np.asarray(steps, np.int64), len(names)))

    @classmethod
    def of_entities(cls, metrics: Sequence[Metric]) -> MetricTable:
        return cls(np.array([m.key for m in metrics], dtype=object),
                   np.array([m.value for m in metrics], dtype=np.float64),
                   np.array([m.timestamp for m in metrics], dtype=np.int64),
                   np.array([m.step for m in metrics], dtype=np.int64))

    @classmethod
    def finals(cls, values: Mapping[str, float], timestamp_ms: int) -> MetricTable:
        """Scalars, each logged once at step 0."""
        return cls.of([0], {k: np.array([float(v)]) for k, v in values.items()}, timestamp_ms)

    def __add__(self, other: MetricTable) -> MetricTable:
        return MetricTable(*(np.concatenate([a, b]) for a, b in zip(self._columns(),
                                                                   other._columns())))

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[Metric]:
        """MLflow's entities, for its client's log_batch."""
        return (Metric(k, v, t, s) for k, v, t, s in zip(
            self.keys.tolist(), self.values.tolist(), self.timestamps.tolist(),
            self.steps.tolist()))

    def _columns(self) -> tuple[np.ndarray, ...]:
        return self.keys, self.values, self.timestamps, self.steps

    def rows(self, run_id: str) -> tuple[list[tuple], list[tuple]]:
        """The run's rows in MLflow's `metrics` and `latest_metrics` tables (COLUMNS), as its
        store writes them: NaN as 0 with is_nan, ±inf as ±MAX; a point identical to an
        earlier one (the table's primary key) left out; per key, the latest point: largest
        step, then timestamp, then stored value (the first of equals)."""
        is_nan = np.isnan(self.values)
        values = np.clip(np.where(is_nan, 0.0, self.values), -MAX, MAX)
        names, code = np.unique(self.keys.astype(str), return_inverse=True)
        index = np.arange(len(values))
        # equal points sort together, the first logged first: each later one is a duplicate
        order = np.lexsort((index, values, is_nan, self.steps, self.timestamps, code))
        fields = (code, self.timestamps, self.steps, is_nan, values)
        repeated = np.zeros(len(values), dtype=bool)
        if len(values) > 1:
            same = np.logical_and.reduce([f[order][1:] == f[order][:-1] for f in fields])
            repeated[order[1:][same]] = True
        kept = index[~repeated]
        rows = list(zip([run_id] * len(kept), self.keys[kept].tolist(), values[kept].tolist(),
                        self.timestamps[kept].tolist(), self.steps[kept].tolist(),
                        is_nan[kept].tolist()))
        # per key the largest (step, timestamp, value); of equals, the first logged
        last = np.lexsort((-kept, values[kept], self.timestamps[kept], self.steps[kept],
                           code[kept]))
        ends = np.flatnonzero(np.diff(code[kept][last], append=len(names)))
        latest = [rows[i] for i in last[ends].tolist()]
        return rows, latest
