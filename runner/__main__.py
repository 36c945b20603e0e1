"""`python -m runner` and the `gradlab` command."""

from runner.app import cli
from runner.shutdown import run_and_exit


def main() -> None:
    run_and_exit(cli)


if __name__ == "__main__":
    main()
