"""A new SQLite store as a copy of an empty one, built once per MLflow version.

MLflow creates a SQLite store by running its schema migrations one by one (about 3 s here,
the largest part of a short sweep's start-up). The result depends only on MLflow's version,
so the first store a machine creates is also saved, without its Default experiment, as a
template in the cache folder (GRADLAB_CACHE_DIR, else $XDG_CACHE_HOME/gradlab, else
~/.cache/gradlab); later new stores start as a copy of it (milliseconds). MLflow opens the
copy as one it had just migrated (it checks the schema revision on opening) and adds the
Default experiment itself, with this store's artifact location and time.
tests/test_tracking.py compares a copy with a store MLflow created, table by table.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

CACHE_ENV = "GRADLAB_CACHE_DIR"


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gradlab"


def seed(path: Path) -> None:
    """Give a SQLite store that does not exist yet (absent or an empty file) MLflow's tables
    from the template, building the template first if there is none. Any failure leaves the
    file as it was: MLflow then creates the tables itself, as without a template."""
    if path.name in ("", ":memory:") or (path.exists() and path.stat().st_size):
        return
    with contextlib.suppress(OSError, sqlite3.Error):
        shutil.copyfile(template(), path)


def template() -> Path:
    """The cached empty store for this MLflow version, built by MLflow if missing."""
    import mlflow

    found = cache_dir() / f"mlflow-{mlflow.__version__}-store.db"
    if found.exists():
        return found
    found.parent.mkdir(parents=True, exist_ok=True)
    building = found.with_name(f"{found.name}.{os.getpid()}.tmp")
    try:
        _build(building)
        os.replace(building, found)  # atomic: a concurrent builder's copy is as good
    finally:
        building.unlink(missing_ok=True)
    return found


def _build(path: Path) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{path}", str(path.parent / "mlruns"))
    store.engine.dispose()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("DELETE FROM experiments")  # MLflow adds its Default experiment on opening
