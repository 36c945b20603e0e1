"""`python -m runner` and the `gradlab` command."""

import sys

from runner import collector
from runner.sweep import engine

collector.pause()  # until the work begins: loading the libraries is a quarter faster
engine.start(sys.argv[1:])  # a batched study's computing process, if this command is one

from runner.app import cli
from runner.shutdown import run_and_exit


def main() -> None:
    run_and_exit(cli)


if __name__ == "__main__":
    main()
