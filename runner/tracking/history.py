"""Metric histories of many runs in a few requests, whatever the tracking store.

Three paths, fastest first; each returns {run_id: History} for one metric key:

- SQL store (sqlite://, postgresql://, ...): `get_metric_history_bulk`, one query per
  CHUNK_SQL runs;
- HTTP server: `GET /ajax-api/2.0/mlflow/metrics/get-history-bulk` (the route the MLflow UI
  charts use), CHUNK_REST runs a request (the server's limit), requests in parallel; a
  reply cut at the server's REST_POINTS is split and asked again. The REST API's
  `get-history-bulk-interval` answers the same question 50x slower on a SQL-backed server
  (one windowed query per run, against one query per chunk);
- anything else, or a server without the route: `get_metric_history` per run, in a thread
  pool.

bench/bench_report.py measures the three.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from mlflow import MlflowClient

from runner.tracking import mlflow_private

CHUNK_SQL = 500
# mlflow.server.handlers.get_metric_history_bulk_handler: at most 100 runs, 25,000 points
CHUNK_REST, REST_POINTS = 100, 25000
THREADS = 16
BULK_ENDPOINT = "/ajax-api/2.0/mlflow/metrics/get-history-bulk"

# (run_id, step, timestamp_ms, value) rows
Rows = Iterable[tuple[str, int, int, float]]


@dataclass
class History:
    """One metric's history: steps, values and seconds since step 0 (from the timestamps)."""

    steps: np.ndarray
    values: np.ndarray
    seconds: np.ndarray
    timestamps: np.ndarray | None = None  # ms since the epoch, as logged


def read(client: MlflowClient, run_ids: list[str], key: str,
         method: str = "auto") -> dict[str, History]:
    """Histories of `key` for `run_ids`; method: auto, sql, rest or per_run."""
    if not run_ids:
        return {}
    if method == "auto":
        method = ("sql" if mlflow_private.has_bulk_history(client)
                  else "rest" if mlflow_private.is_rest_store(client) else "per_run")
    reader: Callable[[list[str]], Rows] = {
        "sql": lambda chunk: _sql(client, chunk, key),
        "rest": lambda chunk: _rest(client, chunk, key),
        "per_run": lambda chunk: _per_run(client, chunk, key),
    }[method]
    size = {"sql": CHUNK_SQL, "rest": CHUNK_REST, "per_run": 1}[method]
    chunks = [run_ids[i : i + size] for i in range(0, len(run_ids), size)]
    with ThreadPoolExecutor(1 if method == "sql" else THREADS) as pool:
        return histories(row for rows in pool.map(reader, chunks) for row in rows)


def histories(rows: Rows) -> dict[str, History]:
    """Group rows by run, sort by step; seconds count from the first step's timestamp."""
    by_run: dict[str, list] = defaultdict(list)
    for run_id, step, stamp, value in rows:
        by_run[run_id].append((step, stamp, value))
    out = {}
    for run_id, items in by_run.items():
        items.sort()
        steps, stamps, values = (np.array(c) for c in zip(*items))
        out[run_id] = History(steps.astype(np.int64), values.astype(np.float64),
                              (stamps - stamps[0]) / 1000.0, stamps.astype(np.int64))
    return out


def _sql(client: MlflowClient, run_ids: list[str], key: str) -> Rows:
    found = mlflow_private.metric_history_bulk(client, run_ids, key)
    return [(m.run_id, m.step, m.timestamp, m.value) for m in found]


def _rest(client: MlflowClient, run_ids: list[str], key: str) -> Rows:
    params = {"run_id": run_ids, "metric_key": key, "max_results": REST_POINTS}
    reply = mlflow_private.rest_get(client, BULK_ENDPOINT, params)
    if reply is None:  # a server (or proxy) without the UI's route
        return _per_run(client, run_ids, key)
    metrics = reply.get("metrics", [])
    if len(metrics) >= REST_POINTS:  # cut short: ask again in halves, one run alone in pages
        if len(run_ids) == 1:
            return _per_run(client, run_ids, key)
        half = len(run_ids) // 2
        return [*_rest(client, run_ids[:half], key), *_rest(client, run_ids[half:], key)]
    return [(m["run_id"], int(m.get("step", 0)), int(m["timestamp"]), float(m["value"]))
            for m in metrics]


def _per_run(client: MlflowClient, run_ids: list[str], key: str) -> Rows:
    return [(run_id, m.step, m.timestamp, m.value)
            for run_id in run_ids for m in client.get_metric_history(run_id, key)]
