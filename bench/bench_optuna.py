"""An Optuna search: 200 TPE trials over Adam's (lr, b1) on Rosenbrock, 1,000 steps each,
with the vectorized launcher in generations of 20 (hydra.sweeper.n_jobs=20) against Hydra's
basic launcher one trial at a time (hydra.sweeper.n_jobs=1), side by side in one go, each
to a fresh SQLite store and study (its journal file beside it), default settings otherwise.
Reports wall time end to end and the best value each search found.

    python bench/bench_optuna.py [--trials 200]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from bench.common import run_runner, write_table  # noqa: E402

LAUNCHERS = {"basic, one trial at a time": ["hydra.sweeper.n_jobs=1"],
             "vectorized, generations of 20": ["hydra/launcher=vectorized",
                                               "hydra.sweeper.n_jobs=20"]}


def search_args(trials: int) -> list[str]:
    return ["-m", "hydra/sweeper=optuna", "hydra.sweeper.sampler.seed=0",
            f"hydra.sweeper.n_trials={trials}", "objective=rosenbrock", "optimizer=adam",
            "steps=1000", "optimizer.lr=tag(log,interval(0.0001,1))",
            "optimizer.b1=interval(0.5,0.99)"]


def run(folder: Path, args: list[str]) -> tuple[float, str]:
    """Seconds of `python -m runner args` in a fresh folder, and the best value it found."""
    seconds, proc = run_runner(folder, args)
    best = re.search(r"^best trial \d+: (\S+)", proc.stdout, re.M)
    return seconds, best.group(1) if best else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-optuna-") as tmp:
        for i, (name, extra) in enumerate(LAUNCHERS.items()):
            results[name] = run(Path(tmp) / str(i), [*search_args(args.trials), *extra])
            print(f"{name}: {results[name][0]:.1f} s, best {results[name][1]}", flush=True)
    basic = next(iter(results.values()))[0]
    rows = [[name, f"{seconds:.1f}", f"{basic / seconds:.1f}x", best]
            for name, (seconds, best) in results.items()]
    write_table("optuna", f"{args.trials} TPE trials, Adam on Rosenbrock, 1,000 steps each",
                ["launcher", "wall time (s)", "vs basic", "best final loss"], rows,
                notes=f"`python -m runner {' '.join(search_args(args.trials))} [launcher]`, "
                      f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores.")


if __name__ == "__main__":
    main()
