"""A job's RunSpec, made once from the resolved config: the same config.yaml as
OmegaConf.to_yaml for every combination of the options in conf/, params and hash, and batch
values that leave a group's signature alone. (That the vectorized launcher's composition gives
the same runs as Hydra's is tests/test_vectorized.py's business.)"""

from __future__ import annotations

import functools
import itertools

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from runner.config import CONF_DIR, options, register_schema
from runner.constants import FINISHED
from runner.spec import RunSpec

register_schema()
GROUPS = ("objective", "optimizer", "schedule")
OVERRIDES = ["objective.x0=[1.0,2.0]", "seed=7", "steps=30", "tracking.uri='sqlite:///x: y.db'"]


@functools.cache
def configs() -> list:
    """One composed config per combination of every option of objective, optimizer, schedule."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return [compose("config", [f"{g}={c}" for g, c in zip(GROUPS, choice)] + OVERRIDES)
                for choice in itertools.product(*(options(g) for g in GROUPS))]


def spec_of(cfg) -> RunSpec:
    return RunSpec.from_config(OmegaConf.to_container(cfg, resolve=True))


def test_every_group_is_a_folder_of_options():
    assert {"quad", "rosenbrock", "linreg", "softmax", "expr", "python"} <= set(options("objective"))
    assert {"sgd", "adam", "lbfgs", "torch"} <= set(options("optimizer"))
    assert {"autograd", "analytic", "finite_diff"} <= set(options("gradient"))


def test_config_yaml_is_omegaconfs_yaml_for_every_group_choice():
    seen = 0
    for cfg in configs():
        assert spec_of(cfg).yaml == OmegaConf.to_yaml(cfg, resolve=True)
        seen += 1
    assert seen == len(options("objective")) * len(options("optimizer")) * len(options("schedule"))


def test_the_spec_does_not_change_the_config():
    for cfg in configs()[::7]:
        resolved = OmegaConf.to_container(cfg, resolve=True)
        spec = RunSpec.from_config(resolved)
        _ = spec.hash, spec.params, spec.signature, spec.batch_values, spec.yaml
        assert resolved == OmegaConf.to_container(cfg, resolve=True) == spec.config
        assert spec.params["steps"] == "30" and spec.params["optimizer._target_"].startswith(
            "optimizers.")


@pytest.mark.parametrize("key, value", [("seed", 8), ("optimizer.lr", 0.5),
                                        ("objective.x0", [3.0, 4.0])])
def test_batchable_values_leave_the_signature_alone(key, value):
    cfg = configs()[0]
    other = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    OmegaConf.update(other, key, value)
    spec, other_spec = spec_of(cfg), spec_of(other)
    assert spec.signature == other_spec.signature
    assert other_spec.batch_values[key] == value != spec.batch_values[key]
    assert spec.hash != other_spec.hash


CHOICES = [(group, name) for group in ("objective", "gradient", "optimizer", "schedule")
           for name in options(group)]


@pytest.mark.parametrize("group, name", CHOICES, ids=[f"{g}={n}" for g, n in CHOICES])
def test_every_option_of_every_group_builds_and_runs(group, name):
    """A YAML file added to conf/<group>/ is tested here: composed with the defaults, built
    from its `_target_`, and stepped."""
    import torch

    from runner.build import build
    from runner.loop import optimize

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", [f"{group}={name}", "steps=3"])
    spec = spec_of(cfg)
    setup = build(spec)
    trace = optimize(setup.objective, setup.gradient, setup.optimizer, setup.x0[None],
                     steps=spec.steps, tol=spec.tol, max_loss=spec.max_loss)
    # a run with the defaults: it may diverge (sgd's lr on rosenbrock), never fail
    assert trace.status[0] in FINISHED and 1 <= trace.length <= 4
    first = {k: v[0] for k, v in trace.history().items()}
    assert torch.isfinite(first["loss"]).all() and torch.isfinite(first["grad_norm"]).all()
