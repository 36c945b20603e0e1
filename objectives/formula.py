"""Formulas from config strings: a checked parse, a SymPy expression, torch closures.

`parse` reads arithmetic such as "2*x**2 + x + 3", "sum(x**2) + x[0]" or
"sum((y[i] - x[0]*exp(-x[1]*t[i]))**2 for i in range(m))" in three steps, none of which
evaluates the text: `objectives.grammar` checks its syntax tree against a whitelist,
`objectives.symbolic` builds the SymPy expression node by node, and `objectives.to_torch`
compiles it, and its derivatives from `objectives.derivative`, into torch ops. Nothing
reaches eval, exec or sympify.
"""

from __future__ import annotations

import ast
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sympy
import torch
from torch import Tensor

from objectives.base import ObjectiveError
from objectives.derivative import gradient
from objectives.functions import CONSTANTS
from objectives.grammar import MAX_DIM, MAX_NODES, REDUCTIONS, RESERVED, clip, syntax_tree
from objectives.symbolic import Builder, IndexedX
from objectives.to_torch import holomorphic, to_torch


def _guard_recursion(fn: Callable) -> Callable:
    """Report SymPy's recursion on deeply nested formulas (x**x**…**x) as a user error."""

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RecursionError:
            raise ObjectiveError("objective.expr is nested too deeply") from None

    return guarded


@dataclass(frozen=True)
class Formula:
    """A checked formula: its SymPy expression and its coordinates, in order."""

    text: str
    expr: sympy.Expr
    symbols: tuple[sympy.Symbol, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.symbols)

    @property
    def holomorphic(self) -> bool:
        """Whether the complex step applies: no abs, atan2 or where."""
        return holomorphic(self.expr)

    @_guard_recursion
    def value_function(self) -> Callable[[Tensor], Tensor]:
        """f as torch ops: x of shape (..., d) -> f(x) of shape (...)."""
        run = to_torch([self.expr], self.symbols)
        return lambda x: run(x)[0]

    @_guard_recursion
    def gradient_function(self) -> Callable[[Tensor], Tensor]:
        """∇f as torch ops: x of shape (..., d) -> ∇f(x) of shape (..., d).

        The partials (`objectives.derivative.gradient`) are compiled together, so what they
        share (the residuals of a sum of squares) is computed once per call.
        """
        run = to_torch(gradient(self.expr, self.symbols), self.symbols)
        return lambda x: torch.stack(run(x), dim=-1)


@_guard_recursion
def parse(text: str, *, variables: Sequence[str] | None = None, size: int = 0,
          constants: Mapping[str, float] | None = None,
          data: Mapping[str, Sequence[float]] | None = None) -> Formula:
    """Check `text` and build its SymPy expression.

    Named style ("2*a**2 + 3*b**3"): the coordinates are the free names in order of first
    appearance, or `variables` in its order. Indexed style (any `x[i]`, or `sum`/`prod` of a
    vector such as x**2): the coordinates are x[0] … x[d−1] with d = max(largest index + 1,
    size); a bare `x` is the whole vector, combined elementwise. `constants` (numbers) and
    `data` (vectors, indexed like x) are names the formula may use; int constants may also
    appear in indices and range(...).
    """
    if not isinstance(text, str):
        raise ObjectiveError(f"objective.expr must be a string, got {type(text).__name__}")
    text = _one_line(text)
    constants, data = _constants(constants), _data(data)
    if clash := set(constants) & set(data):
        raise ObjectiveError(f"objective.constants and objective.data both define "
                             f"{', '.join(sorted(clash))}")
    tree = syntax_tree(text, ("x", *data))
    scalars = {**CONSTANTS, **{k: sympy.Float(v) for k, v in constants.items()}}
    integers = {k: v for k, v in constants.items() if type(v) is int}
    free = _free_names(tree, set(scalars) | set(data))
    build = functools.partial(_build, text, tree, integers=integers, vectors=data)
    if not _indexes_x(tree, data):
        order = free if variables is None else _check_variables(variables, free, scalars, data)
        symbols = tuple(sympy.Symbol(name) for name in order)
        expr, _ = build({**scalars, **dict(zip(order, symbols))}, None)
        return _formula(text, expr, symbols)
    if named := [name for name in free if name != "x"]:
        raise ObjectiveError(f"objective.expr mixes the vector x (x[i], sum) with named "
                             f"variables ({', '.join(named)}); use one style")
    if variables is not None:
        raise ObjectiveError("objective.variables is for named variables; this formula indexes x")
    expr, x = build(scalars, IndexedX(max(int(size), _literal_length(tree))))
    if x.whole_used and x.largest >= x.length:  # bare x had fewer entries than x[i] needs
        expr, x = build(scalars, IndexedX(x.largest + 1))
    dim = max(x.length, x.largest + 1)
    if dim == 0:
        raise ObjectiveError("objective.expr: the length of x is unknown; give x0 or dim")
    if dim > MAX_DIM:
        raise ObjectiveError(f"objective.expr: x has {dim} entries; the limit is {MAX_DIM}")
    return _formula(text, expr, tuple(sympy.Symbol(f"x[{i}]") for i in range(dim)))


