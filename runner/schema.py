"""The typed schema under conf/config.yaml, and the checks its types cannot express.

The dataclasses hold types only; the values are conf/'s alone. Hydra checks a value against
its type when the config is composed. What a type cannot say is checked here, before anything
is built: the ranges of the run options (`check_values`), and each config group option's keys
against its `_target_`'s signature (`check_option`): an unknown key, or a value of the wrong
kind (a string for a number, a list for a scalar, NaN), is refused with its key.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from omegaconf import MISSING

from runner.errors import ConfigError

INT64_MAX = 2**63 - 1  # steps, seeds and counts become torch int64 values
# what the runner passes to a group's target itself: a config cannot set it
INJECTED = {"objective": ("dtype", "device"), "optimizer": ("schedule",)}


@dataclass
class Divergence:
    max_loss: float = MISSING


@dataclass
class Stall:
    steps: Optional[int] = MISSING
    rtol: float = MISSING


@dataclass
class Check:
    every: int = MISSING
    reference: str = MISSING


@dataclass
class Tracking:
    uri: Optional[str] = MISSING
    experiment: str = MISSING
    max_points: Optional[int] = MISSING
    sweep_points: int = MISSING
    trial: Optional[int] = MISSING


@dataclass
class Artifacts:
    plots: Any = MISSING  # true, false or all
    gif: bool = MISSING
    history_mb: float = MISSING


@dataclass
class RunConfig:
    objective: Any = MISSING
    gradient: Any = MISSING
    optimizer: Any = MISSING
    schedule: Any = MISSING
    sampling: Any = MISSING
    steps: int = MISSING
    tol: float = MISSING
    seed: int = MISSING
    dtype: str = MISSING
    device: str = MISSING
    resume: bool = MISSING
    sweep_metric: str = MISSING
    eval_every: Optional[int] = MISSING
    divergence: Divergence = field(default_factory=Divergence)
    stall: Stall = field(default_factory=Stall)
    check: Check = field(default_factory=Check)
    tracking: Tracking = field(default_factory=Tracking)
    artifacts: Artifacts = field(default_factory=Artifacts)


# the sections of RunConfig, by the name its (string) annotations give them
SECTIONS = {"Divergence": Divergence, "Stall": Stall, "Check": Check, "Tracking": Tracking,
            "Artifacts": Artifacts}


def check_values(config: Mapping[str, Any]) -> None:
    """Check the run options' ranges (the schema has their types), and that no key was
    added (`+foo=1`) that nothing reads; raise a ConfigError."""
    _known_keys(config, RunConfig, "")
    _integer("steps", config["steps"], 0)
    _integer("seed", config["seed"], -INT64_MAX - 1)
    if not 0 <= config["tol"] < math.inf:
        raise ConfigError(f"tol must be a finite number >= 0, got {config['tol']}")
    if not config["divergence"]["max_loss"] > 0:
        raise ConfigError("divergence.max_loss must be > 0 (inf: only non-finite losses "
                          f"diverge), got {config['divergence']['max_loss']}")
    stall = config["stall"]
    if stall["steps"] is not None:
        _integer("stall.steps", stall["steps"], 0, " (0: off, null: the optimizer's default)")
    if not 0 <= stall["rtol"] < 1:
        raise ConfigError(f"stall.rtol must be a number in [0, 1), got {stall['rtol']}")
    _integer("check.every", config["check"]["every"], 0, " (0: off)")
    if config["eval_every"] is not None:
        _integer("eval_every", config["eval_every"], 0, " (0: off, null: the default)")
    tracking = config["tracking"]
    if tracking["max_points"] is not None:
        _integer("tracking.max_points", tracking["max_points"], 1, " (null: every point)")
    _integer("tracking.sweep_points", tracking["sweep_points"], 1)
    if config["artifacts"]["plots"] not in (True, False, "all"):
        raise ConfigError("artifacts.plots must be true (single runs, and a sweep's best run), "
                          f"all (every run of a sweep too) or false, got "
                          f"{config['artifacts']['plots']!r}")
    history_mb = config["artifacts"]["history_mb"]
    if not 0.01 <= history_mb < math.inf:
        raise ConfigError(f"artifacts.history_mb must be a number of megabytes >= 0.01, got "
                          f"{history_mb}")
    if not str(tracking["experiment"]).strip():
        raise ConfigError("tracking.experiment must be a non-empty name")
    if not str(config["sweep_metric"]).strip():
        raise ConfigError("sweep_metric must name a metric (final_loss, suboptimality, ...)")


def _known_keys(node: Mapping[str, Any], schema: type, prefix: str) -> None:
    known = {f.name: f.type for f in fields(schema)}
    for key, value in node.items():
        if key not in known and key != "hydra":
            where = f"{prefix[:-1]} has" if prefix else "the config has"
            raise ConfigError(f"{prefix}{key} is not a config key: {where} only "
                              f"{', '.join(known)}")
        if isinstance(value, Mapping) and known.get(key) in SECTIONS:
            _known_keys(value, SECTIONS[known[key]], f"{prefix}{key}.")


def _integer(key: str, value: int, low: int, note: str = "") -> None:
    if value < low:
        raise ConfigError(f"{key} must be an integer >= {low}{note}, got {value}")
    if value > INT64_MAX:
        raise ConfigError(f"{key} must be at most 2**63 - 1 (int64), got {value}")


def check_option(group: str, node: Mapping[str, Any], label: str) -> None:
    """Check each key of a group's node (`label`: its option, `adam`) against the signature
    of its `_target_`: known to it, and of the kind its annotation (or, for keys it takes as
    **kwargs, its default in conf/) gives; numbers finite. Raise a ConfigError naming the key."""
    from objectives.base import shown

    params, free = _signature(group, str(node.get("_target_")))
    if params is None:  # a target that does not import: instantiation says why
        return
    for key, value in node.items():
        if key.startswith("_"):
            continue
        if key in INJECTED.get(group, ()):
            raise ConfigError(f"{group}.{key} is not an option: the top-level `{key}` sets it")
        if key not in params and free is None:
            known = ", ".join(k for k in params if k not in INJECTED.get(group, ()))
            raise ConfigError(f"{group}: {label} has no option '{key}'; "
                              + (f"its options are {known}" if known else "it takes none"))
        kinds = params.get(key) if key in params else free.get(key)
        if kinds is not None and not any(_matches(value, kind) for kind in kinds):
            raise ConfigError(f"{group}.{key} must be {_describe(kinds)}, got {shown(value)}")
        if not _finite(value):
            raise ConfigError(f"{group}.{key} must be finite, got {shown(value)}")


@functools.cache
def _signature(group: str, target: str) -> tuple[dict | None, dict | None]:
    """({parameter: its kinds or None (unchecked)}, the kinds of keys taken as **kwargs by
    their conf/ defaults, or None when the target takes no **kwargs)."""
    from hydra.utils import get_object

    from runner import config

    try:
        parameters = inspect.signature(get_object(target)).parameters.values()
    except Exception:  # noqa: BLE001 - any failure to import is reported by instantiation
        return None, None
    params = {p.name: _kinds(p.annotation) for p in parameters
              if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    if not any(p.kind == p.VAR_KEYWORD for p in parameters):
        return params, None
    free: dict[str, tuple | None] = {}
    for name in config.options(group):
        option = config.option(group, name)
        if option.get("_target_") == target:
            for key, default in option.items():
                kind = _default_kind(default)
                free[key] = None if kind is None or free.get(key, ()) is None else (
                    *free.get(key, ()), kind)
    return params, free


def _default_kind(default: Any) -> Any:
    if isinstance(default, str) and "${" in default:
        return None
    for kind, types in (("bool", bool), ("int", int), ("number", float), ("str", str)):
        if isinstance(default, types):
            return kind
    return ("list", None) if isinstance(default, list) else None


# annotations a config cannot hold a value of (the runner passes these itself, or never)
IGNORED = ("Tensor", "torch.Tensor", "torch.dtype", "torch.device")
SCALARS = {"None": "null", "bool": "bool", "int": "int", "float": "number", "Hyper": "number",
           "Real": "number", "str": "str"}


def _kinds(annotation: Any) -> tuple | None:
    """The kinds of config value an annotation admits (`float | None` -> ("number", "null")),
    or None if it says nothing checkable (no annotation, Any, a callable)."""
    if annotation is inspect.Parameter.empty:
        return None
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    if text.startswith("Optional[") and text.endswith("]"):
        text = f"{text[9:-1]} | None"
    kinds = []
    for member in _split(text, "|"):
        name, _, args = member.partition("[")
        if member in SCALARS:
            kinds.append(SCALARS[member])
        elif name in ("Sequence", "list", "tuple") and args:
            inner = _kinds(_split(args[:-1], ",")[0])
            kinds.append(("list", inner))
        elif name in ("Mapping", "dict") and args:
            kinds.append(("dict", _kinds(_split(args[:-1], ",")[-1])))
        elif member not in IGNORED:
            return None
    return tuple(kinds) or None


def _split(text: str, sep: str) -> list[str]:
    """`text` split at `sep` outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "[") - (ch == "]")
        if ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    return [*parts, text[start:].strip()]


def _matches(value: Any, kind: Any) -> bool:
    if isinstance(kind, tuple):
        container, inner = kind
        items = (value if container == "list" and isinstance(value, (list, tuple))
                 else value.values() if container == "dict" and isinstance(value, dict) else None)
        return items is not None and (inner is None or all(
            any(_matches(v, k) for k in inner) for v in items))
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return {"null": value is None, "bool": isinstance(value, bool), "str": isinstance(value, str),
            "int": number and isinstance(value, int), "number": number}[kind]


def _describe(kinds: tuple, plural: bool = False) -> str:
    words = {"null": ("null", "nulls"), "bool": ("true or false", "booleans"),
             "int": ("an integer", "integers"), "number": ("a number", "numbers"),
             "str": ("a string", "strings")}
    out = []
    for kind in kinds:
        if isinstance(kind, tuple):
            noun = "a list" if kind[0] == "list" else "a mapping"
            noun = noun[2:] + "s" if plural else noun
            out.append(noun + ("" if kind[1] is None else
                               (" of " if kind[0] == "list" else " to ") + _describe(kind[1], True)))
        else:
            out.append(words[kind][plural])
    return " or ".join(out)


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return all(_finite(v) for v in value.values()) if isinstance(value, dict) else True
