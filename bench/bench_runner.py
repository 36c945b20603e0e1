"""Per-step cost of the runner against a bare PyTorch loop, side by side in one process.

A 10,000-step run (2-D quad, autograd, adam) with everything logged to MLflow (SQLite in a
temporary folder) against a bare loop of torch.optim.Adam doing the same steps.

    python bench/bench_runner.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from bench.common import inside, write_table  # noqa: E402
from objectives import Quadratic  # noqa: E402
from runner.build import build  # noqa: E402
from runner.config import CONF_DIR, register_schema  # noqa: E402
from runner.job import execute  # noqa: E402
from runner.spec import RunSpec  # noqa: E402
from runner.tracking.client import client_for, experiment_id  # noqa: E402
from runner.tracking.context import Context  # noqa: E402

register_schema()

STEPS, X0, LR = 10_000, [1.5, -2.0], 0.01
OVERRIDES = ["objective=quad", f"objective.x0=[{X0[0]},{X0[1]}]", "gradient=autograd",
             "optimizer=adam", f"optimizer.lr={LR}", f"steps={STEPS}"]


def bare_loop() -> tuple[float, list[float]]:
    """torch.optim.Adam on f(x) = xᵀAx with autograd: the loop a user would write."""
    A = Quadratic(diag=[4.0, 1.0]).A
    x = torch.tensor(X0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([x], lr=LR)
    start = time.perf_counter()
    for _ in range(STEPS):
        opt.zero_grad()
        loss = (x @ A * x).sum()
        loss.backward()
        opt.step()
    return time.perf_counter() - start, x.detach().tolist()


def runner_run(folder: Path, extra: list[str]) -> tuple[float, float, list[float]]:
    """(loop seconds, end-to-end seconds incl. MLflow and artifacts, x_final)."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=OVERRIDES + extra)
    spec = RunSpec.from_config(OmegaConf.to_container(cfg, resolve=True))
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    ctx = Context(uri, experiment_id(client_for(uri), "bench"),
                  max_points=spec.tracking["max_points"])
    start = time.perf_counter()
    outcome = execute(spec, ctx, build(spec))
    total = time.perf_counter() - start
    return float(outcome.result["wall_time_s"]), total, outcome.result["x_final"]


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, inside(tmp):
        runner_run(Path(tmp), ["steps=10"])  # warm up imports, the database, matplotlib
        for label, extra in [
            ("defaults: ≤1000 points per metric to MLflow, every step in trajectory.csv, 2 plots", []),
            ("defaults without the plots", ["artifacts.plots=false"]),
            ("every step of every metric to MLflow", ["tracking.max_points=null"]),
        ]:
            bare, x_bare = bare_loop()
            loop, total, x_run = runner_run(Path(tmp), extra)
            assert max(abs(a - b) for a, b in zip(x_bare, x_run)) < 1e-12, (x_bare, x_run)
            rows.append([label, f"{bare / STEPS * 1e6:.1f}", f"{loop / STEPS * 1e6:.1f}",
                         f"{total / STEPS * 1e6:.1f}", f"{loop / bare:.2f}×", f"{total / bare:.2f}×"])
    write_table("runner", f"Per-step cost, {STEPS:,}-step run (2-D quad, autograd, adam), "
                f"{torch.get_num_threads()} threads",
                ["configuration", "bare torch loop µs/step", "runner loop µs/step",
                 "runner end-to-end µs/step", "loop ratio", "end-to-end ratio"], rows,
                "The runner's loop records f, ‖∇f‖ and x at every step (f − f* and ‖x − x*‖ "
                "follow from them); end-to-end adds what a run costs once: creating the MLflow "
                "run, the batched metric writes (about 70 µs per value on SQLite), "
                "trajectory.csv, result.json and the plots (about 0.45 s for both). Both loops "
                "reach the same x to 1e-12.")


if __name__ == "__main__":
    main()
