"""The functions and constants a formula may use, as SymPy builders, and |u|, sign(u) for real u."""

from __future__ import annotations

import math
from collections.abc import Callable

import sympy


class RealAbs(sympy.Function):
    """|u| for real u, differentiated as sign(u) (SymPy's Abs goes through re and im)."""

    @classmethod
    def eval(cls, arg):
        return sympy.Abs(arg) if arg.is_number else None

    def fdiff(self, argindex=1):
        return RealSign(self.args[0])


class RealSign(sympy.Function):
    """sign(u) for real u, with derivative 0."""

    @classmethod
    def eval(cls, arg):
        return sympy.sign(arg) if arg.is_number else None

    def fdiff(self, argindex=1):
        return sympy.S.Zero


def _lazy(cls: type) -> Callable[..., sympy.Expr]:
    """cls(*args), evaluated only on numbers: SymPy's simplifying eval costs ~1 ms a call."""

    def build(*args: sympy.Expr) -> sympy.Expr:
        if all(a.is_number for a in args):
            return cls(*args)
        return cls(*args, evaluate=False)

    return build


_LN2, _LN10 = sympy.Float(math.log(2)), sympy.Float(math.log(10))
_ELEMENTARY = (sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tan, sympy.sinh, sympy.cosh,
               sympy.tanh, sympy.asin, sympy.acos, sympy.atan, sympy.atan2)  # named as in torch
FUNCTIONS: dict[str, Callable[..., sympy.Expr]] = {
    **{f.__name__: _lazy(f) for f in _ELEMENTARY},
    "arcsin": _lazy(sympy.asin), "arccos": _lazy(sympy.acos), "arctan": _lazy(sympy.atan),
    "log2": lambda u: _lazy(sympy.log)(u) / _LN2,
    "log10": lambda u: _lazy(sympy.log)(u) / _LN10,
    "sqrt": sympy.sqrt,
    "abs": RealAbs,
}
CONSTANTS = {"pi": sympy.Float(math.pi), "e": sympy.Float(math.e)}


def real_value(expr: sympy.Expr) -> float:
    """The value of a constant SymPy expression: inf past the float range, nan if not real."""
    try:
        z = complex(expr)
    except (TypeError, ValueError, OverflowError):
        return math.nan
    return math.nan if z.imag else z.real
