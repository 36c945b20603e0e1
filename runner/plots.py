"""Per-run pictures: the loss curve, and the path over the contour plot for 2-D objectives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from objectives import Objective
from runner.results import Record


def pyplot():
    """matplotlib's pyplot on the headless Agg backend, imported only when a plot is made."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def loss_curve(record: Record, title: str, path: Path) -> None:
    """Loss (or f − f* where f* is known) against step, log scale."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    key = "suboptimality" if "suboptimality" in record.histories else "loss"
    values = np.abs(record.histories[key])
    steps = np.arange(len(values))
    ax.plot(steps, np.where(values > 0, values, np.nan), lw=1.5)
    if np.nanmax(values, initial=0) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("f(x) − f*" if key == "suboptimality" else "f(x)")
    ax.set_title(f"{title}  [{record.status}]", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def contour_grid(objective: Objective, points: np.ndarray, resolution: int = 200):
    """A grid around the path (and the minimizer), with f evaluated in one batched call."""
    box = [points[np.isfinite(points).all(1)]]
    if objective.minimizer is not None:
        box.append(objective.minimizer.cpu().numpy()[None])
    pts = np.concatenate(box)
    lo, hi = pts.min(0), pts.max(0)
    pad = np.maximum((hi - lo) * 0.15, 0.5)
    u = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    v = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    U, V = np.meshgrid(u, v)
    grid = torch.as_tensor(np.stack([U, V], -1), dtype=objective.dtype, device=objective.device)
    with torch.no_grad():
        Z = objective.value(grid).cpu().numpy()
    return U, V, Z


def trajectory_plot(objective: Objective, record: Record, title: str, path: Path) -> None:
    """The iterates over the contour plot of a 2-D objective (log-spaced levels)."""
    plt = pyplot()
    points = record.points
    U, V, Z = contour_grid(objective, points)
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=100)
    floor = objective.minimum if objective.minimum is not None else np.nanmin(Z)
    shifted = Z - floor + 1e-12
    levels = np.geomspace(max(np.nanmin(shifted), 1e-12), np.nanmax(shifted), 25)
    ax.contour(U, V, shifted, levels=levels, cmap="viridis", linewidths=0.8)
    ax.plot(points[:, 0], points[:, 1], "-o", color="tab:orange", ms=2.5, lw=1, label="iterates")
    ax.plot(*points[0], "s", color="black", ms=6, label="x0")
    ax.plot(*record.x_final[:2], "*", color="tab:red", ms=10, label="final")
    if objective.minimizer is not None:
        ax.plot(*objective.minimizer.cpu().numpy(), "P", color="tab:green", ms=9, label="x*")
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
