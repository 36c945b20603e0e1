"""A sweep's ledger: one line per job as it ends, whatever process it ran in, so that the
sweep can tell at its end which configurations have no complete run.

The launching process names the file (in the sweep's folder) in the sweep's info; each job
appends one JSON line with O_APPEND (atomic across processes on one machine). Jobs on other
machines that cannot reach the file are counted from MLflow instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.constants import FAILED, KILLED
from runner.results import Outcome

LEDGER = "jobs.jsonl"


def path_in(folder: str | Path) -> str:
    return str(Path(folder) / LEDGER)


def append(info: dict | None, overrides: Sequence[str], outcome: Outcome) -> None:
    """Note a job's end in the sweep's ledger (nothing outside a sweep)."""
    if not info or not info.get("ledger"):
        return
    line = json.dumps({"overrides": " ".join(overrides), "run_id": outcome.run_id,
                       "status": outcome.status, "error": outcome.result.get("error"),
                       "skipped": bool(outcome.result.get("skipped")),
                       "unrecorded": bool(outcome.result.get("unrecorded"))})
    try:
        fd = os.open(info["ledger"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
    except OSError:  # a worker that cannot reach the file: MLflow's count speaks for it
        pass


@dataclass
class Entry:
    overrides: str
    run_id: str | None
    status: str
    error: str | None
    skipped: bool = False  # found finished by resume (computed earlier, now a child here)
    unrecorded: bool = False  # its run ended FAILED because the store failed recording it


def read(info: dict) -> list[Entry]:
    try:
        text = Path(info["ledger"]).read_text()
    except (OSError, KeyError):
        return []
    return [Entry(**json.loads(line)) for line in text.splitlines() if line.strip()]


def incomplete(entries: Sequence[Entry], running: Sequence[str], jobs: int | None,
               children: int) -> list[str]:
    """What went wrong, a line per configuration: no run recorded, a run ended FAILED because
    the store failed while recording it, or a run the sweep could not complete (left
    RUNNING, ended KILLED by this process); and, of `jobs` expected,
    those that left neither a run under the sweep (`children`) nor a line in the ledger
    (a worker that died, or one on another machine that failed before logging)."""
    unrecorded = [e for e in entries if not e.run_id and e.status == FAILED]
    lines = [f"{e.overrides or '(no overrides)'}: no run was recorded ({e.error})"
             for e in unrecorded]
    lines += [f"{e.overrides or '(no overrides)'}: run {e.run_id} ended FAILED while the store "
              f"failed to record it ({e.error})" for e in entries if e.run_id and e.unrecorded]
    lines += [f"run {run_id} was not completed (ended {KILLED.upper()})" for run_id in running]
    unaccounted = (jobs or 0) - children - len(unrecorded)  # resumed runs are children too
    if unaccounted > 0:
        lines.append(f"{unaccounted} of {jobs} configurations left no run and no word "
                     "(their process died?)")
    return lines
