"""Links into the MLflow UI that open on the model-training pages, and the view a sweep's
link opens.

MLflow 3.17's UI chooses between its GenAI pages (an experiment opens on a traces
"Overview") and its model-training pages (the runs table) by a `workflowType` URL
parameter, else by what the browser chose last, GenAI at first: the experiment's
`mlflow.experimentKind` tag is not read. So every link the runner prints or writes carries
`workflowType=machine_learning`, and MLflow's own links (which do not) are not printed.

A sweep's link opens a shared view (an experiment tag MLflow's UI reads by key): its parent
expanded with the children listed under it, the swept params and the results as columns,
best first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

WORKFLOW = "workflowType=machine_learning"
LOCAL_UI = "http://127.0.0.1:5000"  # where `mlflow ui` serves a local store
VIEW_TAG = "mlflow.sharedViewState."  # + a key: a view of the runs table, as JSON
GROUP_TAGS = ("objective", "gradient", "optimizer")  # the config groups runs carry as tags
RESULT_COLUMNS = ("tags.`status`", "metrics.`final_loss`", "metrics.`evaluations`")


def ui_base(uri: str | None) -> str | None:
    """The MLflow UI's address: the tracking URI where it is an HTTP(S) server, else None
    (a file or database store has no UI of its own to link to)."""
    if uri and uri.startswith(("http://", "https://")):
        return uri.rstrip("/")
    return None


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """The run's page in the MLflow UI at `base`."""
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?{WORKFLOW}"


def view_url(base: str, experiment_id: str, key: str) -> str:
    """The experiment's runs table in the view stored under `key` (see `sweep_view`)."""
    return f"{base}/#/experiments/{experiment_id}/runs?viewStateShareKey={key}&{WORKFLOW}"


def sweep_view(parent_run_id: str, sweep_id: str, axes: Sequence[str],
               metric: str = "final_loss") -> dict:
    """The runs table a sweep opens on: its runs alone (by their sweep_id tag), the parent
    expanded with its children under it, their swept values (`optimizer=sgd,adam` is the
    optimizer tag, `optimizer.lr=...` the param), status and results as columns."""
    columns = []
    for axis in axes:
        key = axis.lstrip("+~").partition("=")[0]
        columns.append(f"tags.`{key}`" if key in GROUP_TAGS else f"params.`{key}`")
    return {"searchFilter": f"tags.sweep_id = '{sweep_id}'",
            "runsExpanded": {parent_run_id: True},
            "selectedColumns": list(dict.fromkeys(
                [*columns, *RESULT_COLUMNS, f"metrics.`{metric}`"]))}


def view_tag(parent_run_id: str, sweep_id: str, axes: Sequence[str],
             metric: str = "final_loss") -> tuple[str, str]:
    """The experiment tag that stores the sweep's view, keyed by its parent run's id."""
    return VIEW_TAG + parent_run_id, json.dumps(sweep_view(parent_run_id, sweep_id, axes, metric))


def sweep_url(uri: str, experiment_id: str, parent_run_id: str) -> str:
    """Where to look at a sweep: its view in the store's UI, and for a store without one
    how to serve it."""
    base = ui_base(uri)
    url = view_url(base or LOCAL_UI, experiment_id, parent_run_id)
    return url if base else f"{url} (serve it: mlflow ui --backend-store-uri {uri})"
