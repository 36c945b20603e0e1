"""Formulas from config strings: a whitelisted parse, a SymPy expression, torch closures.

`parse` reads arithmetic such as "2*x**2 + x + 3" or "sum(x**2) + x[0]" with `ast.parse`
and accepts only: int and float numbers, + − * / ** (binary and unary), parentheses, calls
of the functions in `FUNCTIONS` (one positional argument), the constants pi and e,
variables, and `x[<int>]`. Nothing reaches eval, exec or sympify: the SymPy expression is
built node by node from the checked tree, and `to_torch` turns SymPy expressions (the
formula and its derivatives) into torch ops through a whitelist of SymPy node types.

Every number is a SymPy Float, so SymPy never does exact big-integer arithmetic (which
`9**9**9**9` or `((99*x)**99)**99` would turn into a hang); every constant subexpression
must be a finite real number.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sympy
import torch
from torch import Tensor

from objectives.base import ObjectiveError

MAX_LENGTH = 2000  # characters, checked before parsing
MAX_NESTING = 50  # brackets (before parsing), calls and powers: parser and SymPy recurse on them
MAX_DEPTH = 200  # syntax-tree nesting, long sums included: the builder recurses once per level
MAX_NODES = 2000
MAX_DIM = 1000  # the gradient is one SymPy derivative per coordinate
MAX_INTEGER_POWER = 64  # integer powers up to this are products (see `_integer_power`)


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


_ELEMENTARY = (sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tan, sympy.sinh, sympy.cosh,
               sympy.tanh, sympy.asin, sympy.acos, sympy.atan)  # named as in torch
FUNCTIONS: dict[str, Callable[[sympy.Expr], sympy.Expr]] = {
    **{f.__name__: f for f in _ELEMENTARY},
    "arcsin": sympy.asin,
    "arccos": sympy.acos,
    "arctan": sympy.atan,
    "log2": lambda u: sympy.log(u) / sympy.log(2),
    "log10": lambda u: sympy.log(u) / sympy.log(10),
    "sqrt": sympy.sqrt,
    "abs": RealAbs,
}
CALLABLE = sorted([*FUNCTIONS, "sum"])
CONSTANTS = {"pi": sympy.pi, "e": sympy.E}
BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Div: operator.truediv, ast.Pow: operator.pow}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}

_TORCH_OPERATORS = {sympy.Add: operator.add, sympy.Mul: operator.mul, sympy.Pow: operator.pow}
_TORCH_FUNCTIONS = {f: getattr(torch, f.__name__) for f in _ELEMENTARY}
_TORCH_FUNCTIONS.update({RealAbs: torch.abs, RealSign: torch.sign})
_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Call,
            ast.Subscript, ast.Load, ast.operator, ast.unaryop)
_KINDS = {
    ast.Attribute: "attribute access", ast.Lambda: "lambda", ast.ListComp: "comprehension",
    ast.SetComp: "comprehension", ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension", ast.keyword: "keyword argument",
    ast.Starred: "starred argument", ast.Compare: "comparison", ast.BoolOp: "and/or",
    ast.IfExp: "if-else", ast.NamedExpr: "assignment", ast.JoinedStr: "f-string",
    ast.Slice: "slice", ast.List: "list", ast.Tuple: "tuple", ast.Dict: "dict", ast.Set: "set",
}
_NOT_REAL = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I)

Value = sympy.Expr | tuple  # a scalar, or the vector x (bare `x`) combined elementwise


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

    @_guard_recursion
    def value_function(self) -> Callable[[Tensor], Tensor]:
        """f as torch ops: x of shape (..., d) -> f(x) of shape (...)."""
        return to_torch(self.expr, self.symbols)

    @_guard_recursion
    def partial_functions(self) -> list[Callable[[Tensor], Tensor]]:
        """∂f/∂xᵢ as torch ops, differentiating only the terms of f that hold xᵢ.

        For f = Σᵢ g(xᵢ) that is O(d) derivatives of one term each, where sympy.diff of
        the whole f per coordinate would be O(d²) work.
        """
        terms: dict[sympy.Symbol, list[sympy.Expr]] = {s: [] for s in self.symbols}
        for term in sympy.Add.make_args(self.expr):
            for symbol in term.free_symbols:
                terms[symbol].append(term)
        return [to_torch(sympy.diff(sympy.Add(*terms[s]), s), self.symbols) for s in self.symbols]


@_guard_recursion
def parse(text: str, *, variables: Sequence[str] | None = None, size: int = 0) -> Formula:
    """Check `text` and build its SymPy expression.

    Named style ("2*a**2 + 3*b**3"): the coordinates are the free names in order of first
    appearance, or `variables` in its order. Indexed style (any `x[i]` or `sum`): the
    coordinates are x[0] … x[d−1] with d = max(largest index + 1, size); a bare `x` is the
    whole vector, combined elementwise, and `sum(...)` adds a vector up.
    """
    if not isinstance(text, str):
        raise ObjectiveError(f"objective.expr must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ObjectiveError(
            f"objective.expr has {len(text)} characters; the limit is {MAX_LENGTH}"
        )
    text = " ".join(text.split())  # YAML block strings may span lines
    tree = _syntax_tree(text)
    symbols, names = _coordinates(tree, variables, int(size))
    expr = _Builder(text, {**CONSTANTS, **names}).build(tree.body)
    if not isinstance(expr, sympy.Expr):
        raise ObjectiveError(f"objective.expr: '{_clip(text)}' is a vector; wrap it in sum(...)")
    if not expr.free_symbols:
        raise ObjectiveError(f"objective.expr: '{_clip(text)}' does not depend on any variable")
    return Formula(text, expr, symbols)


def to_torch(expr: sympy.Expr, symbols: Sequence[sympy.Symbol]) -> Callable[[Tensor], Tensor]:
    """Compile a SymPy expression into torch ops: x of shape (..., d) -> f(x) of shape (...)."""
    f = _compile(expr, {s: i for i, s in enumerate(symbols)})
    if expr.free_symbols:
        return f
    return lambda x: torch.zeros_like(x[..., 0]) + f(x)  # a constant takes x's batch shape


def _syntax_tree(text: str) -> ast.Expression:
    if not text:
        raise ObjectiveError("objective.expr is empty")
    depth = deepest = 0
    for char in text:
        depth += (char in "([{") - (char in ")]}")
        deepest = max(deepest, depth)
    if deepest > MAX_NESTING:
        raise ObjectiveError(
            f"objective.expr nests brackets {deepest} deep; the limit is {MAX_NESTING}"
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        message = f"objective.expr: invalid syntax at column {err.offset}: {err.msg}"
        raise ObjectiveError(message) from None
    stack, count = [(tree, 0, 0)], 0
    while stack:
        node, depth, nesting = stack.pop()
        count += 1
        nesting += isinstance(node, ast.Call) or isinstance(getattr(node, "op", None), ast.Pow)
        if nesting > MAX_NESTING:
            raise ObjectiveError(f"objective.expr nests calls and powers over {MAX_NESTING} deep")
        if depth > MAX_DEPTH or count > MAX_NODES:
            raise ObjectiveError(f"objective.expr is too complex (over {MAX_NODES} syntax nodes "
                                 f"or {MAX_DEPTH} levels deep)")
        _check_node(node, text)
        children = reversed(list(ast.iter_child_nodes(node)))  # visit in source order
        stack.extend((child, depth + 1, nesting) for child in children)
    return tree


def _check_node(node: ast.AST, text: str) -> None:
    """Reject anything but arithmetic on numbers, names, x[<int>] and whitelisted calls."""
    if not isinstance(node, _ALLOWED):
        raise _not_allowed(node, text, _KINDS.get(type(node), type(node).__name__))
    if isinstance(node, ast.BinOp) and type(node.op) not in BINARY:
        hint = "; use ** for powers" if isinstance(node.op, ast.BitXor) else ""
        raise _not_allowed(node, text, f"operator {type(node.op).__name__}", hint)
    if isinstance(node, ast.UnaryOp) and type(node.op) not in UNARY:
        raise _not_allowed(node, text, f"operator {type(node.op).__name__}")
    if isinstance(node, ast.Constant) and not _is_real_number(node.value):
        raise _not_allowed(node, text, "constant", "; numbers must be finite reals")
    if isinstance(node, ast.Name) and node.id.startswith("_"):
        raise _not_allowed(node, text, "name")
    if isinstance(node, ast.Subscript):
        if not (isinstance(node.value, ast.Name) and node.value.id == "x"):
            raise _not_allowed(node, text, "indexing", "; only x can be indexed")
        index = node.slice.value if isinstance(node.slice, ast.Constant) else None
        if type(index) is not int or not 0 <= index < MAX_DIM:
            raise _not_allowed(node, text, "index", f"; write x[i] with i from 0 to {MAX_DIM - 1}")
    if isinstance(node, ast.Call):
        func = node.func
        if not isinstance(func, ast.Name):
            if isinstance(func, _ALLOWED):  # otherwise func is rejected when visited
                raise _not_allowed(node, text, "call")
        elif func.id not in CALLABLE:
            raise ObjectiveError(f"objective.expr: function {func.id}() is not allowed; "
                                 f"use {', '.join(CALLABLE)}")
        elif node.keywords:
            raise _not_allowed(node.keywords[0], text, "keyword argument")
        elif len(node.args) != 1:
            raise ObjectiveError(
                f"objective.expr: {func.id}() takes 1 argument, got {len(node.args)}"
            )


def _is_real_number(value) -> bool:
    try:
        return type(value) in (int, float) and math.isfinite(value)
    except OverflowError:  # an int literal beyond the float range
        return False


def _not_allowed(node: ast.AST, text: str, kind: str, hint: str = "") -> ObjectiveError:
    source = ast.get_source_segment(text, node) or ast.unparse(node)
    return ObjectiveError(f"objective.expr: {kind} ({_clip(source)}) is not allowed{hint}")


def _clip(source: str, limit: int = 40) -> str:
    return source if len(source) <= limit else source[: limit - 3] + "..."


def _coordinates(tree: ast.Expression, variables: Sequence[str] | None,
                 size: int) -> tuple[tuple[sympy.Symbol, ...], dict[str, Value]]:
    """The coordinate symbols, and what each name in the formula stands for."""
    nodes = list(ast.walk(tree))
    calls = {id(n.func): n.func.id for n in nodes if isinstance(n, ast.Call)}
    used = sorted((n for n in nodes if isinstance(n, ast.Name) and id(n) not in calls),
                  key=lambda n: n.col_offset)
    free = [name for name in dict.fromkeys(n.id for n in used) if name not in CONSTANTS]
    for name in free:
        if name in CALLABLE:
            raise ObjectiveError(f"objective.expr: {name} is a function; call it as {name}(...)")
    indices = [n.slice.value for n in nodes if isinstance(n, ast.Subscript)]
    if not indices and "sum" not in calls.values():
        order = free if variables is None else _check_variables(variables, free)
        symbols = tuple(sympy.Symbol(name) for name in order)
        return symbols, dict(zip(order, symbols))
    if named := [name for name in free if name != "x"]:
        raise ObjectiveError(f"objective.expr mixes the vector x (x[i], sum) with named "
                             f"variables ({', '.join(named)}); use one style")
    if variables is not None:
        raise ObjectiveError("objective.variables is for named variables; this formula indexes x")
    dim = max([i + 1 for i in indices] + [size])
    if dim == 0:
        raise ObjectiveError("objective.expr: the length of x is unknown; give x0 or dim")
    if dim > MAX_DIM:
        raise ObjectiveError(f"objective.expr: x has {dim} entries; the limit is {MAX_DIM}")
    symbols = tuple(sympy.Symbol(f"x[{i}]") for i in range(dim))
    return symbols, {"x": symbols}


def _check_variables(variables: Sequence[str], free: list[str]) -> list[str]:
    order = list(variables) if not isinstance(variables, str) else [variables]
    for name in order:
        if not (isinstance(name, str) and name.isidentifier() and not name.startswith("_")) \
                or name in CALLABLE or name in CONSTANTS:
            raise ObjectiveError(f"objective.variables: '{name}' is not a usable variable name")
    if len(set(order)) != len(order):
        raise ObjectiveError(f"objective.variables lists a name twice: {order}")
    if missing := [name for name in free if name not in order]:
        raise ObjectiveError(f"objective.expr uses {', '.join(missing)}, which "
                             f"objective.variables ({', '.join(order)}) does not list")
    return order


class _Builder:
    """Build the SymPy expression of a checked tree, node by node."""

    def __init__(self, text: str, names: dict[str, Value]) -> None:
        self.text, self.names = text, names

    def build(self, node: ast.AST) -> Value:
        if isinstance(node, ast.Constant):
            return sympy.Float(node.value)
        if isinstance(node, ast.Name):
            return self.names[node.id]
        if isinstance(node, ast.Subscript):
            return self.names["x"][node.slice.value]
        if isinstance(node, ast.UnaryOp):
            return self.apply(node, UNARY[type(node.op)], self.build(node.operand))
        if isinstance(node, ast.BinOp):
            left, right = self.build(node.left), self.build(node.right)
            return self.apply(node, BINARY[type(node.op)], left, right)
        arg = self.build(node.args[0])  # a call, checked by _check_node
        if node.func.id == "sum":
            return sympy.Add(*arg) if isinstance(arg, tuple) else arg
        return self.apply(node, FUNCTIONS[node.func.id], arg)

    def apply(self, node: ast.AST, fn: Callable, *args: Value) -> Value:
        """fn(*args), elementwise where an argument is a vector; each result checked."""
        size = max((len(a) for a in args if isinstance(a, tuple)), default=0)
        if not size:
            return self.checked(node, fn, args)
        columns = zip(*(a if isinstance(a, tuple) else (a,) * size for a in args))
        return tuple(self.checked(node, fn, column) for column in columns)

    def checked(self, node: ast.AST, fn: Callable, args) -> sympy.Expr:
        try:
            value = fn(*args)
        except ZeroDivisionError:
            raise self.error(node, "divides by zero") from None
        except OverflowError:
            raise self.error(node, "overflows") from None
        if value.has(*_NOT_REAL) or (value.is_number and not math.isfinite(_real(value))):
            raise self.error(node, "is not a finite real number")
        return value

    def error(self, node: ast.AST, problem: str) -> ObjectiveError:
        source = _clip(ast.get_source_segment(self.text, node))
        return ObjectiveError(f"objective.expr: {source} {problem}")


def _real(expr: sympy.Expr) -> float:
    """The value of a constant SymPy expression: inf past the float range, nan if not real."""
    try:
        z = complex(expr)
    except (TypeError, ValueError, OverflowError):
        return math.nan
    return math.nan if z.imag else z.real


def _compile(expr: sympy.Expr, index: dict[sympy.Symbol, int]) -> Callable:
    if expr in index:
        i = index[expr]
        return lambda x: x[..., i]
    if expr.is_number:
        c = _real(expr)
        return lambda x: c
    if isinstance(expr, sympy.Pow) and (n := _small_integer(expr.exp)) is not None:
        base = _compile(expr.base, index)
        return lambda x: _integer_power(base(x), n)
    parts = [_compile(arg, index) for arg in expr.args]
    if (op := _TORCH_OPERATORS.get(expr.func)) is not None:
        return lambda x: functools.reduce(op, [part(x) for part in parts])
    if (fn := _TORCH_FUNCTIONS.get(expr.func)) is not None and len(parts) == 1:
        (part,) = parts
        return lambda x: fn(part(x))
    raise ObjectiveError(f"objective.expr: cannot compile {expr.func.__name__} to torch")


def _small_integer(exponent: sympy.Expr) -> int | None:
    if not exponent.is_Number:
        return None
    value = float(exponent)
    return int(value) if value.is_integer() and abs(value) <= MAX_INTEGER_POWER else None


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
