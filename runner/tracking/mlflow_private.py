"""Every private MLflow API the runner uses, fenced here, each with why no public one serves.

`pyproject.toml` pins MLflow to the minor versions the tests cover (`tests/test_sqlstore.py`
writes runs through these and through the public client and compares them), and the bulk
writer checks the database's schema revision before it writes (`schema_supported`).
"""

from __future__ import annotations

from typing import Any

from mlflow import MlflowClient

# The schema revisions (alembic_version) the bulk writer's rows were tested against:
# MLflow 3.17's head. Another revision: runs are logged through the public client instead.
TESTED_REVISIONS = frozenset({"dc11669786a5"})


def store(client: MlflowClient) -> Any:
    """The client's tracking store. No public accessor exists; the bulk writer needs the SQL
    store's engine and the report its bulk history query."""
    return client._tracking_client.store


def forget_connections(client: MlflowClient) -> None:
    """In a forked process: drop the SQL store's pooled connections, which belong to the
    parent, without closing them (SQLAlchemy's advice for os.fork); new ones are opened."""
    engine = getattr(store(client), "engine", None)
    if engine is not None:
        engine.dispose(close=False)


def is_sql_store(client: MlflowClient) -> bool:
    """Whether the client's store is MLflow's SQL store (sqlite://, postgresql://, ...)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    return isinstance(store(client), SqlAlchemyStore)


def schema_revision(client: MlflowClient) -> str | None:
    """The SQL store's schema revision (its alembic_version row). MLflow checks it only when
    a store is opened and offers no accessor."""
    from sqlalchemy import text

    with store(client).engine.connect() as connection:
        row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])


def validate_batch(params: list, tags: list) -> tuple[list, list]:
    """Params and tags checked, truncated and de-duplicated exactly as `log_batch` does
    before writing (`mlflow.utils.validation._validate_batch_log_data`, not public)."""
    from mlflow.utils.validation import _validate_batch_log_data

    _, params, tags = _validate_batch_log_data([], params, tags)
    return params, tags


def tables() -> dict[str, Any]:
    """MLflow's SQL tables by name (its ORM models are not a public API); the bulk writer
    inserts the rows `create_run` + `log_batch` + `set_terminated` (+ `log_inputs`) would,
    the bulk reader reads runs as `search_runs` does."""
    from mlflow.store.tracking.dbmodels import models

    return {m.__tablename__: m.__table__ for m in (
        models.SqlRun, models.SqlTag, models.SqlParam, models.SqlMetric, models.SqlLatestMetric,
        models.SqlDataset, models.SqlInput, models.SqlInputTag)}


def write_session(client: MlflowClient):
    """A read-write session of the SQL store, one transaction (MLflow's own session maker:
    the same engine, pool and SQLite settings its store uses)."""
    return store(client).ManagedSessionMaker(read_only=False)


def read_session(client: MlflowClient):
    """A read-only session of the SQL store (as `write_session`)."""
    return store(client).ManagedSessionMaker()


def metric_history_bulk(client: MlflowClient, run_ids: list[str], key: str) -> list:
    """One metric's history for many runs in one query (`SqlAlchemyStore.
    get_metric_history_bulk`; the public client asks run by run)."""
    return store(client).get_metric_history_bulk(run_ids, key, max_results=2**62)


def has_bulk_history(client: MlflowClient) -> bool:
    return hasattr(store(client), "get_metric_history_bulk")


def is_rest_store(client: MlflowClient) -> bool:
    return hasattr(store(client), "get_host_creds")


def rest_get(client: MlflowClient, endpoint: str, params: dict) -> dict | None:
    """GET an MLflow server route with the client's credentials; None when the server does
    not have it. For the UI's bulk history route, which the public client does not call."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.rest_utils import http_request, verify_rest_response

    reply = http_request(store(client).get_host_creds(), endpoint, "GET", params=params)
    try:
        verify_rest_response(reply, endpoint)
    except MlflowException:  # a server (or proxy) without the route
        return None
    return reply.json()
