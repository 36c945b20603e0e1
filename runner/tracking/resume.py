"""Resume: a configuration already finished in the experiment is not run again.

Runs are matched by `config_hash` (a hash of the resolved config, seeds included, without
tracking options). Finished means the run ended FINISHED with status converged, max_steps
or diverged; failed and killed runs are run again. A resumed sweep is one logical sweep: the
finished runs it matches become children of its parent run (`adopt`), so that its summary,
sweep.json and report cover every configuration, whichever invocation computed it.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlflow import MlflowClient

from runner.constants import CONFIG_HASH_TAG, FINISHED, PARENT_TAG, STATUS_TAG
from runner.tracking.client import end_as_killed, log_batch, search_all


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


def adopt(client: MlflowClient, runs: Iterable, parent_run_id: str | None,
          tags: dict[str, str]) -> None:
    """Make finished runs children of the resumed sweep's parent (with its `tags`, the
    sweep id); nothing for a single run (no parent)."""
    if parent_run_id is None:
        return
    for run in runs:
        log_batch(client, run.info.run_id, tags={**tags, PARENT_TAG: parent_run_id})
