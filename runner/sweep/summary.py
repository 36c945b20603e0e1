"""A sweep's summary: one row per child run, and the sweep report, recorded on the parent."""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runner.constants import BEST_RUN_TAG, OVERRIDES_TAG, PARENT_TAG, STATUS_TAG
from runner.errors import first_line
from runner.forked import Later, forked
from runner.headless import warm_up
from runner.report import build as build_report
from runner.report.tables import markdown as markdown_table
from runner.report.tables import write_csv as write_table
from runner.spec import deciding
from runner.tracking import client as mlflow_client
from runner.tracking import mlflow_private, sqlstore, ui
from runner.tracking.metrics import MetricTable

SWEEP_JSON = "sweep.json"  # the closing summary, in the sweep's folder
COLUMNS = ("run_id", "name", "overrides", "status", "steps", "final_loss", "final_grad_norm",
           "final_suboptimality", "wall_time_s")
REPORT_DIR = "report"


def children(client, experiment_id: str, parent_run_id: str) -> list:
    """All child runs of a parent: from a SQL store in a few queries (runner.tracking.
    sqlstore), elsewhere in pages of search_runs (no per-run requests)."""
    if sqlstore.supports(client):
        return sqlstore.runs_tagged(client, experiment_id, PARENT_TAG, parent_run_id)
    return mlflow_client.search_all(client, experiment_id,
                                    f"tags.`{PARENT_TAG}` = '{parent_run_id}'")


def rows(runs: list) -> list[dict]:
    out = []
    for run in runs:
        m, t = run.data.metrics, run.data.tags
        out.append({
            "run_id": run.info.run_id,
            "name": run.info.run_name,
            "overrides": t.get(OVERRIDES_TAG, ""),
            "status": t.get(STATUS_TAG, run.info.status.lower()),
            "steps": int(m["steps"]) if "steps" in m else "",
            **{k: m.get(k, math.nan) for k in COLUMNS[5:]},
        })
    return sorted(out, key=lambda r: (_sortable(r["final_loss"]), r["overrides"]))


def record_on_parent(client, info: dict[str, str], output_dir: Path | None,
                     found: list | None = None, best_plots: bool = False) -> list[dict]:
    """Write summary.csv / summary.md and the report/ folder to the parent run (and
    output_dir), plus counts, from the children `found` (else searched for); with
    `best_plots`, the best run's plots, drawn while the report is. A report or plots that
    cannot be made are a warning, not a failure."""
    if found is None:
        found = children(client, info["experiment_id"], info["parent_run_id"])
    table = rows(found)
    statuses = [r["status"] for r in table]
    finite = [r["final_loss"] for r in table if math.isfinite(r["final_loss"])]
    finals = {"runs": len(table), **{f"runs_{s}": statuses.count(s) for s in set(statuses)}}
    if finite:
        finals["best_final_loss"] = min(finite)
    best = {BEST_RUN_TAG: table[0]["run_id"]} if finite else {}
    mlflow_client.log_batch(client, info["parent_run_id"],
                            metrics=MetricTable.finals(finals, int(time.time() * 1000)),
                            tags=best)
    with tempfile.TemporaryDirectory(prefix="gradlab-summary-") as tmp:
        folder = Path(tmp)
        write_table(table, folder / "summary.csv", list(COLUMNS))
        (folder / "summary.md").write_text(markdown_table(table, list(COLUMNS[1:]), digits=6))
        if table:
            _report(client, info, folder / REPORT_DIR, found,
                    table[0]["run_id"] if best_plots and finite else None)
        client.log_artifacts(info["parent_run_id"], str(folder))
        if output_dir is not None and output_dir.is_dir():
            shutil.copytree(folder, output_dir, dirs_exist_ok=True)
    return table


# the process that builds a study's report, made ready while its trials run (prepare_report)
_READY: list[Later] = []
_ENDED = object()  # what that process gives if it ends without a word


def prepare_report(warm: bool = False) -> None:
    """Fork now the process that builds the sweep's report when it ends (or, for a plain
    sweep, as soon as its rows are prepared: report_early). It loads pyplot and draws a
    first figure (fonts, caches: about half a second) while the sweep goes on, unless this
    process has (`warm`: the child has them too). An Optuna study asks for it after its
    first generation. If the sweep ends first, killed included, the process ends too."""
    if not _READY:
        _READY.append(forked(_build_there, default=_ENDED,
                             prepare=_nothing if warm else _warm_up))


