"""The SymPy expression of a checked formula tree, built node by node (never sympified).

Numbers are SymPy Floats (53-bit, like float64), so SymPy never does exact big-number
arithmetic, which `9**9**9**9` or a sum of 10⁴ fractions would turn into a hang; the one
exception is an integral exponent, which becomes a SymPy Integer: then SymPy expands
(x·y)² to x²·y² and (−x)² to x², and derivatives are products, not quotients (see
`objectives.derivative`). Every constant subexpression must be a finite real number.

Loops `sum(f(i) for i in range(a, b))` and `prod(...)` are expanded term by term, with
their length checked before they start, so that a formula builds at most `MAX_NODES` nodes
however its loops are written.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping, Sequence

import sympy

from objectives.base import ObjectiveError
from objectives.functions import FUNCTIONS, real_value
from objectives.grammar import MAX_DIM, MAX_NODES, clip

MAX_EXPONENT = 2**53  # integral exponents up to this become exact Integers
MAX_INDEX = 2**62  # index arithmetic stays within this

Value = sympy.Expr | tuple  # a scalar, or a vector (x, a data vector) combined elementwise
_RELATIONS = {ast.Lt: sympy.Lt, ast.LtE: sympy.Le, ast.Gt: sympy.Gt, ast.GtE: sympy.Ge,
              ast.Eq: sympy.Eq, ast.NotEq: sympy.Ne}
_INDEX_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}


class IndexedX:
    """The vector x of the indexed style: entries made on use, the largest index noted."""

    def __init__(self, length: int) -> None:
        self.length, self.largest, self.whole_used = length, -1, False

    def entry(self, i: int) -> sympy.Symbol:
        self.largest = max(self.largest, i)
        return sympy.Symbol(f"x[{i}]")

    def whole(self) -> tuple[sympy.Symbol, ...]:
        if not self.length:
            raise ObjectiveError("objective.expr: the length of x is unknown; give x0 or dim")
        self.whole_used = True
        return tuple(self.entry(i) for i in range(self.length))


class Builder:
    """Build the SymPy expression of a tree checked by `objectives.grammar.syntax_tree`.

    `scalars` are what plain names stand for (coordinates of the named style, constants,
    pi, e); `integers` the int constants, usable in indices; `vectors` the data vectors;
    `x` the vector of the indexed style.
    """

    def __init__(self, text: str, *, scalars: Mapping[str, sympy.Expr],
                 integers: Mapping[str, int], vectors: Mapping[str, Sequence[float]],
                 x: IndexedX | None) -> None:
        self.text, self.scalars, self.integers, self.vectors, self.x = (
            text, scalars, integers, vectors, x)
        self.loop: dict[str, int] = {}
        self.nodes = 0

    # ---- values
    def value(self, node: ast.AST) -> Value:
        self.spend(node, 1)
        if isinstance(node, ast.Constant):
            return sympy.Float(node.value)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Subscript):
            return self.entry(node)
        if isinstance(node, ast.UnaryOp):
            fn = operator.neg if isinstance(node.op, ast.USub) else operator.pos
            return self.apply(node, fn, self.value(node.operand))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            return self.apply(node, self.power, self.value(node.left), self.value(node.right))
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.FloorDiv, ast.Mod)):
            return self.whole_division(node)
        if isinstance(node, ast.BinOp):
            return self.chain(node)
        name = node.func.id  # a call, checked by the grammar
        if name in ("sum", "prod"):
            return self.reduce(node, sympy.Add if name == "sum" else sympy.Mul)
        if name == "where":
            return self.where(node)
        return self.apply(node, FUNCTIONS[name], *(self.value(arg) for arg in node.args))

    def name(self, node: ast.Name) -> Value:
        name = node.id
        if name in self.loop:
            return sympy.Float(self.loop[name])
        if name in self.scalars:
            return self.scalars[name]
        if name in self.vectors:
            self.spend(node, len(self.vectors[name]))
            return tuple(sympy.Float(v) for v in self.vectors[name])
        if name == "x" and self.x is not None:
            self.spend(node, self.x.length)
            return self.x.whole()
        raise ObjectiveError(f"objective.expr: {name} is used outside the loop that defines it")

    def entry(self, node: ast.Subscript) -> sympy.Expr:
        name, i = node.value.id, self.index(node.slice)
        if name == "x" and self.x is not None:
            if not 0 <= i < MAX_DIM:
                source = clip(ast.get_source_segment(self.text, node) or "x")
                raise ObjectiveError(f"objective.expr: index ({source}) is not allowed; x[i] "
                                     f"needs i from 0 to {MAX_DIM - 1}, here i = {i}")
            return self.x.entry(i)
        data = self.vectors[name]
        if not 0 <= i < len(data):
            raise self.error(node, f"is out of range: objective.data.{name} has {len(data)} "
                                   f"entries, {name}[0] to {name}[{len(data) - 1}]")
        return sympy.Float(data[i])

    def chain(self, node: ast.BinOp) -> Value:
        """a + b − c …, or a * b / c …, built as one SymPy Add or Mul (no deep recursion)."""
        additive = isinstance(node.op, (ast.Add, ast.Sub))
        group = (ast.Add, ast.Sub) if additive else (ast.Mult, ast.Div)
        links = []
        while isinstance(node, ast.BinOp) and isinstance(node.op, group):
            links.append(node)
            node = node.left
        top, operands = links[0], [self.value(node)]
        for link in reversed(links):
            right = self.value(link.right)
            if isinstance(link.op, ast.Sub):
                right = self.apply(link, operator.neg, right)
            elif isinstance(link.op, ast.Div):
                right = self.apply(link, self.reciprocal, right)
            operands.append(right)
        return self.apply(top, sympy.Add if additive else sympy.Mul, *operands)

    def whole_division(self, node: ast.BinOp) -> sympy.Expr:
        """a // b and a % b, of numbers only (as in where(i % 2 == 0, ...)): not differentiable."""
        a, b = self.scalar(node.left), self.scalar(node.right)
        if not (a.is_number and b.is_number):
            raise self.error(node, "takes numbers only: // and % are for loop variables")
        a, b = real_value(a), real_value(b)
        if b == 0:
            raise self.error(node, "divides by zero")
        return sympy.Float(a // b if isinstance(node.op, ast.FloorDiv) else a % b)

    def reciprocal(self, u: sympy.Expr) -> sympy.Expr:
        if u.is_number and u.is_zero:
            raise ZeroDivisionError
        return sympy.Pow(u, -1)

    @staticmethod
    def power(base: sympy.Expr, exponent: sympy.Expr) -> sympy.Expr:
        if exponent.is_Float:
            n = float(exponent)
            if math.isfinite(n) and n.is_integer() and abs(n) <= MAX_EXPONENT:
                exponent = sympy.Integer(int(n))
        return sympy.Pow(base, exponent)

    # ---- conditions, loops
    def where(self, node: ast.Call) -> sympy.Expr:
        """where(c, a, b): a constant condition picks its branch before the other is built."""
        cond = self.condition(node.args[0])
        if cond in (sympy.true, sympy.false):
            return self.scalar(node.args[1] if cond is sympy.true else node.args[2])
        a, b = self.scalar(node.args[1]), self.scalar(node.args[2])
        return a if a == b else sympy.Piecewise((a, cond), (b, True), evaluate=False)

    def condition(self, node: ast.AST) -> sympy.Basic:
        self.spend(node, 1)
        if isinstance(node, ast.Compare):
            sides = [self.scalar(node.left), *(self.scalar(c) for c in node.comparators)]
            links = [_relation(op, a, b) for op, a, b in zip(node.ops, sides, sides[1:])]
            return sympy.And(*links)
        if isinstance(node, ast.BoolOp):
            join = sympy.And if isinstance(node.op, ast.And) else sympy.Or
            return join(*(self.condition(v) for v in node.values))
        return sympy.Not(self.condition(node.operand))

    def reduce(self, node: ast.Call, combine: Callable[..., sympy.Expr]) -> Value:
        arg = node.args[0]
        if not isinstance(arg, ast.GeneratorExp):
            vector = self.value(arg)
            terms = vector if isinstance(vector, tuple) else (vector,)
            return self.apply(node, combine, *terms)
        terms: list[sympy.Expr] = []
        self.expand(arg, 0, terms)
        return self.apply(node, combine, *terms)

    def expand(self, gen: ast.GeneratorExp, level: int, terms: list) -> None:
        if level == len(gen.generators):
            terms.append(self.scalar(gen.elt))
            return
        comp = gen.generators[level]
        name = comp.target.id
        if name in self.loop or name in self.scalars or name in self.vectors or name == "x":
            raise self.error(comp.target, "cannot be a loop variable: the name is taken")
        try:
            steps = range(*(self.index(arg) for arg in comp.iter.args))
        except ValueError:
            raise self.error(comp.iter, "has a step of 0") from None
        if self.nodes + len(steps) > MAX_NODES:  # each step builds a node at least
            raise self.error(comp.iter, f"has {len(steps)} steps; expanded, the formula would "
                                        f"pass {MAX_NODES} nodes")
        for i in steps:
            self.loop[name] = i
            self.expand(gen, level + 1, terms)
        self.loop.pop(name, None)

    def index(self, node: ast.AST) -> int:
        """A whole-number index: int literals, loop variables and int constants."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.loop:
                return self.loop[node.id]
            if node.id in self.integers:
                return self.integers[node.id]
            raise self.error(node, "is not a whole number; indices use loop variables and int "
                                   "constants")
        if isinstance(node, ast.UnaryOp):
            value = self.index(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        a, b = self.index(node.left), self.index(node.right)
        if isinstance(node.op, (ast.FloorDiv, ast.Mod)) and b == 0:
            raise self.error(node, "divides by zero")
        if isinstance(node.op, ast.Pow) and (b < 0 or (abs(a) > 1 and b > 64)):
            raise self.error(node, "is not a whole number in range")
        value = _INDEX_OPS[type(node.op)](a, b)
        if abs(value) > MAX_INDEX:
            raise self.error(node, "is too large for an index")
        return value

    # ---- checks
    def scalar(self, node: ast.AST) -> sympy.Expr:
        value = self.value(node)
        if isinstance(value, tuple):
            raise self.error(node, "is a vector where a number is needed")
        return value

    def apply(self, node: ast.AST, fn: Callable, *args: Value) -> Value:
        """fn(*args), elementwise where an argument is a vector; each result checked."""
        sizes = {len(a) for a in args if isinstance(a, tuple)}
        if not sizes:
            return self.checked(node, fn, args)
        if len(sizes) > 1:
            raise self.error(node, f"combines vectors of lengths {sorted(sizes)}")
        (size,) = sizes
        columns = zip(*(a if isinstance(a, tuple) else (a,) * size for a in args))
        return tuple(self.checked(node, fn, column) for column in columns)

    def checked(self, node: ast.AST, fn: Callable, args) -> sympy.Expr:
        try:
            value = fn(*args)
        except ZeroDivisionError:
            raise self.error(node, "divides by zero") from None
        except OverflowError:
            raise self.error(node, "overflows") from None
        if value.is_number:  # constants fold to finite Floats; symbolic results keep them
            number = real_value(value)
            if not math.isfinite(number):
                raise self.error(node, "is not a finite real number")
            if not (value.is_Float or value.is_Integer):
                value = sympy.Float(number)
        return value

    def spend(self, node: ast.AST, nodes: int) -> None:
        self.nodes += nodes
        if self.nodes > MAX_NODES:
            raise self.error(node, f"takes the formula past {MAX_NODES} nodes once its loops are "
                                   "expanded")

    def error(self, node: ast.AST, problem: str) -> ObjectiveError:
        source = clip(ast.get_source_segment(self.text, node) or "")
        return ObjectiveError(f"objective.expr: {source} {problem}")


def _relation(op: ast.cmpop, a: sympy.Expr, b: sympy.Expr) -> sympy.Basic:
    """a < b etc.: decided when both are numbers, else kept as is (SymPy would rewrite a
    comparison of piecewise functions into an ITE)."""
    relation = _RELATIONS[type(op)]
    return relation(a, b) if a.is_number and b.is_number else relation(a, b, evaluate=False)
