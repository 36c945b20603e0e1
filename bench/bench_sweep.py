"""A 1,000-configuration sweep (quad, 10 learning rates × 100 seeds, 1,000 steps) three ways.

Each launcher logs every configuration as its own MLflow run to a fresh SQLite store, side
by side in one go: Hydra's basic launcher (one job after another, in process), the joblib
launcher (2 worker processes) and the vectorized launcher. Two floors: the time MLflow
alone takes to record the same runs (same params, tags, metric points and artifact files)
with plain MlflowClient calls, and with the vectorized launcher's own writer
(runner.sqlstore), both with no computation.

    python bench/bench_sweep.py [--seeds 100] [--launchers basic,joblib,vectorized,benchopt]
    python bench/bench_sweep.py --readme-only

All with the default settings (a sweep draws its best run's plots only). First, the README's
vectorized sweep command as written against the same command with artifacts.plots=false.

benchopt (not a dependency) runs the same grid without MLflow when it is installed: see
bench/bench_benchopt.py (BENCHOPT=/path/to/benchopt).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from bench.common import inside, write_table  # noqa: E402
from runner.tracking.client import search_all  # noqa: E402

LRS = [0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.24]
LAUNCHERS = {"basic": [], "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
             "vectorized": ["hydra/launcher=vectorized"]}


def sweep_args(seeds: int, steps: int) -> list[str]:
    return ["-m", "objective=quad", "optimizer=sgd", "optimizer.lr=" + ",".join(map(str, LRS)),
            f"seed=range(0,{seeds})", f"steps={steps}"]  # the defaults: best run's plots only


# the README's vectorized sweep, as written (900 runs), and the same without any plots
README_SWEEP = ["-m", "hydra/launcher=vectorized", "optimizer=sgd,momentum,adam",
                "optimizer.lr=0.01,0.03,0.1", "seed=range(0,100)"]


def time_command(folder: Path, args: list[str]) -> float:
    folder.mkdir(parents=True)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "runner", *args,
                           f"tracking.uri=sqlite:///{folder / 'mlflow.db'}"], cwd=folder,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def readme_sweep() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        as_written = time_command(Path(tmp) / "written", README_SWEEP)
        bare = time_command(Path(tmp) / "bare", [*README_SWEEP, "artifacts.plots=false"])
    write_table("readme_sweep", "The README's vectorized sweep (900 runs), end to end",
                ["command", "wall time s", "ratio"],
                [["as written (defaults: the best run's plots)", f"{as_written:.1f}",
                  f"{as_written / bare:.2f}×"],
                 ["with artifacts.plots=false", f"{bare:.1f}", "1.00×"]])


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
    return len(search_all(client, exp.experiment_id))


def read_back(source: Path, folder: Path) -> list[tuple]:
    """Every child run of the vectorized sweep: (params, tags, metrics, artifact folder)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    src = MlflowClient(f"sqlite:///{source / 'mlflow.db'}")
    exp = src.get_experiment_by_name("gradlab")
    out = []
    for run in search_all(src, exp.experiment_id):
        if run.data.tags.get("role") == "sweep":
            continue
        metrics = [Metric(m.key, m.value, m.timestamp, m.step) for key in run.data.metrics
                   for m in src.get_metric_history(run.info.run_id, key)]
        files = Path(src.download_artifacts(run.info.run_id, "", str(folder / "src" / run.info.run_id)))
        tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
        out.append((run.data.params, tags, metrics, files))
    return out


def client_floor(payloads: list[tuple], folder: Path) -> float:
    """The runs written with plain MlflowClient calls, as a run logs itself: create_run,
    log_batch, log_artifacts, set_terminated."""
    from mlflow import MlflowClient
    from mlflow.entities import Param

    dst = MlflowClient(f"sqlite:///{folder / 'client.db'}")
    experiment = dst.create_experiment("floor", artifact_location=str(folder / "client"))
    start = time.perf_counter()
    for params, tags, metrics, files in payloads:
        run_id = dst.create_run(experiment, tags=tags).info.run_id
        dst.log_batch(run_id, metrics=metrics[:1000], params=[Param(k, v) for k, v in params.items()][:100])
        for i in range(1000, len(metrics), 1000):
            dst.log_batch(run_id, metrics=metrics[i:i + 1000])
        dst.log_artifacts(run_id, str(files))
        dst.set_terminated(run_id)
    return time.perf_counter() - start


