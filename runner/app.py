"""The command line: `python -m runner [overrides]`, `python -m runner -m ...` for sweeps."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import runner.schema  # noqa: F401  (registers the config schema)
from runner import resume, tracking
from runner.callbacks import is_basic_sweeper, sweep_info
from runner.console import summary_line
from runner.experiment import USER_ERRORS, Config, build, config_hash
from runner.job import Context, execute, record_failure

EXIT_USAGE, EXIT_FAILED = 2, 1
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
GROUPS = ("objective", "gradient", "optimizer")


def context(cfg: Config, choices: Mapping[str, str], overrides: Sequence[str],
            sweep: dict | None, cwd: str | Path, output_dir: Path | None = None) -> Context:
    """Where and how a job logs: in a sweep, the tracking ids its launcher decided (`sweep`,
    from sweep_info()); for a single run, those of cfg's tracking settings."""
    tracking_cfg = cfg["tracking"]
    if sweep is not None:
        uri, experiment, parent = sweep["uri"], sweep["experiment_id"], sweep["parent_run_id"]
        tags = {"sweep_id": sweep["sweep_id"]}
    else:
        uri = tracking.resolve_uri(tracking_cfg["uri"], cwd)
        tracking.check_reachable(uri)
        experiment, parent, tags = open_experiment(uri, tracking_cfg["experiment"]), None, {}
    names = {g: str(choices.get(g, g)) for g in GROUPS}
    tags.update(names, overrides=" ".join(overrides))
    points = metric_points(tracking_cfg, sweep.get("jobs") if sweep else None)
    return Context(uri, experiment, parent, tags, "-".join(names.values()), output_dir, points)


def metric_points(tracking_cfg: Mapping, jobs: int | None) -> int | None:
    """Points per metric history sent to MLflow: tracking.max_points for a single run; in a
    sweep of N jobs, tracking.sweep_points / N, at least 10 and at most max_points."""
    cap = tracking_cfg["max_points"]
    if not jobs:
        return cap
    share = max(10, tracking_cfg["sweep_points"] // jobs)
    return share if cap is None else min(cap, share)


def open_experiment(uri: str, name: str) -> str:
    try:
        return tracking.experiment_id(tracking.client_for(uri), name)
    except Exception as exc:  # noqa: BLE001 - any store failure becomes one clear message
        raise tracking.TrackingError(
            f"cannot use the tracking store {uri}: {tracking.first_line(exc)}") from None


def already_finished(cfg: DictConfig, ctx: Context) -> dict | None:
    """With resume=true: the result of this configuration's finished run, if there is one."""
    client = tracking.client_for(ctx.uri)
    key = config_hash(cfg)
    run = resume.finished_run(client, ctx.experiment_id, key)
    if run is None:
        resume.close_orphans(client, ctx.experiment_id, key)
        return None
    print(f"{ctx.name}: already finished as run {run.info.run_id} "
          f"({run.data.tags.get('status')}), skipped")
    return {**run.data.metrics, "status": run.data.tags.get("status"), "skipped": True,
            "run_id": run.info.run_id}


def sweep_value(cfg: DictConfig, result: dict) -> dict | float:
    """What the sweeper gets: the result, or for an optimizing sweeper (any but Hydra's basic
    one and its kin, e.g. optuna) the `sweep_metric` to minimise: inf if the run diverged or
    failed."""
    if is_basic_sweeper(HydraConfig.get().get("sweeper", {}).get("_target_")):
        return result
    try:
        value = float(result.get(cfg.sweep_metric))
    except (TypeError, ValueError):
        return math.inf
    return value if math.isfinite(value) and result.get("status") != "diverged" else math.inf


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> dict | float:
    return sweep_value(cfg, run(cfg))


def run(cfg: DictConfig) -> dict:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    ctx = None
    try:
        ctx = context(cfg, hc.runtime.choices, hc.overrides.task,
                      sweep_info() if multirun else None, hc.runtime.cwd, Path(hc.runtime.output_dir))
        setup = build(cfg)
        if cfg.resume and (prior := already_finished(cfg, ctx)) is not None:
            return prior
        outcome = execute(cfg, ctx, setup)
    except (*USER_ERRORS, tracking.TrackingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if not multirun:
            sys.exit(EXIT_USAGE)
        if ctx is not None:
            record_failure(cfg, ctx, str(exc))
        return {"status": "failed", "error": str(exc)}
    except tracking.Interrupted as exc:
        print(f"interrupted ({exc}): the run was ended as KILLED", file=sys.stderr)
        sys.exit(128 + exc.signum)
    except Exception as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {type(exc).__name__}: {exc} (the run was marked FAILED; "
              "set HYDRA_FULL_ERROR=1 for the traceback)", file=sys.stderr)
        if not multirun:
            sys.exit(EXIT_FAILED)
        return {"status": "failed", "error": str(exc)}
    record = outcome.record
    print(summary_line(ctx.name, record.steps, record.final_loss, record.status, outcome.run_id))
    return record.result()
