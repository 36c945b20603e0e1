"""One configuration's outcome: its Record, read out of a (possibly batched) Trace, and the
Outcome every launcher's jobs end in."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from objectives import Objective
from runner.constants import FAILED, STATUS_TAG
from runner.loop import Trace

# trajectory.csv carries the coordinates when the dimension is at most this
MAX_CSV_COORDINATES = 10


@dataclass
class Record:
    """Histories and final values of one row of a Trace: what a run logs."""

    status: str
    steps: int
    last: int
    x_final: list[float]
    histories: dict[str, np.ndarray]
    wall_time: np.ndarray
    points: np.ndarray | None
    checks: tuple[np.ndarray, np.ndarray] | None

    @classmethod
    def from_trace(cls, trace: Trace, row: int, objective: Objective,
                   status: str | None = None) -> Record:
        """Row `row` of `trace`; an interrupted trace is read up to its `length`."""
        last = min(int(trace.last[row]), trace.length - 1)
        final = min(int(trace.final[row]), last)
        span = slice(0, last + 1)
        stacked = trace.history()
        histories = {key: stacked[key][span, row].cpu().numpy()
                     for key in ("loss", "grad_norm")}
        if objective.minimum is not None:
            histories["suboptimality"] = histories["loss"] - objective.minimum
        if "dist_to_opt" in stacked:
            histories["dist_to_opt"] = stacked["dist_to_opt"][span, row].cpu().numpy()
        checks = None
        if trace.checks:
            at = np.array([t for t, _ in trace.checks if t <= last], dtype=np.int64)
            checks = (at, np.array([float(v[row]) for t, v in trace.checks if t <= last]))
        points = stacked.get("points")
        if trace.x_final is not None:
            x_final = trace.x_final[row].cpu().tolist()
        else:  # interrupted: the last recorded point, where there is one
            x_final = points[final, row].cpu().tolist() if points is not None else []
        return cls(
            status=status or trace.status[row],
            steps=final,
            last=last,
            x_final=x_final,
            histories=histories,
            wall_time=np.asarray(trace.wall_time[: last + 1]),
            points=None if points is None else points[span, row].cpu().numpy(),
            checks=checks,
        )

    @property
    def final_loss(self) -> float:
        return float(self.histories["loss"][self.steps])

    def finals(self) -> dict[str, float]:
        out = {
            "final_loss": self.final_loss,
            "final_grad_norm": float(self.histories["grad_norm"][self.steps]),
            "steps": float(self.steps),
            "wall_time_s": float(self.wall_time[-1]) if len(self.wall_time) else 0.0,
        }
        for key in ("suboptimality", "dist_to_opt"):
            if key in self.histories:
                out[f"final_{key}"] = float(self.histories[key][self.steps])
        if self.checks is not None and len(self.checks[1]):
            out["grad_check_max"] = float(np.max(self.checks[1]))
        return out

    def metric_steps(self, max_points: int | None) -> np.ndarray:
        """Steps to log as MLflow metrics: all, or at most `max_points` evenly spread
        (always the first and the last). trajectory.csv keeps every step regardless."""
        n = self.last + 1
        if not max_points or n <= max_points:
            return np.arange(n)
        return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))

    def result(self) -> dict:
        return {
            "status": self.status,
            "steps": self.steps,
            "final_loss": _json_number(self.final_loss),
            "x_final": [_json_number(v) for v in self.x_final],
            **{k: _json_number(v) for k, v in self.finals().items() if k not in ("final_loss", "steps")},
        }

    def result_json(self) -> str:
        return json.dumps(self.result(), indent=2) + "\n"

    def table(self) -> tuple[list[str], np.ndarray]:
        """trajectory.csv's columns (after `step`) and values: every step's wall_time_s,
        histories, and x0.. for small dimensions."""
        names = list(self.histories)
        dim = 0 if self.points is None else self.points.shape[1]
        coords = [f"x{i}" for i in range(dim)] if 0 < dim <= MAX_CSV_COORDINATES else []
        n = self.last + 1
        columns = [self.wall_time[:n], *(self.histories[k][:n] for k in names)]
        if coords:
            columns += list(self.points[:n].T)
        return ["wall_time_s", *names, *coords], np.column_stack(columns)


def _json_number(value: float) -> float | str:
    """JSON has no inf/nan: write them as strings, keep every digit of finite values."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


@dataclass(frozen=True)
class Outcome:
    """A job's end: its run (None if none could be recorded), the record of what it
    computed (None if nothing was), and the result returned to Hydra."""

    run_id: str | None
    result: dict
    record: Record | None = None

    @classmethod
    def of(cls, run_id: str, record: Record) -> Outcome:
        return cls(run_id, record.result(), record)

    @classmethod
    def failure(cls, message: str, run_id: str | None = None) -> Outcome:
        return cls(run_id, {"status": FAILED, "error": message})

    @classmethod
    def skipped(cls, run) -> Outcome:
        """A configuration found already finished (resume): that run's result."""
        return cls(run.info.run_id, {**run.data.metrics, "status": run.data.tags.get(STATUS_TAG),
                                     "skipped": True, "run_id": run.info.run_id})

    @property
    def status(self) -> str:
        return self.result.get("status", FAILED)
