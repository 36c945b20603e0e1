"""`python -m runner.report --uri URI (--experiment NAME | --parent RUN_ID) [--out DIR]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runner.report.build import Options, build
from runner.tracking.client import StoreError, client_for


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m runner.report",
                                     description="Build the HTML report of a sweep or experiment.")
    parser.add_argument("--uri", required=True, help="MLflow tracking URI")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--experiment", help="report every run of this experiment")
    which.add_argument("--parent", help="report the children of this sweep parent run")
    parser.add_argument("--out", type=Path, default=Path("report"), help="output folder")
    parser.add_argument("--group", help="comma-separated group keys (params or tags), "
                                        "default objective,optimizer,gradient")
    parser.add_argument("--x", help="stability map x axis (a param)")
    parser.add_argument("--y", help="stability map y axis (a param)")
    parser.add_argument("--tau", type=float, default=1e-3, help="performance-profile tolerance")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    client = client_for(args.uri)
    if args.parent:
        try:
            parent = client.get_run(args.parent)
        except StoreError:
            print(f"error: no run with id '{args.parent}' at {args.uri}", file=sys.stderr)
            return 2
        experiment_id, title = parent.info.experiment_id, parent.info.run_name
    else:
        found = client.get_experiment_by_name(args.experiment)
        if found is None:
            print(f"error: no experiment named '{args.experiment}' at {args.uri}", file=sys.stderr)
            return 2
        experiment_id, title = found.experiment_id, f"experiment {args.experiment}"
    group = tuple(args.group.split(",")) if args.group else None
    report = build(client, experiment_id, args.parent, args.out,
                   Options(group, args.x, args.y, args.tau), title=title)
    print(f"{len(report.runs)} runs -> {args.out / 'report.html'} "
          f"({sum(report.seconds.values()):.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