@dataclass
class _Early:
    """A report being built from a sweep's rows while they are committed: by whom, from
    which runs, into which folder; and its best run's plots being drawn (run id, logging)."""

    building: Later
    ids: set[str]
    folder: tempfile.TemporaryDirectory
    plots: tuple[str, Callable[..., None]] | None = None

    @property
    def out(self) -> Path:
        return Path(self.folder.name) / REPORT_DIR

    def drawing(self, client, best_run: str | None) -> Callable[..., None] | None:
        """What logs `best_run`'s plots: those drawn early, if of that run."""
        if self.plots is not None and self.plots[0] == best_run:
            return self.plots[1]
        self.discard_plots()
        return _plots_later(client, best_run) if best_run is not None else None

    def discard_plots(self) -> None:
        if self.plots is not None:
            self.plots[1](keep=False)
            self.plots = None

    def discard(self) -> None:
        self.building.stop()
        self.discard_plots()
        self.folder.cleanup()


_EARLY: list[_Early] = []


def report_early(info: dict, found: list, histories: dict, plots: bool = False,
                 files: Callable[[], bool] = lambda: True) -> None:
    """Have the prepared process build the sweep's report now, from its runs as they will
    read back once committed (`found`, `histories`: runner.tracking.sqlstore.read_back),
    while they are committed; with `plots`, have the best run's plots drawn too, from its
    files, once `files()` says they are written (else later, from the store).
    record_on_parent takes them if the store's children are these runs, and builds the
    report from the store otherwise."""
    if not _READY:
        return
    early = _Early(_READY.pop(), {r.info.run_id for r in found},
                   tempfile.TemporaryDirectory(prefix="gradlab-report-"))
    early.building.release(info["uri"], info["experiment_id"], info["parent_run_id"],
                           early.out, _title(info), found, None, histories)
    table = rows(found)
    if plots and table and math.isfinite(table[0]["final_loss"]):
        (best,) = [r for r in found if r.info.run_id == table[0]["run_id"]]
        folder = sqlstore.local_folder(best.info.artifact_uri)
        if folder is not None and files():
            early.plots = best.info.run_id, _plots_later(
                mlflow_client.client_for(info["uri"]), best.info.run_id,
                (best.info.run_name, Path(folder)))
    _EARLY.append(early)


def _report(client, info: dict, out: Path, found: list, best_run: str | None) -> None:
    """The sweep report into `out`, and `best_run`'s plots drawn meanwhile: by the process
    `prepare_report` made ready where there is one (else, or if it ended unexpectedly,
    here), or taken from report_early's where it was built from these runs. A report that
    cannot be built is a warning: the results stand."""
    args = (info["experiment_id"], info["parent_run_id"], out, _title(info), found, best_run)
    early = _EARLY.pop() if _EARLY else None
    if early is not None and early.ids == {r.info.run_id for r in found}:
        problem = _taken(client, early, out, best_run)
        if problem is _ENDED:
            problem = _build(client, *args[:-1], None)  # the plots are drawn
    else:
        if early is not None:  # built from other runs than the store holds: not wanted
            early.discard()
        problem = _ENDED
        if _READY:
            ready = _READY.pop()
            ready.release(info["uri"], *args)
            problem = ready()
        if problem is _ENDED:
            problem = _build(client, *args)
    if problem is not None:
        print(f"warning: the sweep report was not built: {problem}", file=sys.stderr)


def _taken(client, early: _Early, out: Path, best_run: str | None):
    """report_early's report moved into `out` once built, `best_run`'s plots drawn
    meanwhile (by the engine, warm); what failed, or _ENDED if its process ended."""
    drawing = early.drawing(client, best_run)
    try:
        problem = early.building()
        if problem is None:
            shutil.move(early.out, out)
        return problem
    finally:
        early.folder.cleanup()
        if drawing is not None:
            drawing()


def _title(info: dict) -> str:
    return f"sweep-{info.get('sweep_id', '')}"


