"""Runs per second of a 32-job joblib sweep with 1, 2 and 4 workers: logging to SQLite directly,
and through an `mlflow server` (SQLite behind it) that the script starts on loopback.

Each sweep is the CLI as a user runs it (`python -m runner -m hydra/launcher=joblib ...`), short
runs (100 steps, 2-D quad, no plots); every sweep is counted back: 32 FINISHED children.

    python bench/bench_scale.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow import MlflowClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from bench.common import inside, write_table  # noqa: E402
from tests.conftest import MlflowServer  # noqa: E402

JOBS, WORKERS = 32, (1, 2, 4)
SWEEP = ["optimizer.lr=0.005,0.01,0.02,0.03,0.05,0.07,0.1,0.2", "seed=0,1,2,3", "steps=100",
         "artifacts.plots=false"]


def sweep(folder: Path, uri: str, workers: int) -> tuple[float, float]:
    """(wall seconds of the whole command, seconds from the first job's start to the last's end)."""
    experiment = f"workers-{workers}"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "runner", "-m", "hydra/launcher=joblib",
                           f"hydra.launcher.n_jobs={workers}", *SWEEP, f"tracking.uri={uri}",
                           f"tracking.experiment={experiment}"],
                          cwd=folder, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"the sweep failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id],
                              max_results=1000)
    jobs = [r for r in runs if r.data.tags.get("role") != "sweep"]
    assert len(jobs) == JOBS and all(r.info.status == "FINISHED" for r in jobs), "runs lost"
    busy = max(r.info.end_time for r in jobs) - min(r.info.start_time for r in jobs)
    return wall, busy / 1000


def main() -> None:
    rows, load = [], os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="gradlab-bench-") as tmp, inside(tmp):
        folder = Path(tmp)
        server = MlflowServer(folder)
        try:
            for store, uri in [("SQLite file", f"sqlite:///{folder / 'direct.db'}"),
                               ("mlflow server (SQLite behind it)", server.uri)]:
                for workers in WORKERS:
                    wall, busy = sweep(folder, uri, workers)
                    rows.append([store, str(workers), f"{wall:.1f}", f"{JOBS / wall:.2f}",
                                 f"{JOBS / busy:.2f}"])
                    print(" | ".join(rows[-1]), file=sys.stderr)
        finally:
            server.stop()
    write_table("scale", f"A {JOBS}-job sweep with joblib workers ({os.cpu_count()} cores)",
                ["tracking store", "workers", "command wall s", "runs/s (command)",
                 "runs/s (jobs: first start to last end)"], rows,
                notes=f"""
Each run: 100 steps of SGD on the 2-D quad (the defaults), metrics batched to MLflow, no plots.
"command" counts the whole `python -m runner -m ...` (start-up, parent run, summary);
"jobs" counts from the first run's start to the last run's end. The server runs one worker
process. Every sweep was read back: {JOBS} FINISHED runs under one parent, none lost.
Load average when the benchmark started (other processes on the machine): {load:.1f}.""")


if __name__ == "__main__":
    main()