def bulk_floor(payloads: list[tuple], folder: Path) -> float:
    """The same runs written the way the vectorized launcher writes them (runner.sqlstore:
    one transaction per 128 runs, files by helper processes), given their files' text."""
    from mlflow import MlflowClient

    from runner.tracking import sqlstore
    from runner.tracking.files import RunFiles, Writers

    dst = MlflowClient(f"sqlite:///{folder / 'bulk.db'}")
    experiment = dst.create_experiment("floor", artifact_location=str(folder / "bulk"))
    now = int(time.time() * 1000)
    runs = [sqlstore.FinishedRun("run", tags, params, metrics, "FINISHED", now, now,
                                 RunFiles({p.name: p.read_text() for p in files.iterdir()
                                           if p.suffix != ".png"}))  # the best run's plots
            for params, tags, metrics, files in payloads]
    with Writers() as writers:
        writers.submit([(str(folder / "warm-up"), RunFiles({}))])[0].result()
        start = time.perf_counter()
        for i in range(0, len(runs), 128):
            sqlstore.write_runs(dst, experiment, runs[i:i + 128], writers)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--readme-only", action="store_true",
                        help="only the README's vectorized sweep, with and without plots")
    parser.add_argument("--launchers", default="basic,joblib,vectorized"
                        + (",benchopt" if shutil.which(os.environ.get("BENCHOPT", "benchopt")) else ""))
    args = parser.parse_args()
    readme_sweep()
    if args.readme_only:
        return
    n = len(LRS) * args.seeds
    times = {}
    with tempfile.TemporaryDirectory() as tmp, inside(tmp):
        for launcher in args.launchers.split(","):
            if launcher == "benchopt":  # the same grid, no MLflow: see bench/bench_benchopt.py
                from bench.bench_benchopt import time_grid

                times[launcher], statuses = time_grid(args.seeds)
                assert statuses.count("done") == n, statuses
                print(f"{launcher}: {times[launcher]:.1f} s", flush=True)
                continue
            times[launcher] = run_sweep(Path(tmp) / launcher, launcher, args.seeds, args.steps)
            runs = count_runs(Path(tmp) / launcher)
            assert runs == n + 1, f"{launcher}: {runs} runs, expected {n} + parent"
            print(f"{launcher}: {times[launcher]:.1f} s", flush=True)
        floors = {}
        if "vectorized" in times:
            payloads = read_back(Path(tmp) / "vectorized", Path(tmp) / "floor")
            assert len(payloads) == n
            floors["MLflow floor (client calls)"] = client_floor(payloads, Path(tmp) / "floor")
            floors["bulk floor (runner.sqlstore)"] = bulk_floor(payloads, Path(tmp) / "floor")
    base, client, bulk = (times.get("basic"), floors.get("MLflow floor (client calls)"),
                          floors.get("bulk floor (runner.sqlstore)"))
    rows = [[name, f"{t:.1f}", f"{n / t:.1f}", f"{base / t:.1f}×" if base else "–",
             f"{t / client:.2f}×" if client else "–", f"{t / bulk:.2f}×" if bulk else "–"]
            for name, t in {**times, **floors}.items()]
    write_table("sweep", f"{n:,}-configuration sweep (quad, {len(LRS)} lrs × {args.seeds} seeds, "
                f"{args.steps} steps), SQLite store, 2 cores",
                ["launcher", "wall time s", "runs/s", "speed-up over basic", "× MLflow floor",
                 "× bulk floor"],
                rows, "Launcher wall time is end to end: the `python -m runner -m ...` process "
                "from start to exit (imports, a new MLflow database, the sweep's summary and "
                "report included). The floors time only writing the same runs' content (params, "
                "tags, metric points, artifact files, read back from the vectorized store) to a "
                "new store: with plain MlflowClient calls (the MLflow floor), and the way the "
                "vectorized launcher writes them (runner.sqlstore, one transaction per 128 runs, "
                "files by helper processes).")


if __name__ == "__main__":
    main()
