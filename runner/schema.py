"""The typed schema under conf/config.yaml: YAML holds the values, this holds the types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class Divergence:
    max_loss: float = 1e15


@dataclass
class Check:
    every: int = 0
    reference: str = "autograd"


@dataclass
class Tracking:
    uri: Optional[str] = None
    experiment: str = "gradlab"
    max_points: Optional[int] = 1000
    sweep_points: int = 20000


@dataclass
class Artifacts:
    plots: bool = True
    gif: bool = False


@dataclass
class RunConfig:
    objective: Any = MISSING
    gradient: Any = MISSING
    optimizer: Any = MISSING
    schedule: Any = MISSING
    steps: int = 100
    tol: float = 0.0
    seed: int = 0
    dtype: str = "float64"
    device: str = "cpu"
    resume: bool = False
    sweep_metric: str = "final_loss"
    divergence: Divergence = field(default_factory=Divergence)
    check: Check = field(default_factory=Check)
    tracking: Tracking = field(default_factory=Tracking)
    artifacts: Artifacts = field(default_factory=Artifacts)


ConfigStore.instance().store(name="schema", node=RunConfig)
