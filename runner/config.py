"""The config: where its YAML lives, its typed schema, and the names `conf/` offers.

`conf/` is the only registry of names and defaults: a config group's options are its YAML
files, each option's defaults are the values in its file, and the schema (runner.schema)
holds only types.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

# runner/conf is the repository's conf/ (a link in a checkout, a copy inside an installed
# wheel), so the configs are found wherever the package is
CONF_DIR = Path(__file__).resolve().parent / "conf"


def register_schema() -> None:
    """Make the schema known to Hydra as `schema` (conf/config.yaml's first default)."""
    from hydra.core.config_store import ConfigStore

    from runner.schema import RunConfig

    ConfigStore.instance().store(name="schema", node=RunConfig)


def groups() -> list[str]:
    """The config groups a run composes: the folders of conf/ (Hydra's own aside)."""
    return sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "hydra")


def options(group: str) -> list[str]:
    """The options of a config group: the names of its YAML files."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


# arguments that add config folders: their options are not all in conf/
SEARCH_PATH_ARGS = ("--config-dir", "-cd", "--config-path", "-cp", "hydra.searchpath")


def malformed(argv: list[str]) -> str | None:
    """What is wrong with an override Hydra's grammar cannot read, in a line; else None."""
    from hydra.errors import OverrideParseException

    from runner.sweep.hydra_private import parse

    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        try:
            parse([arg])
        except OverrideParseException as exc:
            detail = [line for line in str(exc).splitlines() if line.strip() and not
                      line.startswith(("See ", "Error parsing override"))] or ["malformed"]
            return f"{arg}: {detail[0]}".replace("while evaluating", "in")
        except Exception:  # noqa: BLE001 - not the grammar's: Hydra judges it
            return None
    return None


def unknown_choice(argv: list[str]) -> str | None:
    """What is wrong with a single run's group choice that names no option of conf/
    (`optimizer=adamm`), in a line; None when all are known, or the command adds config
    folders (Hydra judges those), or is a sweep (its launch checks every axis)."""
    from runner.sweep.study import SAMPLERS

    for arg in argv:  # the Optuna sweeper's samplers, as Hydra's Optuna sweeper names them
        key, _, value = arg.partition("=")
        if key == "hydra/sweeper/sampler" and value not in SAMPLERS:
            return f"Could not find '{key}/{value}': the samplers are {', '.join(SAMPLERS)}"
    if any(a.startswith(SEARCH_PATH_ARGS) or a in ("-m", "--multirun") for a in argv):
        return None
    known = groups()
    for arg in argv:
        key, eq, value = arg.partition("=")
        if eq and key in known and value not in options(key) and not any(
                c in value for c in "()[]{}$*"):
            return f"Could not find '{key}/{value}': the options of {key} are " + ", ".join(
                options(key))
    return None


@functools.cache
def option(group: str, name: str) -> dict[str, Any]:
    """The defaults of one option (`option("gradient", "autograd")`), as its file has them."""
    path = CONF_DIR / group / f"{name}.yaml"
    if not path.is_file():
        from runner.errors import ConfigError

        raise ConfigError(f"{group} '{name}' does not exist; choose one of "
                          f"{', '.join(options(group))}")
    return yaml.safe_load(path.read_text()) or {}


def config_yaml(config: dict[str, Any]) -> str:
    """The resolved config as YAML, exactly as `OmegaConf.to_yaml(cfg, resolve=True)` writes
    it, at a fraction of the cost in a sweep: each top-level entry is dumped once per
    distinct value (a sweep varies a few of them) and the pieces are joined."""
    from runner.omegaconf_private import get_omega_conf_dumper

    pieces = []
    for key, value in config.items():
        if key != "hydra":
            cache_key = (key, repr(value))
            if cache_key not in _YAML_PIECES:
                if len(_YAML_PIECES) > 4096:
                    _YAML_PIECES.clear()
                _YAML_PIECES[cache_key] = yaml.dump(
                    {key: value}, default_flow_style=False, allow_unicode=True, sort_keys=False,
                    Dumper=get_omega_conf_dumper())
            pieces.append(_YAML_PIECES[cache_key])
    return "".join(pieces)


_YAML_PIECES: dict[tuple[str, str], str] = {}
