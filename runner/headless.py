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