def _build(client, experiment_id: str, parent_run_id: str, out: Path, title: str,
           found: list, best_run: str | None, histories: dict | None = None) -> str | None:
    """Build the report while `best_run`'s plots are drawn; what failed, if it did."""
    drawing = _plots_later(client, best_run) if best_run is not None else None
    try:
        build_report(client, experiment_id, parent_run_id, out, title=title, found=found,
                     histories=histories)
    except Exception as exc:  # noqa: BLE001 - the sweep's results stand without it
        return f"{type(exc).__name__}: {exc}"
    finally:
        if drawing is not None:
            drawing()
    return None


def _build_there(uri: str, *args) -> str | None:
    """`_build` in the prepared process (pyplot loaded: the plots' process, forked from it,
    has it too), on connections of its own: those its parent opened before the fork are
    left to the parent."""
    client = mlflow_client.client_for(uri)
    mlflow_private.forget_connections(client)
    return _build(client, *args)


def _nothing() -> None:
    pass


def _warm_up() -> None:
    from runner import artifacts, build  # noqa: F401 - the best run's plots build its
    #  objective: torch, loaded now where the sweep's process has not (runner.sweep.engine)
    warm_up()


def _plots_later(client, run_id: str, files: tuple[str, Path] | None = None
                 ) -> Callable[..., None]:
    """The best run's plots (runner.plot), drawn in a forked process from now on, from its
    files in the store, or in `files` (its name, the folder its files were written to,
    before it is committed); what is returned logs them (keep=False: waits, logs nothing).
    A failure is said, and the sweep still ends."""
    from runner.plot import draw_files_later, draw_run_later
    from runner.sweep import engine

    def said(exc: Exception) -> None:
        print(f"warning: the best run's plots were not drawn: {first_line(exc)} "
              f"(python -m runner.plot {run_id} draws them)", file=sys.stderr)

    try:
        log = (draw_run_later(client, run_id, elsewhere=engine.later) if files is None else
               draw_files_later(client, run_id, *files, elsewhere=engine.later))
    except Exception as exc:  # noqa: BLE001 - the runs are recorded; only the picture is lost
        said(exc)
        return lambda keep=True: None

    def logged(keep: bool = True) -> None:
        try:
            log(keep)
        except Exception as exc:  # noqa: BLE001 - as above
            said(exc)

    return logged


def closing(info: dict, table: list[dict], output_dir: Path | None,
            problems: list[str]) -> dict:
    """What a sweep found, for the console and sweep.json: where its runs are, how many
    ended how, the best configuration, the report's path, what is incomplete."""
    statuses: dict[str, int] = {}
    for row in table:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    best = table[0] if table and math.isfinite(_sortable(table[0]["final_loss"])) else None
    report = output_dir / REPORT_DIR / "report.html" if output_dir is not None else None
    return {
        "uri": info["uri"], "experiment_id": info["experiment_id"],
        "parent_run_id": info["parent_run_id"], "runs": len(table), "statuses": statuses,
        "best": None if best is None else {k: best[k] for k in ("run_id", "name", "overrides",
                                                                  "final_loss")},
        "report": str(report) if report is not None and report.is_file() else None,
        "mlflow": ui.sweep_url(info["uri"], info["experiment_id"], info["parent_run_id"]),
        "incomplete": problems,
    }


def closing_lines(summary: dict) -> str:
    """`sweep <parent>: 20 runs (19 max_steps, 1 failed)`, the best run, the report, the
    sweep's view in the MLflow UI."""
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary["statuses"].items()))
    lines = [f"sweep {summary['parent_run_id']}: {summary['runs']} runs ({counts or 'none'})"]
    best = summary["best"]
    if best is not None:
        shown = " ".join(deciding(best["overrides"])) or best["name"]
        lines.append(f"best: {shown}: final loss "
                     f"{best['final_loss']:.6g} (run {best['run_id']})")
    if summary["report"]:
        lines.append(f"report: {summary['report']}")
    lines.append(f"mlflow: {summary['mlflow']}")
    return "\n".join(lines)


def _sortable(value) -> float:
    return value if isinstance(value, float) and math.isfinite(value) else math.inf
