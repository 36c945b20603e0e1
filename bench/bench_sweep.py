"""A 1,000-configuration sweep (quad, 10 learning rates × 100 seeds, 1,000 steps) three ways.

Each launcher logs every configuration as its own MLflow run to a fresh SQLite store, side
by side in one go: Hydra's basic launcher (one job after another, in process), the joblib
launcher (2 worker processes) and the vectorized launcher. The MLflow floor is the time
MLflow alone takes to record the same runs (same params, tags, metric points and artifact
files), written directly with MlflowClient and no computation.

    python bench/bench_sweep.py [--seeds 100] [--launchers basic,joblib,vectorized]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from bench.common import inside, write_table  # noqa: E402

LRS = [0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.24]
LAUNCHERS = {"basic": [], "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
             "vectorized": ["hydra/launcher=vectorized"]}


def sweep_args(seeds: int, steps: int) -> list[str]:
    return ["-m", "objective=quad", "optimizer=sgd", "optimizer.lr=" + ",".join(map(str, LRS)),
            f"seed=range(0,{seeds})", f"steps={steps}", "artifacts.plots=false"]


def run_sweep(folder: Path, launcher: str, seeds: int, steps: int) -> float:
    folder.mkdir(parents=True)
    args = [sys.executable, "-m", "runner", *sweep_args(seeds, steps), *LAUNCHERS[launcher],
            f"tracking.uri=sqlite:///{folder / 'mlflow.db'}"]
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=folder, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{launcher} failed:\n{proc.stderr[-3000:]}")
    return elapsed


def count_runs(folder: Path) -> int:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    exp = client.get_experiment_by_name("gradlab")
    return len(client.search_runs([exp.experiment_id], max_results=50000))


def mlflow_floor(source: Path, folder: Path) -> float:
    """Replay the vectorized sweep's runs (content read back from its store) into a fresh
    store with plain MlflowClient calls, timing only the writes."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    src = MlflowClient(f"sqlite:///{source / 'mlflow.db'}")
    exp = src.get_experiment_by_name("gradlab")
    runs = src.search_runs([exp.experiment_id], max_results=50000)
    payloads = []
    for run in runs:
        metrics = [m for key in run.data.metrics for m in src.get_metric_history(run.info.run_id, key)]
        files = Path(src.download_artifacts(run.info.run_id, "", str(folder / "src" / run.info.run_id)))
        payloads.append((run.data.params, run.data.tags, metrics, files))
    dst = MlflowClient(f"sqlite:///{folder / 'floor.db'}")
    experiment = dst.create_experiment("floor")
    start = time.perf_counter()
    for params, tags, metrics, files in payloads:
        run_id = dst.create_run(experiment, tags={k: v for k, v in tags.items()
                                                 if not k.startswith("mlflow.")}).info.run_id
        items = [Metric(m.key, m.value, m.timestamp, m.step) for m in metrics]
        dst.log_batch(run_id, metrics=items[:1000],
                      params=[Param(k, v) for k, v in params.items()][:100])
        for i in range(1000, len(items), 1000):
            dst.log_batch(run_id, metrics=items[i:i + 1000])
        dst.log_artifacts(run_id, str(files))
        dst.set_terminated(run_id)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--launchers", default="basic,joblib,vectorized")
    args = parser.parse_args()
    n = len(LRS) * args.seeds
    times = {}
    with tempfile.TemporaryDirectory() as tmp, inside(tmp):
        for launcher in args.launchers.split(","):
            times[launcher] = run_sweep(Path(tmp) / launcher, launcher, args.seeds, args.steps)
            runs = count_runs(Path(tmp) / launcher)
            assert runs == n + 1, f"{launcher}: {runs} runs, expected {n} + parent"
            print(f"{launcher}: {times[launcher]:.1f} s", flush=True)
        if "vectorized" in times:
            times["MLflow floor"] = mlflow_floor(Path(tmp) / "vectorized", Path(tmp) / "floor")
    base = times.get("basic")
    rows = [[name, f"{t:.1f}", f"{n / t:.1f}",
             f"{base / t:.1f}×" if base else "–",
             f"{t / times['MLflow floor']:.2f}×" if "MLflow floor" in times else "–"]
            for name, t in times.items()]
    write_table("sweep", f"{n:,}-configuration sweep (quad, {len(LRS)} lrs × {args.seeds} seeds, "
                f"{args.steps} steps), SQLite store, 2 cores",
                ["launcher", "wall time s", "runs/s", "speed-up over basic", "× MLflow floor"],
                rows, "Wall time is end to end: the `python -m runner -m ...` process from start "
                "to exit, MLflow included. The floor writes the same runs' content with plain "
                "MlflowClient calls and nothing else.")


if __name__ == "__main__":
    main()
