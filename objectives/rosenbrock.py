"""The d-dimensional Rosenbrock function."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from objectives.base import Objective, integer


class Rosenbrock(Objective):
    """Minimize f(x) = Σᵢ b(xᵢ₊₁ − xᵢ²)² + (a − xᵢ)², i = 1..d−1.

    Minimizer x* = (a, a², a⁴, …) (all ones for the classic a = 1, b = 100), f* = 0.
    Gradient: ∂f/∂xᵢ = −4b xᵢ(xᵢ₊₁ − xᵢ²) − 2(a − xᵢ) + 2b(xᵢ − xᵢ₋₁²), the terms present.
    Reference: H. H. Rosenbrock, "An automatic method for finding the greatest or least
    value of a function", The Computer Journal 3(3), 1960.
    """

    name = "rosenbrock"
    has_analytic_grad = True

    def __init__(
        self,
        dim: int = 2,
        *,
        a: float = 1.0,
        b: float = 100.0,
        x0: Sequence[float] | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(integer(dim, "objective.dim", low=2), x0=x0, dtype=dtype, device=device)
        self.a, self.b = float(a), float(b)
        x_star = minimizer(self.a, self.dim)
        # for |a| > 1 the coordinates of x* overflow past a few dozen: then f* alone is known
        self.minimizer = self.tensor(x_star) if torch.isfinite(x_star).all() else None
        self.minimum = 0.0

    def value(self, x: Tensor) -> Tensor:
        head, tail = x[..., :-1], x[..., 1:]
        return (self.b * (tail - head**2) ** 2 + (self.a - head) ** 2).sum(-1)

    def grad(self, x: Tensor) -> Tensor:
        head, tail = x[..., :-1], x[..., 1:]
        inner = tail - head**2
        left = -4 * self.b * head * inner - 2 * (self.a - head)
        return F.pad(left, (0, 1)) + F.pad(2 * self.b * inner, (1, 0))


def minimizer(a: float, dim: int) -> Tensor:
    """(a, a², a⁴, …) by repeated squaring; the squares reach a fixed point (0, 1 or inf)
    within a few dozen steps, which then fills the rest (a large dim costs O(dim))."""
    head = [a]
    while len(head) < dim:
        try:
            square = head[-1] ** 2
        except OverflowError:
            square = math.inf
        head.append(square)
        if square == head[-2] or math.isnan(square):
            break
    x = torch.full((dim,), head[-1], dtype=torch.float64)
    x[: len(head)] = torch.tensor(head, dtype=torch.float64)
    return x
