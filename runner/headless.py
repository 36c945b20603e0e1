"""matplotlib's pyplot on the headless Agg backend, imported only when a figure is drawn
(per-run plots and the sweep report both draw with it)."""


def pyplot():
    """pyplot, with the Agg backend selected."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt
