"""A multirun's jobs as batched computations: what `hydra/launcher=vectorized` does.

Hydra hands the launcher every job's overrides; here each becomes a RunSpec (composed once
per combination of group choices), is given where it logs, and runs in `batch.run_jobs`, or
in a batched study's engine process (runner.sweep.engine), which spares this one torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from runner.results import Outcome
from runner.spec import RunSpec
from runner.sweep import engine, ledger
from runner.sweep.callbacks import sweep_info
from runner.sweep.composer import Composer
from runner.tracking.pipeline import Job
from runner.tracking.runs import context


def compose_jobs(composer: Composer, job_overrides: Sequence[Sequence[str]]) -> list[Job]:
    """Each job's spec, and where it logs (the sweep's parent, made by SweepTracking)."""
    sweep, jobs = sweep_info(), []
    for overrides in job_overrides:
        task, choices = composer.compose(list(overrides))
        spec = RunSpec.from_config(task, choices, overrides)
        jobs.append((spec, context(spec, sweep, Path.cwd())))
    return jobs


def launch(composer: Composer, job_overrides: Sequence[Sequence[str]], *, max_rows: int,
           memory_mb: float,
           on_done: Callable[[Sequence[int], Sequence[Outcome]], None]) -> list[Outcome]:
    """Run the jobs batched; `on_done` hears of each run as it is recorded (for a batched
    study's engine, after this returns: runner.sweep.engine.settle waits). The composer
    (one a sweep, kept across launches: an Optuna study launches a generation at a time)
    composes each combination of group choices once."""
    jobs, info, reported = compose_jobs(composer, job_overrides), sweep_info(), set()

    def noted(indices: Sequence[int], outcomes: Sequence[Outcome]) -> None:
        for i, outcome in zip(indices, outcomes):
            ledger.append(info, job_overrides[i], outcome)
            reported.add(i)
        on_done(indices, outcomes)

    def here(indices: Sequence[int]) -> list[Outcome]:
        """These jobs computed in this process, each reported once recorded."""
        from runner.sweep.batch import run_jobs  # loads torch

        outcomes = run_jobs([jobs[i] for i in indices], max_rows=max_rows,
                            memory_mb=memory_mb,
                            on_done=lambda idx, found: noted([indices[i] for i in idx], found))
        for i, outcome in zip(indices, outcomes):
            if i not in reported:  # never reported: no run was recorded for it
                noted([i], [outcome])
        return outcomes

    computer = engine.for_jobs(jobs)
    if computer is not None:  # results now, each run reported as it is recorded
        return engine.run_jobs(computer, jobs, max_rows=max_rows, memory_mb=memory_mb,
                               on_done=noted, here=here)
    return here(range(len(jobs)))
