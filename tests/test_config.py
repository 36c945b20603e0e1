"""A job's config as plain dicts (what the vectorized launcher keeps) gives what the composed
DictConfig gives: the same config.yaml as OmegaConf.to_yaml, hash, params and batch values."""

from __future__ import annotations

import functools
import itertools

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import runner.schema  # noqa: F401  (registers the config schema)
from runner.experiment import batchable_values, config_hash, config_yaml, flat_params, plain
from tests.conftest import ROOT

OBJECTIVES = ("quad", "quad_cond", "rosenbrock", "linreg", "softmax", "expr", "python")
OPTIMIZERS = ("sgd", "nesterov", "adam", "adagrad", "rmsprop", "lbfgs", "torch")
SCHEDULES = ("constant", "exponential", "step", "cosine")


@functools.cache
def configs() -> list:
    """One composed config per combination of objective, optimizer and schedule."""
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return [compose("config", [f"objective={objective}", f"optimizer={optimizer}",
                                     f"schedule={schedule}", "objective.x0=[1.0,2.0]", "seed=7",
                                     "steps=30", "tracking.uri='sqlite:///x: y.db'"])
                for objective, optimizer, schedule
                in itertools.product(OBJECTIVES, OPTIMIZERS, SCHEDULES)]


def test_config_yaml_is_omegaconfs_yaml_for_every_group_choice():
    seen = 0
    for cfg in configs():
        assert config_yaml(cfg) == OmegaConf.to_yaml(cfg, resolve=True)
        assert config_yaml(plain(cfg)) == OmegaConf.to_yaml(cfg, resolve=True)
        seen += 1
    assert seen == len(OBJECTIVES) * len(OPTIMIZERS) * len(SCHEDULES)


def test_plain_dicts_hash_log_and_batch_as_the_config_does():
    for cfg in configs()[::7]:
        resolved = plain(cfg)
        assert config_hash(resolved) == config_hash(cfg)
        assert flat_params(resolved) == flat_params(cfg)
        assert batchable_values(resolved) == batchable_values(cfg)
        assert resolved == OmegaConf.to_container(cfg, resolve=True)  # not changed by any


@pytest.mark.parametrize("key, value", [("seed", 8), ("optimizer.lr", 0.5),
                                        ("objective.x0", [3.0, 4.0])])
def test_batchable_values_leave_the_signature_alone(key, value):
    cfg = plain(configs()[0])
    other = OmegaConf.create(cfg)
    OmegaConf.update(other, key, value)
    signature, values = batchable_values(cfg)
    other_signature, other_values = batchable_values(plain(other))
    assert signature == other_signature and other_values[key] == value != values[key]
