"""matplotlib's pyplot on the headless Agg backend, imported only when a figure is drawn
(per-run plots and the sweep report both draw with it)."""

from io import BytesIO


def pyplot():
    """pyplot, with the Agg backend selected."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def warm_up() -> None:
    """pyplot loaded and a first small figure drawn (fonts, caches: about half a second),
    so that a process's next figures cost only their drawing."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(2, 2), layout="constrained")
    ax.plot([1, 2], [1, 10], "o-", label="warm-up")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend()
    fig.savefig(BytesIO(), format="png")
    plt.close(fig)


def margins(fig, *, left: float, right: float, bottom: float, top: float,
            wspace: float = 0.0, hspace: float = 0.0) -> None:
    """Lay out a figure's grid of subplots with margins and gaps in inches: for figures
    whose labels are known in advance (log-scale ticks, an axis label each side, a title),
    what tight_layout would find, without drawing the figure an extra time to measure
    them (about a third of such a figure's cost)."""
    width, height = fig.get_size_inches()
    rows, cols = fig.axes[0].get_subplotspec().get_geometry()[:2]
    axes_width = (width - left - right - (cols - 1) * wspace) / cols
    axes_height = (height - bottom - top - (rows - 1) * hspace) / rows
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height, wspace=wspace / axes_width,
                        hspace=hspace / axes_height)
