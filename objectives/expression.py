"""Objectives written as formulas in the config: objective.expr="2*x**2 + x + 3"."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from objectives.base import Objective, ObjectiveError


class Expression(Objective):
    """Minimize a function given as a formula, e.g. "2*x**2 + x + 3" or "sum(x**2)".

    Grammar (checked by `objectives.formula.parse`, never eval'd): numbers, + − * / **,
    parentheses, the functions exp, log, log2, log10, sqrt, abs, sin, cos, tan, sinh, cosh,
    tanh, arcsin/asin, arccos/acos, arctan/atan and sum, the constants pi and e. Variables
    are either named ("2*a**2 + 3*b**3": coordinates in order of first appearance, or in
    the order `variables` gives) or entries of one vector ("x[0]**2 + 4*x[1]**2",
    "sum(x**2)": d is the largest index + 1, or `dim`, or len(x0) when larger).

    Gradient: ∂f/∂xᵢ = sympy.diff(f, xᵢ), compiled to torch ops like f itself (abs
    differentiates to sign). Minimizer and minimum: only as given (`minimizer` alone gives
    f* = f(x*)).
    """

    name = "expr"
    has_analytic_grad = True

    def __init__(
        self,
        expr: str,
        *,
        x0: Sequence[float] | Tensor | None = None,
        variables: Sequence[str] | None = None,
        dim: int | None = None,
        minimum: float | None = None,
        minimizer: Sequence[float] | Tensor | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> None:
        dim = None if dim is None else int(dim)
        if dim is not None and dim < 1:
            raise ObjectiveError(f"objective.dim must be >= 1, got {dim}")
        size = dim if dim is not None else 0 if x0 is None else torch.as_tensor(x0).numel()
        from objectives.formula import RealAbs, parse  # SymPy: imported when a formula is used

        self.formula = parse(expr, variables=variables, size=size)
        d = len(self.formula.symbols)
        if dim is not None and d != dim:
            raise ObjectiveError(f"objective.dim is {dim} but the formula has {d} coordinates")
        super().__init__(d, x0=x0, dtype=dtype, device=device)
        self.expr = self.formula.text
        self.variables = self.formula.names
        # abs is not holomorphic: the complex step would differentiate |z|, not |x|
        self.supports_complex = not self.formula.expr.has(RealAbs)
        self._value = self.formula.value_function()
        self._set_optimum(minimum, minimizer)

    def _set_optimum(self, minimum, minimizer) -> None:
        minimum = None if minimum is None else float(minimum)
        if minimum is not None and not math.isfinite(minimum):
            raise ObjectiveError(f"objective.minimum must be finite, got {minimum}")
        if minimizer is not None:
            self.minimizer = self.point(minimizer, "minimizer")
            at = float(self.value(self.minimizer))
            if minimum is None:
                minimum = at
            elif not math.isclose(at, minimum, rel_tol=1e-6, abs_tol=1e-8):
                raise ObjectiveError(f"objective.minimum is {minimum} but f(minimizer) = {at:.8g}")
        self.minimum = minimum

    def value(self, x: Tensor) -> Tensor:
        return self._value(x)

    def grad(self, x: Tensor) -> Tensor:
        return torch.stack([partial(x) for partial in self._partials], dim=-1)

    @functools.cached_property
    def _partials(self) -> list[Callable[[Tensor], Tensor]]:
        # derived on first use: SymPy takes ~10 ms per coordinate, which runs that use
        # autograd or finite differences need not pay
        return self.formula.partial_functions()

    def describe(self) -> str:
        return f"expr({self.expr})"
