"""SymPy expressions (a formula and its derivatives) compiled into torch ops.

The expressions become one straight-line program: each distinct subexpression is one step,
computed once per call however often it recurs (the residual rᵢ of a least-squares formula
appears in every partial derivative). Only the node types a formula can hold are compiled,
through the tables below; anything else is an error, not a fallback to lambdify or eval.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence

import sympy
import torch
from torch import Tensor

from objectives.base import ObjectiveError
from objectives.functions import RealAbs, RealSign, real_value

MAX_INTEGER_POWER = 64  # integer powers up to this are products (see `_integer_power`)

_OPERATORS = {sympy.Add: operator.add, sympy.Mul: operator.mul}
_FUNCTIONS = {f: getattr(torch, f.__name__) for f in (
    sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tan, sympy.sinh, sympy.cosh, sympy.tanh,
    sympy.asin, sympy.acos, sympy.atan, sympy.atan2)}
_FUNCTIONS.update({RealAbs: torch.abs, RealSign: torch.sign})
_RELATIONS = {sympy.StrictLessThan: operator.lt, sympy.LessThan: operator.le,
              sympy.StrictGreaterThan: operator.gt, sympy.GreaterThan: operator.ge,
              sympy.Equality: operator.eq, sympy.Unequality: operator.ne}
_LOGIC = {sympy.And: torch.logical_and, sympy.Or: torch.logical_or}
#: real-only ops: |z| and sign(z) are not holomorphic, atan2 and comparisons take no complex
#: input, so the complex step cannot differentiate a formula that holds them
REAL_ONLY = (RealAbs, RealSign, sympy.atan2, sympy.Piecewise)

Step = tuple[Callable, tuple[int, ...]]  # fn(x, *values of earlier steps)


def to_torch(exprs: Sequence[sympy.Expr],
             symbols: Sequence[sympy.Symbol]) -> Callable[[Tensor], list[Tensor]]:
    """Compile expressions into one torch function: x of shape (..., d) -> [eₖ(x) of shape (...)]."""
    program = _Program({s: i for i, s in enumerate(symbols)})
    outputs = [program.slot(expr) for expr in exprs]
    steps = program.steps

    def run(x: Tensor) -> list[Tensor]:
        values: list = []
        for fn, args in steps:
            values.append(fn(x, *(values[a] for a in args)))
        zero = torch.zeros_like(x[..., 0])
        return [values[k] if isinstance(values[k], Tensor) else zero + values[k] for k in outputs]

    return run


def holomorphic(expr: sympy.Expr) -> bool:
    """Whether expr compiles to ops that the complex step differentiates correctly."""
    return not expr.has(*REAL_ONLY)


class _Program:
    """Steps in evaluation order, one per distinct subexpression."""

    def __init__(self, index: dict[sympy.Symbol, int]) -> None:
        self.index = index
        self.steps: list[Step] = []
        self.slots: dict[sympy.Basic, int] = {}

    def slot(self, expr: sympy.Basic) -> int:
        if expr not in self.slots:
            self.steps.append(self.step(expr))
            self.slots[expr] = len(self.steps) - 1
        return self.slots[expr]

    def step(self, expr: sympy.Basic) -> Step:
        if expr in self.index:
            i = self.index[expr]
            return (lambda x: x[..., i]), ()
        if expr is sympy.true or expr is sympy.false:
            flag = bool(expr)
            return (lambda x: flag), ()
        if expr.is_number:
            c = float(expr) if expr.is_Float or expr.is_Integer else real_value(expr)
            return (lambda x: c), ()
        if isinstance(expr, sympy.Pow) and (n := _small_integer(expr.exp)) is not None:
            return (lambda x, base: _integer_power(base, n)), (self.slot(expr.base),)
        if isinstance(expr, sympy.Piecewise):
            return _piecewise, tuple(self.slot(a) for pair in expr.args for a in pair)
        args = tuple(self.slot(arg) for arg in expr.args)
        if isinstance(expr, sympy.Pow):
            return (lambda x, base, exponent: base**exponent), args
        if (op := _OPERATORS.get(expr.func) or _RELATIONS.get(expr.func)) is not None:
            return (lambda x, *values: functools.reduce(op, values)), args
        if (fn := _FUNCTIONS.get(expr.func)) is not None:
            return (lambda x, *values: fn(*(_tensor(v, x) for v in values))), args
        if (logic := _LOGIC.get(expr.func)) is not None:
            return (lambda x, *values: functools.reduce(logic, [_tensor(v, x) for v in values])), \
                args
        if isinstance(expr, sympy.Not):
            return (lambda x, value: torch.logical_not(_tensor(value, x))), args
        if isinstance(expr, sympy.ITE):  # SymPy's form of a comparison of piecewise values
            return (lambda x, *values: torch.where(*(_tensor(v, x) for v in values))), args
        raise ObjectiveError(f"objective.expr: cannot compile {expr.func.__name__} to torch")


def _piecewise(x: Tensor, *pairs) -> Tensor:
    """where(c₁, e₁, where(c₂, e₂, …)): the first piece whose condition holds."""
    out = _tensor(pairs[-2], x)  # the last piece's condition is True
    for k in range(len(pairs) - 4, -1, -2):
        out = torch.where(_tensor(pairs[k + 1], x), _tensor(pairs[k], x), out)
    return out


def _tensor(value, x: Tensor) -> Tensor:
    """A Python number or bool as a tensor on x's device (x's dtype for numbers)."""
    if isinstance(value, Tensor):
        return value
    dtype = torch.bool if isinstance(value, bool) else x.dtype
    return torch.tensor(value, dtype=dtype, device=x.device)


def _small_integer(exponent: sympy.Expr) -> int | None:
    if not exponent.is_Number:
        return None
    value = float(exponent)
    if not math.isfinite(value) or not value.is_integer() or abs(value) > MAX_INTEGER_POWER:
        return None
    return int(value)


def _integer_power(t: Tensor, n: int) -> Tensor:
    """t**n by repeated squaring.

    torch computes most complex powers as exp(n log t); at negative real t the rounding of
    the angle π swamps the complex step's tiny imaginary part, and products avoid it.
    """
    result, k = None, abs(n)
    while k:
        if k & 1:
            result = t if result is None else result * t
        k >>= 1
        if k:
            t = t * t
    if result is None:
        return torch.ones_like(t)
    return 1 / result if n < 0 else result
