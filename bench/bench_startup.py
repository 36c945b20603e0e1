"""What a command costs before it does anything: `--help`, a tab completion, `--cfg job`, and a
1-step run with the default settings, against merely importing the libraries a run needs.
Medians of REPEAT runs of each, as a user types them, side by side in one run.

    python bench/bench_startup.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import write_table  # noqa: E402

REPEAT = 7
PY = sys.executable
GRADLAB = shutil.which("gradlab") or str(Path(PY).parent / "gradlab")


def median_s(argv: list[str], cwd: Path, env: dict | None = None) -> float:
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    env = {"MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(ROOT)}
    os.environ.update(env)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        cwd = Path(tmp)
        subprocess.run([PY, "-m", "runner", "steps=1"], cwd=cwd, check=True,
                       capture_output=True)  # the store exists, as after a user's first run
        cases = {
            "`python -c \"import torch, mlflow, hydra\"` (the floor)":
                [PY, "-c", "import torch, mlflow, hydra"],
            "MLflow's own 1-step run: the imports, `mlflow.start_run()`, one `log_metric`":
                [PY, "-c", ("import torch, mlflow, hydra\nwith mlflow.start_run():\n"
                            "    mlflow.log_metric('loss', 1.0)")],
            "`python -m runner --help`": [PY, "-m", "runner", "--help"],
            "`gradlab optimizer=ad<Tab>` (one completion query)": [GRADLAB, "-sc", "query=bash"],
            "`python -m runner --cfg job`": [PY, "-m", "runner", "--cfg", "job"],
            "`python -m runner steps=1` (defaults: 2 plots, SQLite)":
                [PY, "-m", "runner", "steps=1"],
            "`python -m runner steps=1 artifacts.plots=false`":
                [PY, "-m", "runner", "steps=1", "artifacts.plots=false"],
        }
        seconds = {}
        for label, argv in cases.items():
            extra = {"COMP_LINE": "gradlab optimizer=ad"} if "-sc" in argv else None
            seconds[label] = median_s(argv, cwd, extra)
    floor = next(iter(seconds.values()))
    rows = [[label, f"{s:.2f}", f"{s / floor:.2f}×"] for label, s in seconds.items()]
    write_table("startup", f"Start-up, medians of {REPEAT} (python {sys.version.split()[0]})",
                ["command", "seconds", "vs the import floor"], rows,
                "A 1-step run loads its libraries in two processes at once: the command forks "
                "a helper before it imports torch (runner/tracking/helper.py); the helper "
                "imports MLflow and opens the store while the command imports torch and "
                "matplotlib, builds and runs the configuration and draws its plots, then records "
                "the run as the command asks. Commands load their libraries with Python's "
                "cyclic collector paused (runner/collector.py) and end without Python's module "
                "teardown (runner/shutdown.py); the floor pays both.")


if __name__ == "__main__":
    main()
