"""Build optimizers and schedules as a config does: from conf/<group>/<name>.yaml (its
`_target_` and defaults), with some values replaced, through the runner's own instantiation
(errors phrased for the user). conf/ is the only registry of names."""

from __future__ import annotations

from typing import Any

from runner.build import instantiate_node
from runner.config import option, options


def optimizer(name: str, **values: Any):
    """The optimizer conf/optimizer/<name>.yaml builds, with `values` replacing its own
    (a `schedule` is passed through)."""
    return instantiate_node({**option("optimizer", name), **values}, "optimizer")


def schedule(name: str, **params: Any):
    """The schedule conf/schedule/<name>.yaml builds, with `params` replacing its own."""
    return instantiate_node({**option("schedule", name), **params}, "schedule")


__all__ = ["optimizer", "options", "schedule"]
