"""Time benchopt on the grid of bench/bench_sweep.py (quad, 10 lrs × N seeds, 1,000 steps).

The benchmark in bench/benchopt_quad is copied to a temporary folder and run there, so the
cache (__cache__/) and results benchopt writes never land in the repository. One repetition,
no plots, no HTML, no browser. benchopt is not a project dependency: install it apart, e.g.

    python3 -m venv /tmp/benchopt-venv
    /tmp/benchopt-venv/bin/pip install benchopt numpy torch==2.13.0
    BENCHOPT=/tmp/benchopt-venv/bin/benchopt python bench/bench_benchopt.py [--seeds 100]

Prints the wall time (the `benchopt run` process from start to exit) and how many
(solver, dataset) runs benchopt reported as done.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parent / "benchopt_quad"
N_LRS = 10  # solvers/gd.py's lr grid
ALL_SEEDS = 100  # datasets/start.py's seed grid
STATUS = re.compile(r"\|--(\S+):\s+(\w+)")  # "    |--gd[lr=0.1]: done"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def find_benchopt() -> str:
    exe = os.environ.get("BENCHOPT", "benchopt")
    path = shutil.which(exe)
    if path is None:
        raise SystemExit(f"benchopt not found ({exe!r}): install it (see this file's docstring) "
                         "and point BENCHOPT at its executable")
    return path


def command(benchopt: str, bench: Path, out: Path, seeds: int, no_cache: bool) -> list[str]:
    args = [benchopt, "run", str(bench), "-r", "1", "--no-plot", "--no-display", "--no-html",
            "--output", str(out)]
    if seeds != ALL_SEEDS:
        args += ["-d", f"start[seed=[{','.join(map(str, range(seeds)))}]]"]
    return args + (["--no-cache"] if no_cache else [])


def time_grid(seeds: int = ALL_SEEDS, no_cache: bool = False,
              results: Path | None = None) -> tuple[float, list[str]]:
    """Run the grid (the first `seeds` seeds) in a temporary copy of the benchmark: the
    `benchopt run` process's wall time and the status benchopt reported for each run."""
    if not 1 <= seeds <= ALL_SEEDS:
        raise SystemExit(f"--seeds must be between 1 and {ALL_SEEDS}")
    benchopt = find_benchopt()
    with tempfile.TemporaryDirectory() as tmp:
        bench = Path(tmp) / BENCHMARK.name
        shutil.copytree(BENCHMARK, bench,
                        ignore=shutil.ignore_patterns("__cache__", "outputs", "__pycache__"))
        cmd = command(benchopt, bench, Path(tmp) / "results.parquet", seeds, no_cache)
        print("$", shlex.join(cmd), flush=True)
        start = time.perf_counter()
        proc = subprocess.run(cmd, check=False, cwd=tmp, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        elapsed = time.perf_counter() - start
        if results and proc.returncode == 0:
            shutil.copy(Path(tmp) / "results.parquet", results)
    if proc.returncode != 0:
        raise SystemExit(f"benchopt failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                         f"{proc.stderr[-3000:]}")
    return elapsed, [m.group(2) for m in STATUS.finditer(ANSI.sub("", proc.stdout))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=ALL_SEEDS, help="first N seeds (≤ 100)")
    parser.add_argument("--no-cache", action="store_true", help="pass --no-cache to benchopt")
    parser.add_argument("--results", type=Path, help="copy benchopt's results.parquet here")
    args = parser.parse_args()
    elapsed, statuses = time_grid(args.seeds, args.no_cache, args.results)
    done = statuses.count("done")
    expected = N_LRS * args.seeds
    print(f"wall time: {elapsed:.2f} s")
    print(f"runs reported done: {done} of {expected} expected"
          + (f" (other statuses: {sorted(set(statuses) - {'done'})})" if done != len(statuses)
             else ""))
    print(f"per run: {elapsed / max(done, 1) * 1000:.1f} ms")
    if done != expected:
        sys.exit(1)


if __name__ == "__main__":
    main()
