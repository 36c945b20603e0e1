"""Gradient methods: each turns an objective into (value, gradient) at a batch of points.

Every method takes x of shape (..., d) and returns f(x) of shape (...) and ∇f(x) of shape
(..., d). Rows are independent, so one call serves a single run (a batch of one) and a
vectorised sweep alike.
"""

from __future__ import annotations

import torch
from torch import Tensor

from objectives.base import Objective, ObjectiveError

FD_SCHEMES = ("central", "forward", "backward", "richardson")


class GradientMethod:
    """Base class: `check` says early whether an objective is supported."""

    name = "gradient"

    def check(self, objective: Objective) -> None:
        """Raise ObjectiveError if this method cannot differentiate `objective`."""

    def __call__(self, objective: Objective, x: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


class Autograd(GradientMethod):
    """Reverse-mode automatic differentiation with `torch.autograd.grad`.

    The batch's values are summed before differentiating: rows are independent, so the
    gradient of the sum is the stack of per-row gradients, at the cost of one backward pass.
    """

    name = "autograd"

    def __call__(self, objective: Objective, x: Tensor) -> tuple[Tensor, Tensor]:
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            value = objective.value(xg)
            (grad,) = torch.autograd.grad(value.sum(), xg)
        return value.detach(), grad


class Analytic(GradientMethod):
    """The objective's own closed-form gradient."""

    name = "analytic"

    def check(self, objective: Objective) -> None:
        if not objective.has_analytic_grad:
            raise ObjectiveError(
                f"gradient=analytic: objective '{objective.name}' has no closed-form gradient; "
                "use gradient=autograd or gradient=finite_diff instead."
            )

    def __call__(self, objective: Objective, x: Tensor) -> tuple[Tensor, Tensor]:
        return objective.value(x), objective.grad(x)


def default_step(dtype: torch.dtype, scheme: str) -> float:
    """ε^(1/2) for one-sided differences, ε^(1/3) for central ones (truncation ≈ rounding)."""
    eps = torch.finfo(dtype).eps
    return eps ** (1 / 3) if scheme in ("central", "richardson") else eps**0.5


class FiniteDifference(GradientMethod):
    """Finite differences along each coordinate, all perturbed points in one batched call.

    forward:  (f(x + h eᵢ) − f(x)) / h            error O(h)
    backward: (f(x) − f(x − h eᵢ)) / h            error O(h)
    central:  (f(x + h eᵢ) − f(x − h eᵢ)) / 2h    error O(h²)
    richardson: (4 D(h/2) − D(h)) / 3 with D the central difference, error O(h⁴)
    The default h follows the dtype (see `default_step`); a given h is used as is.
    """

    name = "finite_diff"

    def __init__(self, scheme: str = "central", h: float | None = None) -> None:
        if scheme not in FD_SCHEMES:
            raise ObjectiveError(
                f"gradient.scheme must be one of {', '.join(FD_SCHEMES)}, got '{scheme}'"
            )
        if h is not None and not h > 0:
            raise ObjectiveError(f"gradient.h must be > 0, got {h}")
        self.scheme = scheme
        self.h = None if h is None else float(h)

    def step(self, dtype: torch.dtype) -> float:
        return self.h if self.h is not None else default_step(dtype, self.scheme)

    def __call__(self, objective: Objective, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.step(x.dtype)
        if self.scheme == "richardson":
            value, coarse = self._central(objective, x, h)
            _, fine = self._central(objective, x, h / 2)
            return value, (4 * fine - coarse) / 3
        if self.scheme == "central":
            return self._central(objective, x, h)
        d = x.shape[-1]
        sign = 1.0 if self.scheme == "forward" else -1.0
        points = torch.cat([x.unsqueeze(-2), x.unsqueeze(-2) + sign * h * _eye(x, d)], dim=-2)
        values = objective.value(points)  # (..., d + 1)
        value, shifted = values[..., 0], values[..., 1:]
        grad = (shifted - value.unsqueeze(-1)) / h * sign
        return value, grad

    @staticmethod
    def _central(objective: Objective, x: Tensor, h: float) -> tuple[Tensor, Tensor]:
        d = x.shape[-1]
        e = h * _eye(x, d)
        points = torch.cat([x.unsqueeze(-2), x.unsqueeze(-2) + e, x.unsqueeze(-2) - e], dim=-2)
        values = objective.value(points)  # (..., 2d + 1)
        value, plus, minus = values[..., 0], values[..., 1 : d + 1], values[..., d + 1 :]
        return value, (plus - minus) / (2 * h)


class ComplexStep(GradientMethod):
    """Complex-step derivative: ∂f/∂xᵢ = Im f(x + i h eᵢ) / h.

    No subtraction, hence no cancellation: exact to machine precision with h = 1e-20 for
    objectives that are real-analytic and written in holomorphic ops (no abs, max, or
    comparisons on the perturbed value). Reference: Squire & Trapp, SIAM Review 40(1), 1998.
    """

    name = "complex_step"

    def __init__(self, h: float = 1e-20) -> None:
        if not h > 0:
            raise ObjectiveError(f"gradient.h must be > 0, got {h}")
        self.h = float(h)

    def check(self, objective: Objective) -> None:
        if not objective.supports_complex:
            raise ObjectiveError(
                f"gradient=complex_step: objective '{objective.name}' uses operations that are "
                "not holomorphic (abs, max, comparisons), so the complex step would be wrong; "
                "use gradient=autograd or gradient=finite_diff"
            )

    def __call__(self, objective: Objective, x: Tensor) -> tuple[Tensor, Tensor]:
        d = x.shape[-1]
        cdtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
        xc = x.to(cdtype).unsqueeze(-2)
        points = torch.cat([xc, xc + 1j * self.h * _eye(x, d).to(cdtype)], dim=-2)
        values = objective.value(points)
        return values[..., 0].real, values[..., 1:].imag / self.h


def _eye(x: Tensor, d: int) -> Tensor:
    return torch.eye(d, dtype=x.dtype, device=x.device)
