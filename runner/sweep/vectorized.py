"""A multirun's jobs as batched computations: what `hydra/launcher=vectorized` does.

Hydra hands the launcher every job's overrides; here each becomes a RunSpec (composed once
per combination of group choices), is given where it logs, and runs in `batch.run_jobs`, or
in the engine process (runner.sweep.engine), which spares this one torch. A plain sweep's
jobs go to the engine before the sweep's MLflow store is opened (runner.sweep.callbacks.
opened): the first rows are computed while this process loads MLflow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runner.results import Outcome
from runner.spec import RunSpec
from runner.sweep import engine, ledger
from runner.sweep.callbacks import opened, sweep_info
from runner.sweep.composer import Composer

if TYPE_CHECKING:  # MLflow: loaded once the jobs are on their way (a plain sweep's engine)
    from runner.tracking.pipeline import Job


def compose_specs(composer: Composer, job_overrides: Sequence[Sequence[str]]) -> list[RunSpec]:
    """Each job's spec."""
    specs = []
    for overrides in job_overrides:
        task, choices = composer.compose(list(overrides))
        specs.append(RunSpec.from_config(task, choices, overrides))
    return specs


def with_contexts(specs: Sequence[RunSpec]) -> list[Job]:
    """Each job with where it logs (the sweep's parent, made by SweepTracking: now, if its
    opening waited for the jobs to go to the engine)."""
    from runner.tracking.runs import context

    sweep = opened()
    return [(spec, context(spec, sweep, Path.cwd())) for spec in specs]


def launch(composer: Composer, job_overrides: Sequence[Sequence[str]], *, max_rows: int,
           memory_mb: float,
           on_done: Callable[[Sequence[int], Sequence[Outcome]], None]) -> list[Outcome]:
    """Run the jobs batched; `on_done` hears of each run as it is recorded (for a batched
    study's engine, after this returns: runner.sweep.engine.settle waits). The composer
    (one a sweep, kept across launches: an Optuna study launches a generation at a time)
    composes each combination of group choices once."""
    specs, jobs, reported, info = compose_specs(composer, job_overrides), [], set(), {}

    def open_jobs() -> list[Job]:
        from runner.sweep.study import sweep_plan
        from runner.tracking.files import Writers

        jobs.extend(with_contexts(specs))
        info.update(sweep_info() or {})
        # the files' processes, ready when the rows are, if the runs' trajectories are long
        # or a study's generations are to come (each one's files written while the next is
        # asked for: not on the thread that asks)
        if sweep_plan() is not None or not engine.short(specs):
            Writers.shared().start()
        return jobs

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

    computer = engine.for_specs(specs)
    if computer is not None:  # computed there while the jobs are opened here
        return engine.run_jobs(computer, specs, open_jobs, max_rows=max_rows,
                               memory_mb=memory_mb, on_done=noted, here=here)
    open_jobs()
    return here(range(len(jobs)))
