"""A stochastic sweep: 100 configurations of an MLP on digits (10 learning rates × 10 seeds),
minibatch SGD with momentum, 5 epochs each (batches of 32: 42 steps an epoch, 210 steps),
through Hydra's basic launcher and the vectorized one, side by side in one go, each to a
fresh SQLite store, with the default settings otherwise. Reports wall time and the peak
resident memory of the command's whole process tree (the runner, the vectorized launcher's
engine and the helpers, summed; sampled every 0.1 s from /proc) and of its largest process.

    python bench/bench_learning.py [--seeds 10]
"""

from __future__ import annotations

import argparse
import contextlib
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


def sweep_args(seeds: int) -> list[str]:
    return ["-m", "objective=mlp", "sampling=minibatch", "optimizer=momentum",
            "optimizer.lr=" + ",".join(map(str, LRS)), f"seed=range(0,{seeds})", "steps=210"]


def run(folder: Path, args: list[str]) -> tuple[float, float, float]:
    """Seconds, peak MiB of the whole tree and of its largest process, of
    `python -m runner args` in a fresh folder."""
    peaks = [0, 0]
    seconds, _ = run_runner(folder, args, watch=lambda pid: _sample(pid, peaks))
    return seconds, peaks[0] / 1024, peaks[1] / 1024


def _sample(pid: int, peaks: list[int]) -> None:
    """Fold the tree's current resident sizes (KiB) into peaks: [sum, largest]."""
    sizes = [_rss_kib(p) for p in _tree(pid)]
    peaks[0], peaks[1] = max(peaks[0], sum(sizes)), max(peaks[1], max(sizes, default=0))


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
    return found


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, IndexError):
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    n = len(LRS) * args.seeds
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-learning-") as tmp:
        for name, extra in LAUNCHERS.items():
            results[name] = run(Path(tmp) / name, [*sweep_args(args.seeds), *extra])
            print(f"{name}: {results[name][0]:.1f} s, peak {results[name][1]:.0f} MiB "
                  f"(largest process {results[name][2]:.0f})", flush=True)
    basic = results["basic"][0]
    rows = [[name, f"{seconds:.1f}", f"{basic / seconds:.1f}x", f"{tree:.0f}", f"{largest:.0f}"]
            for name, (seconds, tree, largest) in results.items()]
    write_table("learning", f"{n} stochastic MLP runs on digits (5 epochs each), default settings",
                ["launcher", "wall time (s)", "vs basic", "peak RSS, whole tree (MiB)",
                 "peak RSS, largest process (MiB)"], rows,
                notes=f"`python -m runner {' '.join(sweep_args(args.seeds))} [launcher]`, "
                      f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores.")


if __name__ == "__main__":
    main()
