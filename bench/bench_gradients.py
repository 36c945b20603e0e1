"""Finite-difference gradient of a 1,000-dimensional quadratic: batched vs a Python loop vs autograd.

    python bench/bench_gradients.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import median_time, write_table  # noqa: E402
from objectives import Autograd, FiniteDifference, Quadratic  # noqa: E402

DIM = 1000


def loop_central(f, x: torch.Tensor, h: float) -> torch.Tensor:
    """The textbook's numerical_gradient: one coordinate at a time (torch, no mutation)."""
    grad = torch.empty_like(x)
    for i in range(x.numel()):
        e = torch.zeros_like(x)
        e[i] = h
        grad[i] = (f(x + e) - f(x - e)) / (2 * h)
    return grad


def loop_numpy(A: np.ndarray, x: np.ndarray, h: float) -> np.ndarray:
    """The textbook's numerical_gradient verbatim in NumPy (mutates and restores x)."""
    f = lambda v: v @ A @ v  # noqa: E731
    grad = np.zeros_like(x)
    for i in range(x.size):
        tmp = x[i]
        x[i] = tmp + h
        fxh1 = f(x)
        x[i] = tmp - h
        fxh2 = f(x)
        grad[i] = (fxh1 - fxh2) / (2 * h)
        x[i] = tmp
    return grad


def timings_at(dim: int) -> dict[str, float]:
    quad = Quadratic(dim=dim, cond=100.0, seed=0)
    x = torch.randn(dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    fd, h = FiniteDifference("central", h=1e-4), 1e-4
    A, xn = quad.A.numpy(), x.numpy().copy()
    reference = Autograd()(quad, x)[1]
    assert torch.allclose(fd(quad, x)[1], reference, rtol=1e-6, atol=1e-6)
    assert torch.allclose(loop_central(quad.value, x, h), reference, rtol=1e-6, atol=1e-6)
    slow = 3 if dim >= 1000 else 7
    return {
        "finite_diff, batched (ours)": median_time(lambda: fd(quad, x)),
        "finite_diff, torch loop over coordinates": median_time(
            lambda: loop_central(quad.value, x, h), repeat=slow),
        "finite_diff, the textbook's NumPy loop": median_time(lambda: loop_numpy(A, xn, h), repeat=slow),
        "autograd": median_time(lambda: Autograd()(quad, x)),
    }


def main() -> None:
    dims = (10, 100, DIM)
    results = {d: timings_at(d) for d in dims}
    rows = []
    for name in results[dims[0]]:
        cells = []
        for d in dims:
            t, base = results[d][name], results[d]["finite_diff, batched (ours)"]
            cells.append(f"{t * 1e3:.3g} ms ({t / base:.3g}×)")
        rows.append([name, *cells])
    write_table("gradients", "Central-difference gradient of a d-dimensional quadratic "
                f"(float64, CPU, {torch.get_num_threads()} threads); ratio to batched FD",
                ["method", *[f"d = {d}" for d in dims]], rows,
                "Every finite-difference method evaluates f at 2d points. At d = 1,000 each costs "
                "O(d²), so arithmetic dominates and batching gains a small factor; at small d "
                "torch's per-call overhead dominates and one batched call beats a torch loop "
                "by an order of magnitude (NumPy's lower per-call overhead keeps its loop "
                "close at d = 10). Figures move with machine load; rerun to compare.")


if __name__ == "__main__":
    main()
