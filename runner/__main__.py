"""`python -m runner` and the `gradlab` command."""

import signal
import sys

from runner import collector
from runner.sweep import engine

collector.pause()  # until the work begins: loading the libraries is a quarter faster
engine.start(sys.argv[1:])  # a batched study's computing process, if this command is one

from runner.constants import EXIT_SIGNAL
from runner.errors import Interrupted, interrupted_between_runs
from runner.shutdown import run_and_exit


def main() -> None:
    run_and_exit(_command)


def _command() -> None:
    """The command line; a Ctrl-C that comes while no run is being computed (loading the
    libraries, composing, between a sweep's jobs) ends it as one during a run does: a line
    on stderr, exit 128 + the signal, the runs recorded kept (a sweep's open run ends KILLED
    at exit), never a traceback."""
    try:
        from runner.app import cli

        cli()
    except (KeyboardInterrupt, Interrupted) as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        print(interrupted_between_runs(signum), file=sys.stderr)
        raise SystemExit(EXIT_SIGNAL + signum) from None


if __name__ == "__main__":
    main()
