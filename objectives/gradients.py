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


#: h ~ ε^p balances truncation and rounding error: one-sided differences err by
#: h|f″|/2 + 2ε|f|/h, central ones by h²|f‴|/6 + ε|f|/h, Richardson's by O(h⁴) + O(ε/h)
STEP_EXPONENTS = {"forward": 1 / 2, "backward": 1 / 2, "central": 1 / 3, "richardson": 1 / 5}


def default_step(dtype: torch.dtype, scheme: str) -> float:
    """ε^(1/2) for one-sided differences, ε^(1/3) for central ones, ε^(1/5) for Richardson."""
    return torch.finfo(dtype).eps ** STEP_EXPONENTS[scheme]


class FiniteDifference(GradientMethod):
    """Finite differences along each coordinate, all perturbed points in one batched call.

    forward:  (f(x + hᵢ eᵢ) − f(x)) / hᵢ              error O(h)
    backward: (f(x) − f(x − hᵢ eᵢ)) / hᵢ              error O(h)
    central:  (f(x + hᵢ eᵢ) − f(x − hᵢ eᵢ)) / 2hᵢ     error O(h²)
    richardson: (4 D(h/2) − D(h)) / 3 with D the central difference, error O(h⁴)

    The step along coordinate i is hᵢ = h·max(1, |xᵢ|) (relative, as SciPy's
    approx_derivative scales it) or hᵢ = h (absolute), with h the given one or
    `default_step`. `relative=None` (the default) scales the default step and uses a given
    h as is, so that a demo's h = 1e-4 gives the demo's numbers; True or False decide for
    both.
    """

    name = "finite_diff"

    def __init__(self, scheme: str = "central", h: float | None = None,
                 relative: bool | None = None) -> None:
        if scheme not in FD_SCHEMES:
            raise ObjectiveError(
                f"gradient.scheme must be one of {', '.join(FD_SCHEMES)}, got '{scheme}'"
            )
        if h is not None and not h > 0:
            raise ObjectiveError(f"gradient.h must be > 0, got {h}")
        if relative is not None and not isinstance(relative, bool):
            raise ObjectiveError(
                f"gradient.relative must be true, false or null, got {relative!r}"
            )
        self.scheme = scheme
        self.h = None if h is None else float(h)
        self.relative = self.h is None if relative is None else relative

    def step(self, dtype: torch.dtype) -> float:
        return self.h if self.h is not None else default_step(dtype, self.scheme)

    def steps(self, x: Tensor) -> Tensor:
        """hᵢ for each coordinate of each point: shape (..., d)."""
        h = self.step(x.dtype)
        return h * x.abs().clamp(min=1) if self.relative else torch.full_like(x, h)

    def __call__(self, objective: Objective, x: Tensor) -> tuple[Tensor, Tensor]:
        steps = self.steps(x)
        if self.scheme == "richardson":
            value, coarse = self._central(objective, x, steps)
            _, fine = self._central(objective, x, steps / 2)
            return value, (4 * fine - coarse) / 3
        if self.scheme == "central":
            return self._central(objective, x, steps)
        sign = 1.0 if self.scheme == "forward" else -1.0
        shifted = x.unsqueeze(-2) + sign * torch.diag_embed(steps)  # (..., d, d)
        values = objective.value(torch.cat([x.unsqueeze(-2), shifted], dim=-2))  # (..., d + 1)
        value = values[..., 0]
        return value, (values[..., 1:] - value.unsqueeze(-1)) / steps * sign

    @staticmethod
    def _central(objective: Objective, x: Tensor, steps: Tensor) -> tuple[Tensor, Tensor]:
        d = x.shape[-1]
        e = torch.diag_embed(steps)  # (..., d, d)
        points = torch.cat([x.unsqueeze(-2), x.unsqueeze(-2) + e, x.unsqueeze(-2) - e], dim=-2)
        values = objective.value(points)  # (..., 2d + 1)
        value, up, down = values[..., 0], values[..., 1 : d + 1], values[..., d + 1 :]
        return value, (up - down) / (2 * steps)


class ComplexStep(GradientMethod):
    """Complex-step derivative: ∂f/∂xᵢ = Im f(x + i h eᵢ) / h.

    No subtraction, hence no cancellation: exact to machine precision with h = 1e-20 for
    objectives that are real-analytic and written in holomorphic ops (no abs, max, atan2 or
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
                "not holomorphic (abs, max, atan2, where or comparisons), so the complex step "
                "would be wrong; use gradient=autograd or gradient=finite_diff"
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
