"""Python's cyclic garbage collector, paused while the command loads its libraries.

Importing torch, MLflow (SQLAlchemy, alembic), Hydra and Optuna makes millions of objects,
and the collector, run every 700 new containers, scans the older ones again and again:
`import torch, mlflow, optuna, hydra, matplotlib.pyplot` took 5.7 s with it and 4.1 s
without (medians of 5, 2 cores). The command pauses it when it starts (`pause`, in
runner.__main__) and resumes it when the work begins (`resume`: a job's first step, a
vectorized launch, a single run's helper once warm, a sweep's end). What exists then lives
as long as the process, so it is frozen (never scanned again), and collections come less
often: a sweep makes and reads thousands of runs' objects.
"""

from __future__ import annotations

import gc

THRESHOLD = 20_000  # new containers between two young-generation collections


def pause() -> None:
    """No collections until `resume` (reference counting still frees what it can)."""
    gc.disable()


def resume() -> None:
    """Collect again, leaving out what exists now; nothing if never paused (the collector
    of a test or a library user is theirs)."""
    if gc.isenabled():
        return
    gc.freeze()
    gc.set_threshold(max(gc.get_threshold()[0], THRESHOLD))
    gc.enable()
