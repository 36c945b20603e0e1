"""Time the sweep report on a 1,000-run experiment, from SQLite and through an HTTP server.

Run with `python bench/bench_report.py`; prints a Markdown table and writes it to
bench/results/report.md. The experiment is logged straight through MlflowClient.log_batch
(no optimizer runs): 1,000 children of one sweep parent, each with the params, tags and
metrics a real run has, its histories (loss, grad_norm, suboptimality, dist_to_opt over 101
steps) from heavy-ball iterations on 2-D quadratics computed in numpy. Histories are read
three ways (store bulk query / REST bulk endpoint, and one request per run in a thread
pool), then the whole report is built.
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from bench.common import inside  # noqa: E402
from runner.report import Options, build  # noqa: E402
from runner.report.data import load_runs  # noqa: E402
from runner.tracking import history  # noqa: E402
from tests.conftest import MlflowServer  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "report.md"
STEPS, MAX_LOSS = 100, 1e15
CONDITION = (4.0, 10.0, 100.0, 1000.0)  # f = L x₁² + x₂²
LRS = tuple(np.geomspace(1e-3, 0.5, 10).round(5))
MOMENTA = (0.0, 0.5, 0.8, 0.9, 0.95)
SEEDS = range(5)


def configurations() -> list[dict]:
    return [dict(cond=c, lr=lr, momentum=m, seed=s)
            for c, lr, m, s in itertools.product(CONDITION, LRS, MOMENTA, SEEDS)]


def trajectories(configs: list[dict]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Heavy ball x ← x − lr∇f + β(x − x_prev) on f = L x₁² + x₂², every config at once.
    Returns the histories (configs × steps+1) and each run's last step (divergence stops it)."""
    n = len(configs)
    L = np.array([c["cond"] for c in configs])
    lr, beta = np.array([c["lr"] for c in configs]), np.array([c["momentum"] for c in configs])
    x = np.stack([np.random.default_rng(c["seed"]).standard_normal(2) for c in configs])
    prev = x.copy()
    scale = np.stack([L, np.ones(n)], 1)
    out = {k: np.full((n, STEPS + 1), np.nan) for k in ("loss", "grad_norm", "dist_to_opt")}
    last = np.full(n, STEPS)
    alive = np.ones(n, bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(STEPS + 1):
            loss = (scale * x * x).sum(1)
            grad = 2 * scale * x
            for key, value in zip(out, (loss, np.linalg.norm(grad, axis=1),
                                        np.linalg.norm(x, axis=1))):
                out[key][alive, t] = value[alive]
            stop = alive & ~(loss <= MAX_LOSS)
            last[stop], alive = t, alive & ~stop
            x, prev = x - lr[:, None] * grad + beta[:, None] * (x - prev), x
    out["suboptimality"] = out["loss"]  # f* = 0
    return out, last


def names(c: dict) -> tuple[str, str]:
    """(objective, optimizer) as the runner's tags would name them."""
    return f"quad{int(c['cond'])}", "sgd" if c["momentum"] == 0 else "momentum"


def params_of(c: dict) -> dict[str, str]:
    """The flat params a real run of this configuration logs (the ones that matter)."""
    _, optimizer = names(c)
    return {"objective._target_": "objectives.Quadratic", "objective.diag": f"[{c['cond']}, 1.0]",
            "gradient._target_": "objectives.Autograd",
            "optimizer._target_": f"optimizers.{optimizer}", "optimizer.lr": str(c["lr"]),
            "optimizer.momentum": str(c["momentum"]), "optimizer.weight_decay": "0.0",
            "steps": str(STEPS), "tol": "0.0", "seed": str(c["seed"]), "dtype": "float64",
            "device": "cpu", "divergence.max_loss": str(MAX_LOSS),
            "tracking.experiment": "bench", "artifacts.plots": "True"}


def metrics_of(histories: dict[str, np.ndarray], row: int, last: int, stamps: np.ndarray,
               status: str) -> list[Metric]:
    """Histories up to `last` with step=t, then the final_* scalars, as a run logs them."""
    n = last + 1
    out = [Metric(k, float(v[row, t]), int(stamps[t]), t)
           for k, v in histories.items() for t in range(n)]
    final = n - 1 if status == "max_steps" else max(n - 2, 0)  # diverged: last finite point
    out += [Metric(f"final_{k}", float(histories[k][row, final]), int(stamps[-1]), 0)
            for k in ("loss", "grad_norm", "suboptimality", "dist_to_opt")]
    return out + [Metric("steps", float(final), int(stamps[-1]), 0),
                  Metric("wall_time_s", (stamps[-1] - stamps[0]) / 1000, int(stamps[-1]), 0)]


def log_experiment(client: MlflowClient) -> tuple[str, str]:
    """The 1,000-run sweep; returns (experiment id, parent run id)."""
    experiment = client.create_experiment("bench")
    parent = client.create_run(experiment, run_name="sweep-bench",
                               tags={"role": "sweep", "sweep_id": "bench"}).info.run_id
    configs = configurations()
    histories, last = trajectories(configs)
    start = int(time.time() * 1000)
    for i, c in enumerate(configs):
        objective, optimizer = names(c)
        status = "diverged" if last[i] < STEPS else "max_steps"
        tags = {"mlflow.parentRunId": parent, "sweep_id": "bench", "objective": objective,
                "optimizer": optimizer, "gradient": "autograd", "status": status,
                "overrides": f"optimizer.lr={c['lr']} seed={c['seed']}"}
        run = client.create_run(experiment, run_name=f"{objective}-autograd-{optimizer}")
        # ~0.2 ms a step, a little more with momentum
        stamps = start + i * 50 + np.round(np.arange(last[i] + 1) * 0.2 * (1 + c["momentum"]))
        client.log_batch(run.info.run_id,
                         metrics=metrics_of(histories, i, last[i], stamps.astype(int), status),
                         params=[Param(k, v) for k, v in params_of(c).items()],
                         tags=[RunTag(k, v) for k, v in tags.items()])
        client.set_terminated(run.info.run_id)
    return experiment, parent


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def measure(client: MlflowClient, experiment: str, parent: str, bulk: str, out: Path) -> dict:
    seconds, runs = timed(load_runs, client, experiment, parent)
    ids = [r.run_id for r in runs]
    row = {"runs": len(runs), "search_runs": seconds}
    row["histories bulk"], fast = timed(history.read, client, ids, "suboptimality", bulk)
    row["histories per run"], slow = timed(history.read, client, ids, "suboptimality", "per_run")
    assert all(np.array_equal(fast[i].values, slow[i].values) for i in ids)
    row["whole report"], report = timed(build, client, experiment, parent, out, Options())
    row["of which figures"] = report.seconds["figures"] + report.seconds["files"]
    return row


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp, inside(tmp):
        folder = Path(tmp)
        client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
        t_log, (experiment, parent) = timed(log_experiment, client)
        rows = {}
        for run in ("first", "second"):
            rows[f"SQLite, {run} pass"] = measure(client, experiment, parent, "sql",
                                                  folder / "out-sql")
        server = MlflowServer(folder, backend=f"sqlite:///{folder / 'mlflow.db'}")
        try:
            for run in ("first", "second"):
                rows[f"HTTP server, {run} pass"] = measure(
                    MlflowClient(server.uri), experiment, parent, "rest", folder / "out-http")
        finally:
            server.stop()
    columns = list(next(iter(rows.values())))
    lines = [f"Report of a {rows['SQLite, first pass']['runs']}-run sweep (4 metrics × "
             f"{STEPS + 1} steps each; logged in {t_log:.0f} s), in seconds; {os.cpu_count()} "
             "CPU(s), the server with one worker. Histories of one metric: bulk = the store's "
             "`get_metric_history_bulk` (SQLite) or `GET /ajax-api/2.0/mlflow/metrics/"
             f"get-history-bulk` (HTTP, 100 runs a request, {history.THREADS} threads); per run "
             f"= `get_metric_history`, {history.THREADS} threads. A first pass meets cold "
             "caches (a server just started).",
             "", "| store | " + " | ".join(columns[1:]) + " |",
             "|---|" + "---:|" * (len(columns) - 1)]
    for store, row in rows.items():
        lines.append(f"| {store} | " + " | ".join(f"{row[c]:.2f}" for c in columns[1:]) + " |")
    table = "\n".join(lines) + "\n"
    print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(table)


if __name__ == "__main__":
    main()
