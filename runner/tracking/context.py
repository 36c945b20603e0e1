"""Where and how a job logs (Context): plain data, so that it passes between processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Context:
    """Where and how a job logs: decided once by the launching process."""

    uri: str
    experiment_id: str
    parent_run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    output_dir: Path | None = None
    max_points: int | None = 1000  # metric points per history sent to MLflow (None: all)

    @property
    def in_sweep(self) -> bool:
        return self.parent_run_id is not None

    @property
    def client(self):
        """The store's MlflowClient (runner.tracking.client.client_for)."""
        from runner.tracking.client import client_for

        return client_for(self.uri)
