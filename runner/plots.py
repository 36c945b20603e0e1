"""Per-run pictures: the loss curve, the path over the contour plot for 2-D objectives (still
and animated), and the fitted line for regression objectives.

They are drawn from numpy arrays alone: a Record, and a Scene holding what the objective
contributes (x*, f*, f on a grid), evaluated once beforehand (runner.artifacts.scene).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runner.headless import margins, pyplot
from runner.results import Record

# float64 resolves a value no finer than this times its scale (|f*|, or the starting gap)
EPS = float(np.finfo(np.float64).eps)


@dataclass
class Scene:
    """What a run's pictures need of its objective, evaluated beforehand (see
    runner.artifacts.scene): x* and f* where known, f on a grid around a 2-D path (U, V, Z),
    and a line fit's data points (x, y)."""

    minimizer: np.ndarray | None = None
    minimum: float | None = None
    contour: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    fit_data: tuple[np.ndarray, np.ndarray] | None = None


def draw_plots(folder: Path, artifacts: dict, record: Record, scene: Scene, name: str) -> None:
    """The plots `artifacts` asks for (`plots`, `gif`), drawn into folder."""
    if artifacts["plots"]:
        loss_curve(record, name, folder / "loss.png")
        if scene.contour is not None:
            trajectory_plot(scene, record, name, folder / "trajectory.png")
        if scene.fit_data is not None:
            fit_plot(scene, record, name, folder / "fit.png")
    if artifacts["gif"] and scene.contour is not None:
        trajectory_gif(scene, record, name, folder / "trajectory.gif")


def loss_values(record: Record) -> tuple[np.ndarray, str, float]:
    """What the loss plot draws, its label, and the scale machine precision is relative to:
    f − f* where f* is known (scale max(|f*|, f₀ − f*)); f where it stays positive (scale
    |f₀|); else f − min f, this run's lowest loss (scale max(|min f|, f₀ − min f)), since a
    log axis cannot show f ≤ 0 and |f| is another curve."""
    loss = record.histories["loss"]
    if "suboptimality" in record.histories:
        gap = record.histories["suboptimality"]
        return gap, "f(x) − f*", max(abs(loss[0] - gap[0]), abs(gap[0]))
    finite = loss[np.isfinite(loss)]
    if not finite.size or finite.min() > 0:
        return loss, "f(x)", abs(finite[0]) if finite.size else 0.0
    low = float(finite.min())
    return (loss - low, f"f(x) − min f   (min f = {low:.6g}, this run's lowest)",
            max(abs(low), abs(finite[0] - low)))