def _build(text: str, tree: ast.Expression, scalars: dict, x: IndexedX | None, *,
           integers: dict, vectors: dict) -> tuple[sympy.Expr, IndexedX | None]:
    builder = Builder(text, scalars=scalars, integers=integers, vectors=vectors, x=x)
    return builder.value(tree.body), x


def _formula(text: str, expr, symbols: tuple[sympy.Symbol, ...]) -> Formula:
    if not isinstance(expr, sympy.Expr):
        raise ObjectiveError(f"objective.expr: '{clip(text)}' is a vector; wrap it in sum(...)")
    if not expr.free_symbols:
        raise ObjectiveError(f"objective.expr: '{clip(text)}' does not depend on any variable")
    return Formula(text, expr, symbols)


def _one_line(text: str) -> str:
    """The formula without comments (# to the end of a line), on one line."""
    lines = (line.split("#", 1)[0] for line in text.splitlines())
    return " ".join(" ".join(lines).split())


def _indexes_x(tree: ast.Expression, data: Mapping) -> bool:
    """Indexed style: x[i] somewhere, or sum/prod of a vector of x (or of no data vector)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and node.value.id == "x":
            return True
        if (isinstance(node, ast.Call) and node.func.id in REDUCTIONS
                and not isinstance(node.args[0], ast.GeneratorExp)):
            names = {n.id for n in ast.walk(node.args[0]) if isinstance(n, ast.Name)}
            if "x" in names or not names & set(data):
                return True
    return False


def _free_names(tree: ast.Expression, known: set[str]) -> list[str]:
    """Names that are neither functions, loop variables nor known, in order of appearance."""
    nodes = list(ast.walk(tree))
    funcs = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
    loops = {n.target.id for n in nodes if isinstance(n, ast.comprehension)}
    used = sorted((n for n in nodes if isinstance(n, ast.Name) and id(n) not in funcs
                   and isinstance(n.ctx, ast.Load)), key=lambda n: n.col_offset)
    return [name for name in dict.fromkeys(n.id for n in used) if name not in known | loops]


def _literal_length(tree: ast.Expression) -> int:
    """1 + the largest literal index x[<int>] (0 without one)."""
    return max((n.slice.value + 1 for n in ast.walk(tree)
                if isinstance(n, ast.Subscript) and n.value.id == "x"
                and isinstance(n.slice, ast.Constant) and 0 <= n.slice.value < MAX_DIM),
               default=0)


def _check_variables(variables: Sequence[str], free: list[str], *taken: Mapping) -> list[str]:
    order = list(variables) if not isinstance(variables, str) else [variables]
    for name in order:
        if not _usable(name) or any(name in names for names in taken):
            raise ObjectiveError(f"objective.variables: '{name}' is not a usable variable name")
    if len(set(order)) != len(order):
        raise ObjectiveError(f"objective.variables lists a name twice: {order}")
    if missing := [name for name in free if name not in order]:
        raise ObjectiveError(f"objective.expr uses {', '.join(missing)}, which "
                             f"objective.variables ({', '.join(order)}) does not list")
    return order


def _usable(name) -> bool:
    return (isinstance(name, str) and name.isidentifier() and not name.startswith("_")
            and name not in RESERVED)


def _constants(constants: Mapping | None) -> dict[str, int | float]:
    """objective.constants: names for numbers, {m: 15, a: 1e-5}."""
    if constants is None:
        return {}
    if not isinstance(constants, Mapping):
        raise ObjectiveError("objective.constants must map names to numbers, e.g. {m: 15}")
    out = {}
    for name, value in constants.items():
        if not _usable(name) or name == "x":
            raise ObjectiveError(f"objective.constants: '{name}' is not a usable name")
        if type(value) not in (int, float) or not math.isfinite(value):
            hint = "; vectors go in objective.data" if isinstance(value, (list, tuple)) else ""
            raise ObjectiveError(f"objective.constants.{name} must be a finite number, got "
                                 f"{clip(repr(value))}{hint}")
        out[name] = value
    return out


def _data(data: Mapping | None) -> dict[str, tuple[float, ...]]:
    """objective.data: names for vectors of numbers, {y: [0.14, 0.18, ...]}, read as y[i]."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ObjectiveError("objective.data must map names to lists of numbers, "
                             "e.g. {y: [1.5, 2.25]}")
    out = {}
    for name, values in data.items():
        if not _usable(name) or name == "x":
            raise ObjectiveError(f"objective.data: '{name}' is not a usable name")
        values = values.tolist() if hasattr(values, "tolist") else values
        if isinstance(values, (str, Mapping)) or not isinstance(values, Sequence) \
                or not 0 < len(values) <= MAX_NODES:
            raise ObjectiveError(f"objective.data.{name} must be a list of 1 to {MAX_NODES} "
                                 "numbers")
        if not all(type(v) in (int, float) and math.isfinite(v) for v in values):
            raise ObjectiveError(f"objective.data.{name} must hold finite numbers only")
        out[name] = tuple(values)
    return out
