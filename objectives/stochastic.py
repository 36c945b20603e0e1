"""Stochastic test problems after DeepOBS (Schneider, Balles & Hennig, ICLR 2019): noisy 2-D
functions and `quadratic_deep`, as data objectives whose "samples" are noise draws, so that
`sampling=minibatch` gives their stochastic gradients and the full training set an exact f
with a known optimum.

    noisy 2-D:       ℓᵢ(θ) = f(θ) + zᵢᵀθ,                zᵢ ~ N(0, σ²I₂)
    quadratic_deep:  ℓᵢ(θ) = ½(θ − zᵢ)ᵀQ(θ − zᵢ),       zᵢ ~ N(0, σ²I₁₀₀),
                     Q = R diag(λ) Rᵀ, 90 % of λ in U(0, 1), 10 % in U(30, 60), R a random rotation

f is the mean of ℓᵢ over the training draws: for quadratic_deep θ* is their mean and f*
follows in closed form; for the 2-D functions θ* is found once by Newton's method from the
noiseless function's minimizers (the lowest, for Branin's three).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from objectives.base import ObjectiveError, integer, seed_of, shown
from objectives.datasets import Split
from objectives.learning import DataObjective


def _rosenbrock(w: Tensor) -> Tensor:
    return (1 - w[..., 0]) ** 2 + 100 * (w[..., 1] - w[..., 0] ** 2) ** 2


def _beale(w: Tensor) -> Tensor:
    u, v = w[..., 0], w[..., 1]
    return (1.5 - u + u * v) ** 2 + (2.25 - u + u * v**2) ** 2 + (2.625 - u + u * v**3) ** 2


def _branin(w: Tensor) -> Tensor:
    u, v = w[..., 0], w[..., 1]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (v - b * u**2 + c * u - 6) ** 2 + 10 * (1 - t) * torch.cos(u) + 10


# function, its minimizers without noise, a starting point (DeepOBS's, where it has one)
FUNCTIONS = {
    "rosenbrock": (_rosenbrock, [(1.0, 1.0)], (-0.5, 1.5)),
    "beale": (_beale, [(3.0, 0.5)], (-4.5, 4.5)),
    "branin": (_branin, [(-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)], (2.5, 12.5)),
}


def _noise_split(name: str, dim: int, n: int, noise: float, test_fraction: float,
                 seed: int) -> Split:
    if not 0 <= noise < math.inf:
        raise ObjectiveError(f"objective.noise must be a finite number >= 0, got {shown(noise)}")
    if not 0 < test_fraction < 1:
        raise ObjectiveError(f"objective.test_fraction must be in (0, 1), got "
                             f"{shown(test_fraction)}")
    n = integer(n, "objective.n", low=2)
    gen = np.random.Generator(np.random.PCG64([seed_of(seed, "objective.seed"), 2]))
    z = noise * gen.standard_normal((n, dim))
    n_test = max(1, int(round(test_fraction * n)))
    source = {"generator": f"N(0, {noise}^2 I_{dim})", "n": str(n), "seed": str(seed)}
    return Split(name, "stochastic", z[n_test:], np.zeros(n - n_test), z[:n_test],
                 np.zeros(n_test), 0, source)


class _NoiseData(DataObjective):
    """Per-sample losses are the model's outputs; there are no targets."""

    def sample_losses(self, out: Tensor, y: Tensor) -> Tensor:
        return out[..., 0]

    def targets(self, y: np.ndarray) -> Tensor:
        return self.tensor(y)


class Noisy2D(_NoiseData):
    """A 2-D test function plus a noise term linear in θ (see the module's docstring)."""

    name = "noisy_2d"

    def __init__(self, *, function: str = "rosenbrock", noise: float = 1.0, n: int = 1000,
                 test_fraction: float = 0.25, seed: int = 0, x0=None, dtype=torch.float64,
                 device="cpu") -> None:
        if function not in FUNCTIONS:
            raise ObjectiveError(f"objective.function must be one of {', '.join(FUNCTIONS)}, "
                                 f"got {shown(function)}")
        split = _noise_split(f"noisy_{function}", 2, n, noise, test_fraction, seed)
        self.f, minimizers, start = FUNCTIONS[function]
        super().__init__(split, 2, x0=start if x0 is None else x0, dtype=dtype, device=device)
        self.name = f"noisy_{function}"
        mean = torch.as_tensor(split.X_train.mean(0), dtype=torch.float64)
        found = [self._newton(torch.tensor(m, dtype=torch.float64), mean) for m in minimizers]
        theta, value = min(found, key=lambda pair: pair[1])
        self.minimizer, self.minimum = self.tensor(theta), value

    def outputs(self, w: Tensor, X: Tensor) -> Tensor:
        return (self.f(w).unsqueeze(-1) + torch.einsum("gmd,gkd->gkm", X, w)).unsqueeze(-1)

    def _newton(self, theta: Tensor, mean: Tensor) -> tuple[Tensor, float]:
        def f(t: Tensor) -> Tensor:
            return self.f(t) + mean @ t

        for _ in range(100):
            grad = torch.autograd.functional.jacobian(f, theta)
            step = torch.linalg.solve(torch.autograd.functional.hessian(f, theta), grad)
            theta = theta - step
            if float(step.abs().max()) <= 1e-15 * max(1.0, float(theta.abs().max())):
                break
        return theta, float(f(theta))


class QuadraticDeep(_NoiseData):
    """DeepOBS's quadratic_deep: a 100-D stochastic quadratic whose Hessian Q has 90 % of
    its eigenvalues in (0, 1) and 10 % in (30, 60) (see the module's docstring)."""

    name = "quadratic_deep"

    def __init__(self, *, dim: int = 100, noise: float = 1.0, n: int = 1000,
                 test_fraction: float = 0.25, seed: int = 0, x0=None, dtype=torch.float64,
                 device="cpu") -> None:
        dim = integer(dim, "objective.dim", low=10)
        split = _noise_split("quadratic_deep", dim, n, noise, test_fraction, seed)
        gen = np.random.Generator(np.random.PCG64([seed_of(seed, "objective.seed"), 3]))
        large = dim // 10
        eigenvalues = np.concatenate([gen.uniform(0, 1, dim - large), gen.uniform(30, 60, large)])
        rotation, _ = np.linalg.qr(gen.standard_normal((dim, dim)))
        Q = rotation @ np.diag(eigenvalues) @ rotation.T
        super().__init__(split, dim, x0=x0, dtype=dtype, device=device)
        self.Q, self.eigenvalues = self.tensor((Q + Q.T) / 2), eigenvalues
        z = split.X_train
        theta = z.mean(0)
        centred = z - theta
        self.minimizer = self.tensor(theta)
        self.minimum = float(0.5 * np.einsum("nd,de,ne->n", centred, Q, centred).mean())

    def outputs(self, w: Tensor, X: Tensor) -> Tensor:
        diff = w.unsqueeze(-2) - X.unsqueeze(1)  # (G, K, m, d)
        return (0.5 * torch.einsum("gkmd,de,gkme->gkm", diff, self.Q, diff)).unsqueeze(-1)
