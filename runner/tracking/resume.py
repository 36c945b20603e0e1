"""Resume: a configuration already finished in the experiment is not run again.

Runs are matched by `config_hash` (a hash of the resolved config, seeds included, without
tracking options). Finished means the run ended FINISHED with status converged, max_steps
or diverged; failed and killed runs are run again.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlflow import MlflowClient

from runner.constants import CONFIG_HASH_TAG, FINISHED, STATUS_TAG
from runner.tracking.client import end_as_killed, search_all


def finished_runs(client: MlflowClient, experiment_id: str,
                  hashes: Iterable[str] | None = None) -> dict[str, object]:
    """config_hash -> a finished run, for the given hashes (all when None); one query."""
    wanted = None if hashes is None else set(hashes)
    found = {}
    for run in search_all(client, experiment_id, "attributes.status = 'FINISHED'"):
        key = run.data.tags.get(CONFIG_HASH_TAG)
        if key and run.data.tags.get(STATUS_TAG) in FINISHED and (wanted is None or key in wanted):
            found.setdefault(key, run)
    return found


def finished_run(client: MlflowClient, experiment_id: str, config_hash: str):
    """A finished run with this config_hash, or None."""
    runs = search_all(client, experiment_id,
                      f"tags.config_hash = '{config_hash}' and attributes.status = 'FINISHED'")
    return next((r for r in runs if r.data.tags.get(STATUS_TAG) in FINISHED), None)


def close_orphans(client: MlflowClient, experiment_id: str, config_hash: str) -> int:
    """Runs of this config left RUNNING by a killed process: end them as KILLED."""
    orphans = search_all(client, experiment_id,
                          f"tags.config_hash = '{config_hash}' and attributes.status = 'RUNNING'")
    end_as_killed(client, orphans)
    return len(orphans)