def loss_curve(record: Record, title: str, path: Path):
    """Loss (`loss_values`: f − f*, f, or f − min f) against step, log scale, from the first
    step to the last; values below machine precision (EPS × their scale, f − f* of exactly 0
    included) are drawn on its dotted line. Returns the (closed) Figure."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    values, label, scale = loss_values(record)
    steps = record.index
    floor = EPS * scale
    finite = np.where(np.isfinite(values), values, np.nan)
    if floor > 0:
        ax.plot(steps, np.maximum(finite, floor), lw=1.5)
        ax.axhline(floor, color="grey", ls=":", lw=1, label=f"machine precision ({floor:.1e})")
        ax.set_yscale("log")
        ax.legend(fontsize=8, loc="best")
    else:  # nothing to scale by (every value 0): linear
        ax.plot(steps, finite, lw=1.5)
    ax.set_xlim(0, max(int(steps[-1]), 1))
    ax.set_xlabel("step")
    ax.set_ylabel(label)
    ax.set_title(f"{title}  [{record.status}]", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    margins(fig, left=0.9, right=0.2, bottom=0.6, top=0.35)  # log-scale ticks, a label each
    fig.savefig(path)
    plt.close(fig)
    return fig


def contour_box(points: np.ndarray, minimizer: np.ndarray | None,
                resolution: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """The grid (U, V) a contour plot evaluates f on: around the path (and the minimizer)."""
    box = [points[np.isfinite(points).all(1)]]
    if minimizer is not None:
        box.append(minimizer[None])
    pts = np.concatenate(box)
    lo, hi = pts.min(0), pts.max(0)
    pad = np.maximum((hi - lo) * 0.15, 0.5)
    u = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    v = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    return tuple(np.meshgrid(u, v))


def trajectory_plot(scene: Scene, record: Record, title: str, path: Path) -> None:
    """The iterates over the contour plot of a 2-D objective (log-spaced levels)."""
    plt = pyplot()
    points = record.points
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=100)
    contour_background(ax, scene)
    ax.plot(points[:, 0], points[:, 1], "-o", color="tab:orange", ms=2.5, lw=1, label="iterates")
    ax.plot(*points[0], "s", color="black", ms=6, label="x0")
    ax.plot(*record.x_final[:2], "*", color="tab:red", ms=10, label="final")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def contour_background(ax, scene: Scene) -> None:
    """Log-spaced contour lines of a 2-D objective around the path (and x*, where known)."""
    U, V, Z = scene.contour
    floor = scene.minimum if scene.minimum is not None else np.nanmin(Z)
    shifted = Z - floor + 1e-12
    levels = np.geomspace(max(np.nanmin(shifted), 1e-12), np.nanmax(shifted), 25)
    ax.contour(U, V, shifted, levels=levels, cmap="viridis", linewidths=0.8)
    if scene.minimizer is not None:
        ax.plot(*scene.minimizer, "P", color="tab:green", ms=9, label="x*")
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")


def trajectory_gif(scene: Scene, record: Record, title: str, path: Path,
                   frames: int = 60, fps: int = 12) -> int:
    """The path drawn step by step over the contour plot, as an animated GIF (Pillow).

    At most `frames` frames, evenly spread over the steps, the last held for a second;
    returns the number of frames. The contours are drawn once and each frame blits only
    the path onto them (about 20x faster than redrawing the figure per frame).
    """
    from PIL import Image

    plt = pyplot()
    points = record.points
    shown = np.unique(np.linspace(0, len(points) - 1, min(frames, len(points))).round()
                      ).astype(int)
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=80)
    contour_background(ax, scene)
    ax.plot(*points[0], "s", color="black", ms=6, label="x0")
    (line,) = ax.plot([], [], "-o", color="tab:orange", ms=2.5, lw=1, label="iterates",
                      animated=True)
    (head,) = ax.plot([], [], "o", color="tab:red", ms=6, animated=True)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title, fontsize=9)
    step = ax.text(0.02, 0.02, "", transform=ax.transAxes, fontsize=9, animated=True)
    fig.tight_layout()
    canvas = fig.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    images = []
    for t in shown:
        canvas.restore_region(background)
        line.set_data(points[: t + 1, 0], points[: t + 1, 1])
        head.set_data(points[t : t + 1, 0], points[t : t + 1, 1])
        step.set_text(f"step {record.index[t]}")
        for artist in (line, head, step):
            ax.draw_artist(artist)
        images.append(Image.frombuffer("RGBA", canvas.get_width_height(),
                                       canvas.buffer_rgba()).convert("RGB"))
    plt.close(fig)
    # one palette for all frames (from the last, which has every colour): unchanged pixels
    # keep their index, so Pillow stores each frame as a small difference
    palette = images[-1].quantize(colors=64)
    images = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    durations = [round(1000 / fps)] * (len(images) - 1) + [1000]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0,
                   optimize=True)
    return len(images)


def fit_plot(scene: Scene, record: Record, title: str, path: Path):
    """The data, the fitted line ŷ = a·x + b at the final θ = (a, b), and the
    least-squares line θ* for comparison; returns the (closed) Figure."""
    plt = pyplot()
    xs, ys = scene.fit_data
    grid = np.linspace(xs.min(), xs.max(), 2)
    a, b = record.x_final[:2]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(xs, ys, "o", color="tab:blue", ms=3, alpha=0.6, label=f"data (n={len(xs)})")
    ax.plot(grid, a * grid + b, color="tab:orange", lw=2, label=f"fit: a={a:.4g}, b={b:.4g}")
    if scene.minimizer is not None:
        a_star, b_star = scene.minimizer.tolist()
        ax.plot(grid, a_star * grid + b_star, "--", color="black", lw=1,
                label=f"least squares: a={a_star:.4g}, b={b_star:.4g}")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"{title}  [{record.status}]", fontsize=9)
    ax.legend(fontsize=8, loc="best")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return fig
