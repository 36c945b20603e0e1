"""One configuration's outcome: its Record, read out of a (possibly batched) Trace, and the
Outcome every launcher's jobs end in."""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from runner.constants import FAILED, STATUS_TAG
from runner.tracking.files import RunFiles

if TYPE_CHECKING:  # a Record is read (and drawn, logged) where torch is not loaded
    from concurrent.futures import Future

    from objectives import Objective
    from runner.loop import Trace

# trajectory.csv carries the coordinates when the dimension is at most this
MAX_CSV_COORDINATES = 10
# a data objective's evaluations that are also final values (final_test_accuracy, ...)
EVAL_FINALS = ("train_loss", "test_loss", "test_accuracy", "epoch", "samples")


_X_FINAL = "\0x_final"  # where result.json's coordinates go (no result holds a NUL)


@dataclass
class Record:
    """Histories and final values of one row of a Trace: what a run logs.

    `index` holds the steps the histories (and `wall_time`, `points`) were kept at: every
    step, or every stride-th step of a long run (see Trace), always with the run's final and
    last steps. `histories`: loss, grad_norm, suboptimality and log10_suboptimality (where
    f* is known), dist_to_opt (where x* is), evaluations (the count reached at each step)
    and lr (where it changes with the step). `steps` is the final step, `last` the last one
    taken; `ends` the exact values at the final step; `evaluations` the evaluations of f
    and ∇f it took in all (see Trace)."""

    status: str
    steps: int
    last: int
    x_final: list[float]
    index: np.ndarray
    histories: dict[str, np.ndarray]
    wall_time: np.ndarray
    points: np.ndarray | None
    checks: tuple[np.ndarray, np.ndarray] | None
    ends: dict[str, float]
    evaluations: int = 0
    evals: tuple[np.ndarray, dict[str, np.ndarray]] | None = None  # steps, values

    @classmethod
    def from_trace(cls, trace: Trace, row: int, objective: Objective,
                   status: str | None = None) -> Record:
        """Row `row` of `trace`; an interrupted trace is read up to its `length`."""
        import torch

        last = min(int(trace.last[row]), trace.length - 1)
        final = min(int(trace.final[row]), last)
        kept = trace.history()
        n = int(torch.searchsorted(kept["step"], last, right=True))  # kept steps <= last
        series = {k: v[:n, row] for k, v in kept.items() if k not in ("step", "wall_time")}
        series["wall_time"] = kept["wall_time"][:n]
        index = kept["step"][:n]
        for at, name in ((final, "final"), (last, "last")):  # kept, whatever the stride
            where = int(torch.searchsorted(index, at))
            if where == len(index) or int(index[where]) != at:
                values = trace.row_end(row, name)
                index = torch.cat([index[:where], torch.tensor([at]), index[where:]])
                series = {k: torch.cat([v[:where], values[k].to(v.dtype)[None], v[where:]])
                          for k, v in series.items()}
        points = series.pop("points", None)
        if points is not None and objective.minimizer is not None:
            series["dist_to_opt"] = torch.linalg.vector_norm(points - objective.minimizer,
                                                             dim=-1)
        if trace.rate is not None:
            series["lr"] = trace.rates(index)[:, row]
        arrays = {k: v.cpu().numpy() for k, v in series.items()}
        index = index.numpy()
        wall_time = arrays.pop("wall_time")
        histories = {key: arrays[key] for key in ("loss", "grad_norm")}
        if objective.minimum is not None and not trace.stochastic:
            histories["suboptimality"] = gap = histories["loss"] - objective.minimum
            histories["log10_suboptimality"] = log10_gap(gap, objective.minimum)
        for key in ("dist_to_opt", "evaluations", "lr"):
            if key in arrays:
                histories[key] = arrays[key]
        at_final = int(np.searchsorted(index, final))
        ends = {key: float(values[at_final]) for key, values in histories.items()}
        ends["wall_time"] = float(wall_time[-1])
        evals = _evals(trace, row, final, last, objective.minimum)
        if evals is not None and trace.stochastic:  # f's sample is noise: the run's result
            ends.update(loss=float(evals[1]["train_loss"][-1]),  # is f on the training set
                        **{k: float(evals[1][k][-1]) for k in ("suboptimality",)
                           if k in evals[1]})
        checks = None
        if trace.checks:
            at = np.array([t for t, _ in trace.checks if t <= last], dtype=np.int64)
            checks = (at, np.array([float(v[row]) for t, v in trace.checks if t <= last]))
        points = None if points is None else points.cpu().numpy()
        if trace.x_final is not None:
            x_final = trace.x_final[row].cpu().tolist()
        else:  # interrupted: the final recorded point, where there is one
            x_final = points[at_final].tolist() if points is not None else []
        return cls(status=status or trace.status[row], steps=final, last=last,
                   x_final=x_final, index=index, histories=histories, wall_time=wall_time,
                   points=points, checks=checks, ends=ends,
                   evaluations=int(trace.evaluations[row]), evals=evals)

    @property
    def final_loss(self) -> float:
        return self.ends["loss"]

    def finals(self) -> dict[str, float]:
        out = {
            "final_loss": self.final_loss,
            "final_grad_norm": self.ends["grad_norm"],
            "steps": float(self.steps),
            "evaluations": float(self.evaluations),
            "wall_time_s": self.ends["wall_time"],
        }
        for key in ("suboptimality", "dist_to_opt"):
            if key in self.ends:
                out[f"final_{key}"] = self.ends[key]
        if self.checks is not None and len(self.checks[1]):
            out["grad_check_max"] = float(np.max(self.checks[1]))
        if self.evals is not None:
            out.update((f"final_{k}", float(v[-1])) for k, v in self.evals[1].items()
                       if k in EVAL_FINALS)
        return out

    def result(self) -> dict:
        return {
            "status": self.status,
            "steps": self.steps,
            "evaluations": self.evaluations,
            "final_loss": _json_number(self.final_loss),
            "x_final": _json_numbers(self.x_final),
            **{k: _json_number(v) for k, v in self.finals().items() if k not in ("final_loss", "steps", "evaluations")},
        }

    def result_json(self) -> str:
        """result.json: json.dumps(result, indent=2), to the byte, with the final point's
        coordinates (each a line) encoded by json's C encoder: the indenting encoder is pure
        Python, and an MLP's 2,410 coordinates made it most of a sweep's read-out."""
        result = self.result()
        head = json.dumps({**result, "x_final": _X_FINAL}, indent=2)
        coordinates = json.dumps(result["x_final"])[1:-1].replace(", ", ",\n    ")
        x_final = f"[\n    {coordinates}\n  ]" if result["x_final"] else "[]"
        return head.replace(json.dumps(_X_FINAL), x_final, 1) + "\n"

    def files(self, config_yaml: str, draw=None) -> RunFiles:
        """The run's files: config.yaml, result.json, trajectory.csv (and what `draw`s its
        plots, if any)."""
        return RunFiles({"config.yaml": config_yaml, "result.json": self.result_json()},
                        self.table(), draw)

    def table(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """trajectory.csv's columns (after `step`), values and steps: each kept step's
        wall_time_s, histories, and x0.. for small dimensions."""
        names = list(self.histories)
        dim = 0 if self.points is None else self.points.shape[1]
        coords = [f"x{i}" for i in range(dim)] if 0 < dim <= MAX_CSV_COORDINATES else []
        columns = [self.wall_time, *(self.histories[k] for k in names)]
        if coords:
            columns += list(self.points.T)
        return ["wall_time_s", *names, *coords], np.column_stack(columns), self.index


def evenly(n: int, max_points: int | None) -> np.ndarray:
    """Positions of n points to log as MLflow metrics: all, or at most `max_points` evenly
    spread (always the first and the last)."""
    if not max_points or n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def _evals(trace: Trace, row: int, final: int, last: int,
           minimum: float | None) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """Row `row`'s evaluations (Trace.evals) up to its last step, ending with those at its
    final point; where f* is known and f was sampled, the training loss's suboptimality."""
    if trace.final_evals is None:
        return None
    kept = [(t, values) for t, values in trace.evals if t <= min(last, final)]
    if not kept or kept[-1][0] != final:
        progress = trace.progress_at(final) if trace.progress_at is not None else {}
        kept.append((final, {**trace.final_evals, **progress}))
    keys = [k for k in kept[-1][1] if all(k in values for _, values in kept)]
    steps = np.array([t for t, _ in kept], dtype=np.int64)
    series = {k: np.array([float(v[k][row]) if np.ndim(v[k]) else float(v[k])
                           for _, v in kept]) for k in keys}
    if minimum is not None and trace.stochastic:
        series["suboptimality"] = gap = series["train_loss"] - minimum
        series["log10_suboptimality"] = log10_gap(gap, minimum)
    return steps, series


def log10_gap(gap: np.ndarray, minimum: float) -> np.ndarray:
    """log10(f − f*), the chartable form of the suboptimality: floored where f − f* is below
    what the floating-point format resolves, ε·|f*| (its smallest normal number when f* = 0),
    which a gap of exactly 0 or a loss rounded below f* reaches."""
    info = np.finfo(gap.dtype)
    floor = max(float(info.eps) * abs(minimum), float(info.tiny))
    with np.errstate(invalid="ignore"):  # NaN stays NaN
        return np.log10(np.maximum(gap, floor))


def _json_numbers(values: list[float]) -> list[float | str]:
    """_json_number of each value, in C where their sum is finite, so each is (an MLP's final
    point has thousands of coordinates: one call each took 0.1 s of a 100-MLP sweep)."""
    with contextlib.suppress(TypeError):  # a value given as text ("inf"): one by one
        if math.isfinite(sum(values)):
            return list(map(float, values))
    return [_json_number(v) for v in values]


def _json_number(value: float) -> float | str:
    """JSON has no inf/nan: write them as strings, keep every digit of finite values."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


@dataclass(frozen=True)
class Outcome:
    """A job's end: its run (None if none could be recorded) and the result returned to
    Hydra (the record's histories are not kept: a sweep holds thousands of outcomes)."""

    run_id: str | None
    result: dict

    @classmethod
    def of(cls, run_id: str, record: Record) -> Outcome:
        return cls(run_id, record.result())

    @classmethod
    def failure(cls, message: str, run_id: str | None = None,
                unrecorded: bool = False) -> Outcome:
        """A configuration that failed; `unrecorded`: its run (if any) ended FAILED because
        the store failed while recording it, not because the configuration did."""
        result = {"status": FAILED, "error": message}
        return cls(run_id, {**result, "unrecorded": True} if unrecorded else result)

    @classmethod
    def skipped(cls, run) -> Outcome:
        """A configuration found already finished (resume): that run's result."""
        return cls(run.info.run_id, {**run.data.metrics, "status": run.data.tags.get(STATUS_TAG),
                                     "skipped": True, "run_id": run.info.run_id})

    @property
    def status(self) -> str:
        return self.result.get("status", FAILED)


@dataclass
class Made:
    """Rows read out of a trace, ready to log: a record and files each (or a Future of the
    files, where another process makes and writes them: runner.sweep.engine), the
    objective's data set as MLflow inputs (runner.tracking.datasets) and when their batch
    started."""

    records: list[Record]
    files: list[RunFiles] | Future
    inputs: tuple
    start_ms: int
