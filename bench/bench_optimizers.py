"""Time one step of each own optimizer against torch.optim on a 10^6-dimensional problem.

Run with `python bench/bench_optimizers.py`; prints a Markdown table (median ms per step over
several repeats, float64, a fixed random gradient) and writes it to bench/results/optimizers.md.
torch.optim runs both its single-tensor default and `foreach=True`.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from runner.build import instantiate_node
from runner.config import option

DIM = 10**6
WARMUP, REPEATS = 3, 60
RESULTS = Path(__file__).parent / "results" / "optimizers.md"

# registry name -> (torch.optim class, options giving the same rule); lr where defaults differ
CASES = {
    "sgd": (torch.optim.SGD, dict(lr=1e-2)),
    "momentum": (torch.optim.SGD, dict(lr=1e-2, momentum=0.9)),
    "nesterov": (torch.optim.SGD, dict(lr=1e-2, momentum=0.9, nesterov=True)),
    "adam": (torch.optim.Adam, dict(lr=1e-3)),
    "adamw": (torch.optim.AdamW, dict(lr=1e-3)),
    "adagrad": (torch.optim.Adagrad, dict(lr=1e-2)),
    "rmsprop": (torch.optim.RMSprop, dict(lr=1e-2)),
}


def median_ms(steps: dict) -> dict:
    """Median wall time (ms) of each `step()`, the steps interleaved so that load from other
    processes falls on all of them alike; a few untimed warm-up calls first."""
    for step in steps.values():
        for _ in range(WARMUP):
            step()
    times: dict = {key: [] for key in steps}
    for _ in range(REPEATS):
        for key, step in steps.items():
            start = time.perf_counter()
            step()
            times[key].append(time.perf_counter() - start)
    return {key: 1e3 * statistics.median(t) for key, t in times.items()}


def own_step(name: str, lr: float, x0: torch.Tensor, grad: torch.Tensor):
    optimizer = instantiate_node({**option("optimizer", name), "lr": lr}, "optimizer")
    carry = [x0, optimizer.init(x0)]

    def step():
        carry[0], carry[1] = optimizer.update(grad, carry[1], carry[0])

    return step


def torch_step(cls, options: dict, x0: torch.Tensor, grad: torch.Tensor, foreach: bool):
    param = x0.clone().requires_grad_(True)
    param.grad = grad.clone()
    return cls([param], foreach=foreach, **options).step


def main() -> str:
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(DIM, generator=gen, dtype=torch.float64)
    grad = torch.randn(DIM, generator=gen, dtype=torch.float64)
    rows = []
    for name, (cls, options) in CASES.items():
        own, single, multi = median_ms({
            "own": own_step(name, options["lr"], x0, grad),
            "single": torch_step(cls, options, x0, grad, foreach=False),
            "foreach": torch_step(cls, options, x0, grad, foreach=True),
        }).values()
        rows.append(f"| {name} | {own:.2f} | {single:.2f} | {multi:.2f} | "
                    f"{own / single:.2f} | {own / multi:.2f} |")
    return "\n".join([
        f"One step on d = {DIM:,} (float64), median of {REPEATS} interleaved repeats after "
        f"{WARMUP} warm-up; "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s).",
        "",
        "| optimizer | own ms | torch ms | torch foreach ms | own/torch | own/foreach |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
    ])


if __name__ == "__main__":
    table = main()
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table + "\n")
