"""A stochastic sweep: 100 configurations of an MLP on digits (10 learning rates × 10 seeds),
minibatch SGD with momentum, 5 epochs each (batches of 32: 42 steps an epoch, 210 steps),
through Hydra's basic launcher and the vectorized one, side by side in one go, each to a
fresh SQLite store, with the default settings otherwise. Reports wall time and peak
resident memory (the largest process of the command's tree: the runner and its helpers).

    python bench/bench_learning.py [--seeds 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from bench.common import run_runner, write_table  # noqa: E402

LRS = [0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2]
LAUNCHERS = {"basic": [], "vectorized": ["hydra/launcher=vectorized"]}
# run a command, then print the largest resident set of its process tree, in KiB
PEAK = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
        "sys.exit(code)")


def sweep_args(seeds: int) -> list[str]:
    return ["-m", "objective=mlp", "sampling=minibatch", "optimizer=momentum",
            "optimizer.lr=" + ",".join(map(str, LRS)), f"seed=range(0,{seeds})", "steps=210"]


def run(folder: Path, args: list[str]) -> tuple[float, float]:
    """Seconds and peak MiB of `python -m runner args` in a fresh folder."""
    seconds, proc = run_runner(folder, args, wrapper=[sys.executable, "-c", PEAK])
    return seconds, int(proc.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    n = len(LRS) * args.seeds
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-learning-") as tmp:
        for name, extra in LAUNCHERS.items():
            results[name] = run(Path(tmp) / name, [*sweep_args(args.seeds), *extra])
            print(f"{name}: {results[name][0]:.1f} s, peak {results[name][1]:.0f} MiB",
                  flush=True)
    basic = results["basic"][0]
    rows = [[name, f"{seconds:.1f}", f"{basic / seconds:.1f}x", f"{mib:.0f}"]
            for name, (seconds, mib) in results.items()]
    write_table("learning", f"{n} stochastic MLP runs on digits (5 epochs each), default settings",
                ["launcher", "wall time (s)", "vs basic", "peak RSS (MiB)"], rows,
                notes=f"`python -m runner {' '.join(sweep_args(args.seeds))} [launcher]`, "
                      f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores.")


if __name__ == "__main__":
    main()
