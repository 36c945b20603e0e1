"""A sweep's summary: one row per child run, recorded on the parent run."""

from __future__ import annotations

import csv
import math
import tempfile
from pathlib import Path

from mlflow import MlflowClient

from runner import tracking

COLUMNS = ("run_id", "name", "overrides", "status", "steps", "final_loss", "final_grad_norm",
           "final_suboptimality", "wall_time_s")


def children(client: MlflowClient, experiment_id: str, parent_run_id: str) -> list:
    """All child runs of a parent, read in pages (no per-run requests)."""
    runs, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=f"tags.`{tracking.PARENT_TAG}` = '{parent_run_id}'",
            max_results=1000, page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def rows(runs: list) -> list[dict]:
    out = []
    for run in runs:
        m, t = run.data.metrics, run.data.tags
        out.append({
            "run_id": run.info.run_id,
            "name": run.info.run_name,
            "overrides": t.get("overrides", ""),
            "status": t.get("status", run.info.status.lower()),
            "steps": int(m["steps"]) if "steps" in m else "",
            **{k: m.get(k, math.nan) for k in COLUMNS[5:]},
        })
    return sorted(out, key=lambda r: (_sortable(r["final_loss"]), r["overrides"]))


def markdown(table: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS[1:]) + " |", "|" + "---|" * (len(COLUMNS) - 1)]
    for r in table:
        cells = [_cell(r[c]) for c in COLUMNS[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def record_on_parent(client: MlflowClient, info: dict[str, str], output_dir: Path | None) -> list[dict]:
    """Write summary.csv / summary.md to the parent run (and output_dir), plus counts."""
    table = rows(children(client, info["experiment_id"], info["parent_run_id"]))
    statuses = [r["status"] for r in table]
    finite = [r["final_loss"] for r in table if math.isfinite(r["final_loss"])]
    finals = {"runs": len(table), **{f"runs_{s}": statuses.count(s) for s in set(statuses)}}
    if finite:
        finals["best_final_loss"] = min(finite)
    tracking.log_histories(client, info["parent_run_id"], [], {}, finals=finals)
    if table and finite:
        tracking.log_tags(client, info["parent_run_id"], {"best_run_id": table[0]["run_id"]})
    with tempfile.TemporaryDirectory(prefix="gradlab-summary-") as tmp:
        folder = Path(tmp)
        write_csv(table, folder / "summary.csv")
        (folder / "summary.md").write_text(markdown(table))
        client.log_artifacts(info["parent_run_id"], str(folder))
        if output_dir is not None and output_dir.is_dir():
            for item in folder.iterdir():
                (output_dir / item.name).write_bytes(item.read_bytes())
    return table


def write_csv(table: list[dict], path: Path) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(table)


def _sortable(value) -> float:
    return value if isinstance(value, float) and math.isfinite(value) else math.inf


def _cell(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
