"""The d-dimensional Rosenbrock function."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from objectives.base import Objective, ObjectiveError


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
        if int(dim) < 2:
            raise ObjectiveError(f"rosenbrock: dim must be >= 2, got {dim}")
        super().__init__(dim, x0=x0, dtype=dtype, device=device)
        self.a, self.b = float(a), float(b)
        x_star = [self.a]
        for _ in range(self.dim - 1):
            x_star.append(x_star[-1] ** 2)
        self.minimizer = self.tensor(x_star)
        self.minimum = 0.0

    def value(self, x: Tensor) -> Tensor:
        head, tail = x[..., :-1], x[..., 1:]
        return (self.b * (tail - head**2) ** 2 + (self.a - head) ** 2).sum(-1)

    def grad(self, x: Tensor) -> Tensor:
        head, tail = x[..., :-1], x[..., 1:]
        inner = tail - head**2
        left = -4 * self.b * head * inner - 2 * (self.a - head)
        return F.pad(left, (0, 1)) + F.pad(2 * self.b * inner, (1, 0))
