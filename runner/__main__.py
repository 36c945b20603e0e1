"""`python -m runner` and the `gradlab` command."""

from runner import collector

collector.pause()  # until the work begins: loading the libraries is a quarter faster

from runner.app import cli  # noqa: E402
from runner.shutdown import run_and_exit  # noqa: E402


def main() -> None:
    run_and_exit(cli)


if __name__ == "__main__":
    main()
