"""`python -m runner --help`: what can be composed and the config it gives, in well under a
second. Hydra's own help lists the same groups but walks every Hydra plugin's config group
first (about 3 s); `--hydra-help` still shows Hydra's."""

from __future__ import annotations

from collections.abc import Sequence

from runner.config import CONF_DIR, groups, options

USAGE = """\
gradlab: declarative experiments on gradient-based optimization.

  python -m runner [group=option] [key=value ...]       one run, logged to MLflow
  python -m runner -m optimizer=sgd,adam optimizer.lr=0.01,0.1    a sweep: one run each
  python -m runner -m hydra/launcher=vectorized ...     the sweep batched (fastest)
  python -m runner.report multirun/<date>/<time>        a sweep's report (HTML page)
  mlflow ui                                             browse the runs

== Configuration groups ==
Compose your configuration from those groups (group=option)

{groups}

== Launchers and sweepers (hydra/launcher=..., hydra/sweeper=...) ==
hydra/launcher: basic (one job after another), vectorized (batched), joblib, ray_cluster,
  slurm, submitit_local; hydra/sweeper: basic, batched, optuna. --hydra-help lists Hydra's.

== Config ==
Override anything in the config (foo.bar=value)

{config}
`--cfg job` prints the config alone; `--hydra-help`, Hydra's help and tab completion."""

def wants_help(argv: Sequence[str]) -> bool:
    return any(a in ("--help", "-h") for a in argv) and "--hydra-help" not in argv


def render(overrides: Sequence[str]) -> str:
    """The help, with the config composed from `overrides` (Hydra's errors propagate)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        config = compose("config", list(overrides))
    listed = "\n".join(f"{g}: {', '.join(options(g))}" for g in groups())
    return USAGE.format(groups=listed, config=OmegaConf.to_yaml(config))
