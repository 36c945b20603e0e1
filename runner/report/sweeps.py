"""The sweeps a report covers: their parent runs, the command each ran, links to the MLflow UI."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from runner.constants import COMMAND_TAG, OVERRIDES_TAG
from runner.tracking.client import StoreError


@dataclass
class Sweep:
    """A sweep's parent run: its id, name, experiment and command-line overrides."""

    run_id: str
    name: str
    experiment_id: str
    overrides: str  # the parent's `overrides` tag: the overrides joined with spaces
    recorded: str = ""  # the parent's `command` tag: the whole command line, where recorded
    params: dict[str, str] = field(default_factory=dict)  # the parent's (an Optuna study's)

    @property
    def command(self) -> str:
        """`python -m runner -m <overrides>`, quoted to paste into a POSIX shell (with the
        launcher and sweeper choices, where the parent recorded its whole command)."""
        return self.recorded or shlex.join(["python", "-m", "runner", "-m",
                                            *split(self.overrides)])


def split(overrides: str) -> list[str]:
    """The overrides of a tag that joined them with spaces: words rejoined while a quote
    is open (`objective.expr="x[0]**2 + 1"` is one override)."""
    out: list[str] = []
    for word in overrides.split(" "):
        if out and any(out[-1].count(q) % 2 for q in "\"'"):
            out[-1] += " " + word
        elif word:
            out.append(word)
    return out


def read_sweeps(client, parent_run_ids: list[str]) -> list[Sweep]:
    """The parents that exist, in the order given (one request each)."""
    found = []
    for run_id in parent_run_ids:
        try:
            run = client.get_run(run_id)
        except StoreError:
            continue
        found.append(Sweep(run_id, run.info.run_name or run_id[:8], run.info.experiment_id,
                           run.data.tags.get(OVERRIDES_TAG, ""),
                           run.data.tags.get(COMMAND_TAG, ""), dict(run.data.params)))
    return found
