"""End to end against a real `mlflow server` on a loopback port, read back over HTTP."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def search(server, experiment_id: str) -> list[dict]:
    return server.api("runs/search", {"experiment_ids": [experiment_id], "max_results": 100}).get("runs", [])


def tags_of(run: dict) -> dict:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def test_run_and_sweep_through_a_tracking_server(mlflow_server, tmp_path):
    uri = f"tracking.uri={mlflow_server.uri}"
    single = run_cli("optimizer=adam", "optimizer.lr=0.05", "steps=50", uri, cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    sweep = run_cli("-m", "optimizer=sgd,momentum", "optimizer.lr=0.01,0.05", "steps=30", uri,
                    cwd=tmp_path)
    assert sweep.returncode == 0, sweep.stderr

    experiment = mlflow_server.api("experiments/get-by-name?experiment_name=gradlab")["experiment"]
    runs = search(mlflow_server, experiment["experiment_id"])
    assert len(runs) == 6  # one run, one parent, four children
    assert all(r["info"]["status"] == "FINISHED" for r in runs)
    parent = next(r for r in runs if tags_of(r).get("role") == "sweep")
    children = [r for r in runs if tags_of(r).get("mlflow.parentRunId") == parent["info"]["run_id"]]
    assert len(children) == 4

    lone = next(r for r in runs if r not in children and r is not parent)
    query = urllib.parse.urlencode({"run_id": lone["info"]["run_id"], "metric_key": "loss"})
    history = mlflow_server.api(f"metrics/get-history?{query}")["metrics"]
    assert sorted(m["step"] for m in history) == list(range(51))
    files = mlflow_server.api(f"artifacts/list?run_id={lone['info']['run_id']}")["files"]
    assert {"result.json", "trajectory.csv", "loss.png"} <= {f["path"] for f in files}
    # the artifact bytes travelled through the server too
    from mlflow import MlflowClient

    path = MlflowClient(mlflow_server.uri).download_artifacts(lone["info"]["run_id"], "result.json",
                                                             str(tmp_path))
    assert json.loads(open(path).read())["steps"] == 50
