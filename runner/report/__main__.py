"""`python -m runner.report --uri URI (--experiment NAME | --parent RUN_ID [--parent ...])
[--out DIR]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from runner.report.build import Options, build
from runner.sweep.summary import SWEEP_JSON
from runner.tracking.client import StoreError, client_for


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m runner.report",
                                     description="Build the HTML report of a sweep or experiment.")
    parser.add_argument("folder", nargs="?", type=Path,
                        help="a sweep's folder (multirun/...): its sweep.json names the store "
                             "and the sweep, in place of --uri and --parent")
    parser.add_argument("--uri", help="MLflow tracking URI")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--experiment", help="report every run of this experiment")
    which.add_argument("--parent", action="append",
                       help="report the children of this sweep parent run; repeat it to "
                            "compare sweeps on one page")
    parser.add_argument("--out", type=Path, default=Path("report"), help="output folder")
    parser.add_argument("--group", help="comma-separated group keys (params or tags), "
                                        "default objective,optimizer,gradient")
    parser.add_argument("--x", help="stability map x axis (a param)")
    parser.add_argument("--y", help="stability map y axis (a param)")
    parser.add_argument("--tau", type=float, default=1e-3, help="performance-profile tolerance")
    parser.add_argument("--ui", help="MLflow UI address that run ids link to (default: --uri "
                                     "when it is an http(s) server)")
    args = parser.parse_args(argv)
    if args.folder is not None:
        try:
            found = json.loads((args.folder / SWEEP_JSON).read_text())
        except (OSError, ValueError) as exc:
            parser.error(f"{args.folder} has no readable {SWEEP_JSON} ({exc})")
        args.uri = args.uri or found["uri"]
        args.parent = args.parent or [found["parent_run_id"]]
    if not args.uri or not (args.parent or args.experiment):
        parser.error("give a sweep's folder, or --uri with --experiment or --parent")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    client = client_for(args.uri)
    if args.parent:
        parents = []
        for run_id in dict.fromkeys(args.parent):
            try:
                parents.append(client.get_run(run_id))
            except StoreError:
                print(f"error: no run with id '{run_id}' at {args.uri}", file=sys.stderr)
                return 2
        experiment_id = parents[0].info.experiment_id
        title = " vs ".join(p.info.run_name for p in parents)
    else:
        found = client.get_experiment_by_name(args.experiment)
        if found is None:
            print(f"error: no experiment named '{args.experiment}' at {args.uri}", file=sys.stderr)
            return 2
        experiment_id, title = found.experiment_id, f"experiment {args.experiment}"
    group = tuple(args.group.split(",")) if args.group else None
    parent = list(dict.fromkeys(args.parent)) if args.parent else None
    report = build(client, experiment_id, parent, args.out,
                   Options(group, args.x, args.y, args.tau), title=title, ui=args.ui)
    print(f"{len(report.runs)} runs -> {args.out / 'report.html'} "
          f"({sum(report.seconds.values()):.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
