"""Every private Hydra API the runner uses, fenced here, each with why no public one serves.

Hydra is pinned to 1.3.x (`pyproject.toml`), whose basic sweeper lives in
`hydra._internal.core_plugins`: the grid sweep itself has no public home. Hydra's plugin scan
reloads that module, so the class is looked up when needed, never kept from an earlier import.
"""

from __future__ import annotations

import importlib

BASIC_SWEEPER_MODULE = "hydra._internal.core_plugins.basic_sweeper"
# compared by name: after the reload, class identity is unreliable
BASIC_SWEEPER = f"{BASIC_SWEEPER_MODULE}.BasicSweeper"


def basic_sweeper() -> tuple[type, type]:
    """Hydra's BasicSweeper and its config class, as the module holds them now."""
    module = importlib.import_module(BASIC_SWEEPER_MODULE)
    return module.BasicSweeper, module.BasicSweeperConf


def parse(overrides: list[str]) -> list:
    """Hydra's parsed overrides (its parser lives in hydra.core.override_parser)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides(overrides)


def count_jobs(overrides: list[str]) -> int | None:
    """How many jobs a basic sweep over these overrides launches (None if unknown): the
    basic sweeper's own expansion (`split_arguments`), which Hydra does not expose."""
    try:
        parsed = parse(overrides)
        return sum(len(batch) for batch in basic_sweeper()[0].split_arguments(parsed, None))
    except Exception:  # noqa: BLE001 - a sweeper with its own syntax: the count is unknown
        return None
