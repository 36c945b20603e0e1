"""The best configuration of each group, as rows for Markdown, CSV and the HTML page."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from runner.report.groups import Group, score

METRICS = ("final_loss", "final_suboptimality", "steps", "wall_time_s")


def best_rows(groups: list[Group], keys: tuple[str, ...]) -> list[dict]:
    """One row per group: its best configuration, its median final value over seeds, and
    that configuration's best run; ranked by that median (lowest first) within each
    objective, objectives in order."""
    rows = []
    for g in groups:
        best = g.best
        rows.append({
            **dict(zip(keys, g.values)),
            "configuration": ", ".join(f"{k}={v}" for k, v in g.config.items()) or "—",
            "median_final": score(g.replicates)[0],
            "seeds": len(g.replicates),
            "status": best.status if best else "all diverged or failed",
            **{m: best.metrics.get(m, math.nan) if best else math.nan for m in METRICS},
            "runs": len(g.runs),
            "diverged_or_failed": sum(r.bad for r in g.runs),
            "run": best.name if best else "",
            "run_id": best.run_id if best else "",
        })
    # stable: groups that tie keep their order
    return sorted(rows, key=lambda r: (r["objective"], r["median_final"]))


def cell(value, digits: int = 4) -> str:
    """A table cell: floats to `digits` significant digits, nan as empty."""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def markdown(rows: list[dict], columns: list[str] | None = None, digits: int = 4) -> str:
    """A Markdown table of `columns` (default: the first row's keys)."""
    columns = columns or (list(rows[0]) if rows else [])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c], digits) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_csv(rows: list[dict], path: Path, columns: list[str] | None = None) -> None:
    """CSV with a header row; values at full precision."""
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns or (list(rows[0]) if rows else []),
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
