"""A sweep's or an experiment's runs as pandas DataFrames, for a notebook or a script.

    from runner.report import frames

    runs = frames.load_sweep("sqlite:///mlflow.db", parent_run_id)
    runs.groupby("params.optimizer.lr")["metrics.final_loss"].median()
    long = frames.histories("sqlite:///mlflow.db", runs["run_id"], ["loss"])
    long.pivot_table(index="step", columns="run_id", values="value")

A runs frame has one row per run, in the order the runs started: run_id, experiment_id,
name, status (the run's outcome, as the `status` tag records it: converged, max_steps,
diverged, failed, killed; else MLflow's status in lower case), mlflow_status, start_time and
end_time (UTC), then `params.<name>` (text, as MLflow stores it), `metrics.<key>` (the last
logged value) and `tags.<name>` for the tags in TAGS. A histories frame is long: run_id,
key, step, value, seconds (since the run's first logged point of that key), and timestamp
(ms since the epoch, as logged) where runner.tracking.history keeps it; one row a point.
Sweep parents (tag role=sweep) are left out of both loaders.
"""

from __future__ import annotations

from collections.abc import Iterable

from runner.constants import (
    CONFIG_HASH_TAG,
    ERROR_TAG,
    GROUPS,
    OVERRIDES_TAG,
    PARENT_TAG,
    ROLE_TAG,
    STATUS_TAG,
    SWEEP_ID_TAG,
    SWEEP_ROLE,
)
from runner.report.data import children_filter
from runner.tracking import history
from runner.tracking.client import client_for, search_all

TAGS = (*GROUPS, STATUS_TAG, SWEEP_ID_TAG, CONFIG_HASH_TAG, OVERRIDES_TAG, ERROR_TAG, PARENT_TAG)
RUN_COLUMNS = ("run_id", "experiment_id", "name", "status", "mlflow_status", "start_time",
               "end_time")
HISTORY_COLUMNS = ("run_id", "key", "step", "value", "seconds")


def load_sweep(uri: str, parent_run_id: str):
    """The runs of the sweep whose parent run is `parent_run_id`, one row each."""
    client = client_for(uri)
    experiment = client.get_run(parent_run_id).info.experiment_id
    return runs_frame(search_all(client, experiment, children_filter(parent_run_id)))


def load_experiment(uri: str, name: str):
    """Every run of the experiment named `name` (sweep parents left out), one row each."""
    client = client_for(uri)
    found = client.get_experiment_by_name(name)
    if found is None:
        raise ValueError(f"no experiment named '{name}' at {uri}")
    return runs_frame(search_all(client, found.experiment_id))


def runs_frame(found: list):
    """MLflow runs (as search_runs returns them) as a frame, one row each."""
    import pandas as pd

    rows = []
    for run in found:
        info, data = run.info, run.data
        if data.tags.get(ROLE_TAG) == SWEEP_ROLE:
            continue
        rows.append({
            "run_id": info.run_id,
            "experiment_id": info.experiment_id,
            "name": info.run_name,
            "status": data.tags.get(STATUS_TAG, info.status.lower()),
            "mlflow_status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            **{f"params.{name}": v for name, v in sorted(data.params.items())},
            **{f"metrics.{name}": float(v) for name, v in sorted(data.metrics.items())},
            **{f"tags.{name}": data.tags[name] for name in TAGS if name in data.tags},
        })
    frame = pd.DataFrame(rows, columns=_columns(rows))
    frame = frame.sort_values(["start_time", "run_id"], kind="stable", ignore_index=True)
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    return frame


def histories(uri: str, run_ids: Iterable[str], keys: Iterable[str], method: str = "auto"):
    """The metric histories of `keys` for `run_ids`, long: one row per logged point, by key
    and run (in the order given), then step. Read in bulk (runner.tracking.history)."""
    import numpy as np
    import pandas as pd

    client = client_for(uri)
    ids = list(dict.fromkeys(run_ids))
    parts = []
    for key in keys:
        found = history.read(client, ids, key, method)
        for run_id in ids:
            if run_id in found:
                h = found[run_id]
                parts.append(pd.DataFrame({
                    "run_id": run_id, "key": key, "step": h.steps.astype(np.int64),
                    "value": h.values.astype(np.float64), "seconds": h.seconds,
                    # a History keeps seconds since the first point; the logged timestamps
                    # only once runner.tracking.history keeps them too
                    **({"timestamp": h.timestamps.astype(np.int64)}
                       if getattr(h, "timestamps", None) is not None else {})}))
    if not parts:
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    return pd.concat(parts, ignore_index=True)


def _columns(rows: list[dict]) -> list[str]:
    """The fixed columns, then params, metrics and tags, each sorted by name."""
    seen = sorted({k for row in rows for k in row} - set(RUN_COLUMNS))
    order = {"params": 0, "metrics": 1, "tags": 2}
    return [*RUN_COLUMNS, *sorted(seen, key=lambda c: (order[c.split(".", 1)[0]], c))]
