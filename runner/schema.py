"""The typed schema under conf/config.yaml: types only; the values are conf/'s alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING


@dataclass
class Divergence:
    max_loss: float = MISSING


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


@dataclass
class Artifacts:
    plots: bool = MISSING
    gif: bool = MISSING


@dataclass
class RunConfig:
    objective: Any = MISSING
    gradient: Any = MISSING
    optimizer: Any = MISSING
    schedule: Any = MISSING
    steps: int = MISSING
    tol: float = MISSING
    seed: int = MISSING
    dtype: str = MISSING
    device: str = MISSING
    resume: bool = MISSING
    sweep_metric: str = MISSING
    divergence: Divergence = field(default_factory=Divergence)
    check: Check = field(default_factory=Check)
    tracking: Tracking = field(default_factory=Tracking)
    artifacts: Artifacts = field(default_factory=Artifacts)
