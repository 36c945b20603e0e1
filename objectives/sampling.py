"""How the gradient is sampled, composable with every gradient method and optimizer
(conf/sampling/): the full batch, minibatches of a data objective, or noise added to an
exact gradient.

A sampling's `start(objective, seeds)` gives the Draws of a batch of runs (one seed each,
the runs' `seed`), or None for the full batch. At step t the loop evaluates f and ∇f on
`draws.objective(t)` and steps along `draws.gradient(g, t)`. Each row draws from its own
generator (numpy's PCG64, seeded with its seed and a stream of its own), so a row of a
vectorised sweep and the same configuration run alone draw the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from objectives.base import Objective, ObjectiveError, integer, shown

class Draws(Protocol):
    """A batch of runs' samples: f and ∇f at step t, and where step t stands (epochs...)."""

    samples_f: bool  # whether f itself is sampled (minibatches), or only ∇f perturbed

    def objective(self, t: int) -> Objective: ...

    def gradient(self, grad: Tensor, t: int) -> Tensor: ...

    def progress(self, t: int) -> dict[str, float]: ...


class Sampling(Protocol):
    """A config's `sampling`: starts the draws of a batch of runs (None: the exact f, ∇f)."""

    name: str

    def start(self, objective: Objective, seeds: Sequence[int]) -> Draws | None: ...


NOISE_KINDS = ("gaussian", "student_t", "multiplicative")
STREAM = 0x5A3D  # the generators' stream: apart from x0's and the data split's


def generators(seeds: Sequence[int]) -> list[np.random.Generator]:
    return [np.random.Generator(np.random.PCG64([int(s) % 2**63, STREAM])) for s in seeds]


class Full:
    """The exact gradient on the whole objective (the default)."""

    name = "full"

    def start(self, objective: Objective, seeds: Sequence[int]) -> None:
        return None


class Minibatch:
    """Minibatches of `batch_size` samples of a data objective's training set, drawn without
    replacement: each epoch a fresh permutation, cut into n // batch_size batches (the
    remainder is left out of that epoch)."""

    name = "minibatch"

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = integer(batch_size, "sampling.batch_size", low=1)

    def start(self, objective: Objective, seeds: Sequence[int]) -> MinibatchDraws:
        n = getattr(objective, "n_train", None)
        if n is None:
            raise ObjectiveError(
                "sampling=minibatch needs an objective fitted to data (least_squares, ridge, "
                "logistic, softmax_regression, mlp, noisy_2d, quadratic_deep); "
                f"'{objective.name}' has none (sampling=noise perturbs any gradient)")
        if self.batch_size > n:
            raise ObjectiveError(f"sampling.batch_size={self.batch_size} is larger than the "
                                 f"training set ({n} samples)")
        return MinibatchDraws(objective, self.batch_size, generators(seeds))


class MinibatchDraws:
    samples_f = True

    def __init__(self, objective, batch_size: int, gens: list[np.random.Generator]) -> None:
        self.objective_, self.m, self.gens = objective, batch_size, gens
        self.n = objective.n_train
        self.per_epoch = self.n // batch_size
        self._order: Tensor | None = None

    def objective(self, t: int):
        k = t % self.per_epoch
        if k == 0 or self._order is None:
            order = np.stack([g.permutation(self.n) for g in self.gens])
            self._order = torch.as_tensor(order, device=self.objective_.device)
        return self.objective_.on(self._order[:, k * self.m:(k + 1) * self.m])

    def gradient(self, grad: Tensor, t: int) -> Tensor:
        return grad

    def progress(self, t: int) -> dict[str, float]:
        """Where step t stands: epochs (t / batches per epoch) and samples seen."""
        return {"epoch": t / self.per_epoch, "samples": float(t * self.m)}


class Noise:
    """An exact gradient plus noise of standard deviation `scale` per coordinate:

        gaussian:        g + s·ξ,          ξ ~ N(0, I)
        student_t:       g + s·ξ,          ξ ~ t_ν · √((ν − 2)/ν)  (unit variance; ν = df > 2)
        multiplicative:  g ⊙ (1 + s·ξ),    ξ ~ N(0, I)

    Student-t noise with ν <= 2 has infinite variance: only with `infinite_variance=true`,
    and then ξ ~ t_ν unscaled."""

    name = "noise"

    def __init__(self, kind: str = "gaussian", scale: float = 0.1, df: float = 5.0,
                 infinite_variance: bool = False) -> None:
        if kind not in NOISE_KINDS:
            raise ObjectiveError(f"sampling.kind must be one of {', '.join(NOISE_KINDS)}, "
                                 f"got {shown(kind)}")
        if not 0 <= scale < math.inf:
            raise ObjectiveError(f"sampling.scale must be a finite number >= 0, got "
                                 f"{shown(scale)}")
        if kind == "student_t" and not df > 2 and not infinite_variance:
            raise ObjectiveError(f"sampling.df={df}: Student-t noise with df <= 2 has infinite "
                                 "variance; set sampling.infinite_variance=true to ask for it")
        if kind == "student_t" and not 0 < df < math.inf:
            raise ObjectiveError(f"sampling.df must be a number > 0, got {shown(df)}")
        self.kind, self.scale, self.df = kind, float(scale), float(df)

    def start(self, objective: Objective, seeds: Sequence[int]) -> NoiseDraws:
        return NoiseDraws(self, objective, generators(seeds))

    def draw(self, gen: np.random.Generator, d: int) -> np.ndarray:
        if self.kind != "student_t":
            return gen.standard_normal(d)
        xi = gen.standard_t(self.df, d)
        return xi * math.sqrt((self.df - 2) / self.df) if self.df > 2 else xi


class NoiseDraws:
    samples_f = False

    def __init__(self, noise: Noise, objective: Objective,
                 gens: list[np.random.Generator]) -> None:
        self.noise, self.objective_, self.gens = noise, objective, gens

    def objective(self, t: int) -> Objective:
        return self.objective_

    def gradient(self, grad: Tensor, t: int) -> Tensor:
        d = grad.shape[-1]
        xi = torch.as_tensor(np.stack([self.noise.draw(g, d) for g in self.gens]),
                             dtype=grad.dtype, device=grad.device)
        if self.noise.kind == "multiplicative":
            return grad * (1 + self.noise.scale * xi)
        return grad + self.noise.scale * xi

    def progress(self, t: int) -> dict[str, float]:
        return {}
