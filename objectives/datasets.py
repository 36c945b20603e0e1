"""Data sets for the data-driven objectives: scikit-learn's bundled ones (no download at run
time) and seeded synthetic ones, split into train and test sets and standardised as
configured.

    load("breast_cancer", test_fraction=0.25, seed=0) -> Split

The split is a seeded permutation (numpy's PCG64); standardisation uses the training set's
mean and standard deviation for both sets (a constant feature is centred, not scaled).
"""

from __future__ import annotations

import gzip
import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from objectives.base import ObjectiveError, integer, seed_of, shown

# name -> (scikit-learn loader, task): a task is "classification" or "regression"
SKLEARN = {
    "digits": ("load_digits", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "wine": ("load_wine", "classification"),
    "iris": ("load_iris", "classification"),
    "diabetes": ("load_diabetes", "regression"),
}
SYNTHETIC = {"line": "regression", "blobs": "classification"}
NAMES = (*SKLEARN, *SYNTHETIC)


@dataclass(frozen=True)
class Split:
    """Features (n, p) and targets (n,) of a training and a test set; `classes` is the
    number of classes (0 for regression); `source` says how the data were made."""

    name: str
    task: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: int
    source: dict[str, str] = field(default_factory=dict)


def load(name: str, *, test_fraction: float = 0.25, seed: int = 0, standardize: bool = True,
         n: int = 1000, features: int = 2, noise: float = 0.1) -> Split:
    """The data set `name`, split and standardised. A bundled data set is split by a seeded
    permutation; a synthetic one draws its `n` training samples as generated (`line`: the
    PyTorch memo's y = −x + 1 + noise·ε, x ~ U[0, 2), the very points objective=linreg fits;
    `blobs`: three unit-variance Gaussian classes in `features` dimensions) and its test
    samples, n·f/(1 − f) of them for test_fraction f, from a stream of their own."""
    if name not in NAMES:
        raise ObjectiveError(f"objective.dataset must be one of {', '.join(NAMES)}, "
                             f"got {shown(name)}")
    if not 0 < test_fraction < 1:
        raise ObjectiveError(f"objective.test_fraction must be in (0, 1), got "
                             f"{shown(test_fraction)}")
    seed = seed_of(seed, "objective.seed")
    if name in SKLEARN:
        loader, task = SKLEARN[name]
        X, y = _sklearn(loader)
        source = {"loader": f"sklearn.datasets.{loader}"}
        order = np.random.Generator(np.random.PCG64(seed)).permutation(len(y))
        n_test = int(round(test_fraction * len(y)))
        test, train = order[:n_test], order[n_test:]
        X_train, y_train, X_test, y_test = X[train], y[train], X[test], y[test]
    else:
        task = SYNTHETIC[name]
        n = integer(n, "objective.n", low=2)
        features = integer(features, "objective.features", low=1)
        if not 0 <= noise < math.inf:
            raise ObjectiveError(f"objective.noise must be a finite number >= 0, got "
                                 f"{shown(noise)}")
        n_test = max(1, int(round(n * test_fraction / (1 - test_fraction))))
        X_train, y_train = _synthetic(name, n, features, noise, seed, test=False)
        X_test, y_test = _synthetic(name, n_test, features, noise, seed, test=True)
        source = {"generator": name, "n": str(n), "features": str(features),
                  "noise": str(noise)}
    if standardize:
        mean, std = X_train.mean(0), X_train.std(0)
        std = np.where(std > 0, std, 1.0)
        X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    classes = int(max(y_train.max(), y_test.max())) + 1 if task == "classification" else 0
    source.update(test_fraction=str(test_fraction), seed=str(seed), standardize=str(standardize))
    return Split(name, task, X_train, y_train, X_test, y_test, classes, source)


def _sklearn(loader: str) -> tuple[np.ndarray, np.ndarray]:
    """What `sklearn.datasets.<loader>(return_X_y=True)` returns (as float64 features and
    int64 labels, float64 targets for diabetes), read from the files scikit-learn ships with
    NumPy alone: importing scikit-learn would take about a second of every run's start.
    tests/test_datasets.py checks each against scikit-learn's own loader, value for value."""
    folder = _bundled_folder()
    if loader == "load_digits":
        with gzip.open(folder / "digits.csv.gz", "rt", encoding="utf-8") as f:
            data = np.loadtxt(f, delimiter=",")
        return data[:, :-1], data[:, -1].astype(np.int64)
    if loader == "load_diabetes":  # scikit-learn's default `scaled=True`, step by step
        with gzip.open(folder / "diabetes_data_raw.csv.gz", "rt", encoding="utf-8") as f:
            X = np.loadtxt(f)
        with gzip.open(folder / "diabetes_target.csv.gz", "rt", encoding="utf-8") as f:
            y = np.loadtxt(f)
        mean, std = np.nanmean(X, 0), np.nanstd(X, 0)
        X -= mean
        X /= np.where(std < 10 * np.finfo(std.dtype).eps, 1.0, std)
        X /= X.shape[0] ** 0.5
        return X, y
    name = {"load_iris": "iris.csv", "load_wine": "wine_data.csv",
            "load_breast_cancer": "breast_cancer.csv"}[loader]
    data = np.loadtxt(folder / name, delimiter=",", skiprows=1)  # the first line: sizes
    return data[:, :-1], data[:, -1].astype(np.int64)


def _bundled_folder() -> Path:
    """scikit-learn's folder of bundled data sets, found without importing it."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ObjectiveError("the bundled data sets come with scikit-learn, which is not "
                             "installed: pip install scikit-learn")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def _synthetic(name: str, n: int, features: int, noise: float, seed: int,
               test: bool) -> tuple[np.ndarray, np.ndarray]:
    if name == "line":
        if test:
            gen = np.random.Generator(np.random.PCG64([seed, 1]))
            x = 2 * gen.random(n)
            return x[:, None], -x + 1 + noise * gen.standard_normal(n)
        torch_gen = torch.Generator().manual_seed(seed)  # objective=linreg's draws, in order
        x = 2 * torch.rand(n, generator=torch_gen, dtype=torch.float64)
        y = -1.0 * x + 1.0 + noise * torch.randn(n, generator=torch_gen, dtype=torch.float64)
        return x.numpy()[:, None], y.numpy()
    centres = 3.0 * np.random.Generator(np.random.PCG64([seed, 3])).standard_normal(
        (3, features))
    gen = np.random.Generator(np.random.PCG64([seed, 2 if test else 1]))
    y = gen.integers(0, 3, n)
    return centres[y] + gen.standard_normal((n, features)), y
