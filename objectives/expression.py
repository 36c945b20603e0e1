"""Objectives written as formulas in the config: objective.expr="2*x**2 + x + 3"."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor

from objectives.base import Objective, ObjectiveError

MAX_FILE_BYTES = 1_000_000  # a formula file is read whole; the parser then limits its length


class Expression(Objective):
    """Minimize a function given as a formula, e.g. "2*x**2 + x + 3" or "sum(x**2)".

    Grammar (checked by `objectives.grammar`, never eval'd): numbers, + − * / **,
    parentheses, the functions exp, log, log2, log10, sqrt, abs, sin, cos, tan, sinh, cosh,
    tanh, arcsin/asin, arccos/acos, arctan/atan, atan2(y, x), where(cond, a, b) with
    comparisons (< <= > >= == !=, and, or, not), the constants pi and e, sums and products
    of a vector (sum(x**2)) or over an index range (sum(f(i) for i in range(1, m + 1)), with
    whole-number arithmetic in indices such as x[i-1]). Variables are either named
    ("2*a**2 + 3*b**3": coordinates in order of first appearance, or in the order
    `variables` gives) or entries of one vector ("x[0]**2 + 4*x[1]**2", "sum(x**2)": d is
    the largest index + 1, or `dim`, or len(x0) when larger). `constants` names numbers
    ({m: 15}) and `data` names vectors ({y: [...]}, read as y[i]); `file` holds the formula
    instead of `expr` (# starts a comment). A formula may have up to 20,000 nodes once its
    loops are expanded.

    Gradient: ∂f/∂xᵢ by the chain rule on the SymPy expression (`objectives.derivative`),
    compiled to torch ops like f itself (abs differentiates to sign; where to the derivative
    of the branch taken). Minimizer and minimum: only as given (`minimizer` alone gives
    f* = f(x*)).
    """

    name = "expr"
    has_analytic_grad = True

    def __init__(
        self,
        expr: str | None = None,
        *,
        file: str | None = None,
        constants: Mapping[str, float] | None = None,
        data: Mapping[str, Sequence[float]] | None = None,
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
        from objectives.formula import parse  # SymPy: imported when a formula is used

        text = read_formula(file) if file is not None else expr
        if text is None:
            raise ObjectiveError("objective.expr or objective.file must give the formula")
        self.formula = parse(text, variables=variables, size=size, constants=constants,
                             data=data)
        d = len(self.formula.symbols)
        if dim is not None and d != dim:
            raise ObjectiveError(f"objective.dim is {dim} but the formula has {d} coordinates")
        super().__init__(d, x0=x0, dtype=dtype, device=device)
        self.expr = self.formula.text
        self.variables = self.formula.names
        # abs, atan2 and where are not holomorphic: the complex step would be wrong
        self.supports_complex = self.formula.holomorphic
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
        return self._gradient(x)

    @functools.cached_property
    def _gradient(self) -> Callable[[Tensor], Tensor]:
        # derived on first use: SymPy takes ~10 ms per coordinate, which runs that use
        # autograd or finite differences need not pay
        return self.formula.gradient_function()

    def describe(self) -> str:
        text = self.expr if len(self.expr) <= 80 else self.expr[:77] + "..."
        return f"expr({text})"


def read_formula(file: str | Path) -> str:
    """The text of a formula file (objective.file), with a clear error if it cannot be read."""
    path = Path(file).expanduser()
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ObjectiveError(f"objective.file: {path} is over {MAX_FILE_BYTES} bytes")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise ObjectiveError(f"objective.file: cannot read {path}: {reason}") from None
