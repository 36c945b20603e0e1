"""Sweep reports: convergence curves, stability maps, performance profiles, best-config
tables, and one self-contained HTML page. `python -m runner.report --help`; the runs and
their histories as pandas DataFrames: `runner.report.frames`."""

from runner.report.build import Options, Report, build

__all__ = ["Options", "Report", "build"]
