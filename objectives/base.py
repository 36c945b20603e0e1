"""The objective interface: a scalar function of one point, with what is known about it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class ObjectiveError(ValueError):
    """A problem with an objective's configuration or input, phrased for the user."""


class Objective:
    """A function f: R^d -> R written for one point in plain torch ops.

    Subclasses implement `value(x)` for x of shape (..., d), indexing coordinates as
    `x[..., i]` and reducing over the last axis, so that the same code evaluates one point,
    a stacked batch (B, d) and works under `torch.func.vmap`. Where a closed-form gradient
    is known they override `grad(x)` and set `has_analytic_grad = True`. Known optima live
    here (`minimizer` x*, `minimum` f*) so every run can report exact suboptimality.
    """

    name: str = "objective"
    has_analytic_grad: bool = False
    #: whether `value` accepts complex input (needed by the complex-step gradient)
    supports_complex: bool = True

    def __init__(
        self,
        dim: int,
        *,
        x0: Sequence[float] | Tensor | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> None:
        self.dim = int(dim)
        self.dtype = dtype
        self.device = torch.device(device)
        self.x0 = None if x0 is None else self.point(x0, "x0")
        self.minimizer: Tensor | None = None
        self.minimum: float | None = None

    def value(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def grad(self, x: Tensor) -> Tensor:
        raise ObjectiveError(f"objective '{self.name}' has no closed-form gradient")

    def __call__(self, x: Tensor) -> Tensor:
        return self.value(x)

    def tensor(self, values) -> Tensor:
        """Convert config values to a tensor of this objective's dtype and device."""
        return torch.as_tensor(values, dtype=self.dtype, device=self.device)

    def point(self, values, what: str = "point") -> Tensor:
        """Check and convert a point given in a config: a flat list of `dim` numbers."""
        x = self.tensor(values)
        if x.dim() != 1 or x.numel() != self.dim:
            raise ObjectiveError(
                f"objective.{what} has {x.numel()} value(s) but '{self.name}' is "
                f"{self.dim}-dimensional"
            )
        if not torch.isfinite(x).all():
            raise ObjectiveError(f"objective.{what} must be finite, got {x.tolist()}")
        return x

    def initial_point(self, seed: int = 0) -> Tensor:
        """The configured x0, or a standard normal draw from a generator seeded with `seed`."""
        if self.x0 is not None:
            return self.x0.clone()
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randn(self.dim, generator=gen, dtype=torch.float64).to(
            self.dtype
        ).to(self.device)

    def describe(self) -> str:
        return f"{self.name}(d={self.dim})"
