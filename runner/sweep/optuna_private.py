"""Every private Optuna API the runner uses, fenced here, each with why no public one serves.

Optuna is pinned to 5.0.x (`pyproject.toml`).
"""

from __future__ import annotations


def trial_of(study, number: int):
    """The live Trial (report, should_prune) of a trial that another process asked for,
    by its number. Optuna hands a Trial only to the process that asked (`Study.ask`); a
    job reporting intermediate values for it needs the storage's trial id, which only the
    study's private `_storage` and `_study_id` give."""
    import optuna

    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return optuna.trial.Trial(study, trial_id)
