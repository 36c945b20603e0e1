"""An objective given as a Python function by import path: bring your own torch code."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from objectives.base import Objective, ObjectiveError


def load(path: str, what: str) -> Callable:
    """Import `package.module.name` (or `package.module:name`) and check it is callable."""
    module_name, _, attr = path.replace(":", ".").rpartition(".")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ObjectiveError(f"objective.{what}: cannot import '{path}' ({exc})") from None
    if not callable(fn):
        raise ObjectiveError(f"objective.{what}: '{path}' is not callable")
    return fn


class PythonFunction(Objective):
    """Minimize f(x) = function(x), a torch function of x (..., d) -> (...).

    The function must index coordinates as x[..., i] and reduce over the last axis (then a
    batch of points is one call). It has a closed-form gradient only if `grad_function`
    is given. `minimum`/`minimizer` enable suboptimality metrics.
    """

    name = "python"

    def __init__(
        self,
        function: str,
        dim: int,
        *,
        grad_function: str | None = None,
        minimum: float | None = None,
        minimizer: Sequence[float] | None = None,
        x0: Sequence[float] | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> None:
        if int(dim) < 1:
            raise ObjectiveError(f"python: dim must be >= 1, got {dim}")
        super().__init__(dim, x0=x0, dtype=dtype, device=device)
        self.function = load(function, "function")
        self.grad_function = None if grad_function is None else load(grad_function, "grad_function")
        self.has_analytic_grad = self.grad_function is not None
        self.minimum = None if minimum is None else float(minimum)
        self.minimizer = None if minimizer is None else self.point(minimizer, "minimizer")

    def value(self, x: Tensor) -> Tensor:
        return self.function(x)

    def grad(self, x: Tensor) -> Tensor:
        if self.grad_function is None:
            return super().grad(x)
        return self.grad_function(x)
