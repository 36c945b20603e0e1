"""The formula grammar: a whitelist over Python's `ast`, checked before anything is built.

A formula is one Python expression. Three kinds of subexpression are told apart by where
they stand, and each has its own whitelist:

- values: finite int and float numbers, + − * / ** (binary and unary), // and % (of
  numbers only), parentheses, names, `v[<index>]` for the vector x and the data vectors,
  and calls of `CALLS` with their number of positional arguments; `sum(...)` and
  `prod(...)` take a vector or a generator `expr for i in range(...) [for j in ...]` (no
  `if`), and only they take one;
- conditions, only as the first argument of `where(cond, a, b)`: comparisons of values
  (< <= > >= == !=, chained), joined by `and`, `or`, `not`;
- indices, in subscripts and `range(...)` arguments: whole-number arithmetic (+ − * // % **)
  on int literals, loop variables and int constants.

Everything else (attributes, lambdas, other comprehensions, keywords, strings, ...) is
rejected with a message naming it. Sizes are bounded before parsing (characters, bracket
nesting) and after (syntax nodes, nesting of calls and powers, depth), so the parser and
the recursive builder stay within fixed time, memory and stack.
"""

from __future__ import annotations

import ast
import math

from objectives.base import ObjectiveError

MAX_LENGTH = 100_000  # characters: a backstop for the parser; MAX_NODES is the real limit
MAX_NESTING = 50  # brackets (before parsing), calls and powers: parser and SymPy recurse on them
MAX_DEPTH = 200  # syntax nesting, chains of + − and of * / counted once: the builder recurses
MAX_NODES = 20_000  # syntax nodes, and nodes built once sums and products are expanded
MAX_DIM = 1000  # the gradient is one SymPy derivative per coordinate

ELEMENTARY = ("exp", "log", "log2", "log10", "sqrt", "abs", "sin", "cos", "tan", "sinh",
              "cosh", "tanh", "asin", "acos", "atan", "arcsin", "arccos", "arctan")
CALLS = {**dict.fromkeys(ELEMENTARY, 1), "atan2": 2, "where": 3, "sum": 1, "prod": 1}
REDUCTIONS = ("sum", "prod")
CONSTANTS = ("pi", "e")
RESERVED = (*CALLS, *CONSTANTS, "range")  # names no variable, constant or data vector can take

BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.FloorDiv, ast.Mod)
INDEX_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.Pow)
SIGNS = (ast.USub, ast.UAdd)
COMPARISONS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
_KINDS = {
    ast.Attribute: "attribute access", ast.Lambda: "lambda", ast.ListComp: "comprehension",
    ast.SetComp: "comprehension", ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension", ast.keyword: "keyword argument",
    ast.Starred: "starred argument", ast.Compare: "comparison", ast.BoolOp: "and/or",
    ast.IfExp: "if-else", ast.NamedExpr: "assignment", ast.JoinedStr: "f-string",
    ast.Slice: "slice", ast.List: "list", ast.Tuple: "tuple", ast.Dict: "dict", ast.Set: "set",
}
VALUE, CONDITION, INDEX = "value", "condition", "index"


def syntax_tree(text: str, vectors: tuple[str, ...] = ("x",)) -> ast.Expression:
    """Parse `text` and check every node against the whitelist of its kind.

    `vectors` are the names that may be indexed: x and the data vectors.
    """
    if len(text) > MAX_LENGTH:
        raise ObjectiveError(f"objective.expr has {len(text)} characters; the limit is {MAX_LENGTH}")
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
        raise ObjectiveError(f"objective.expr: invalid syntax at column {err.offset}: "
                             f"{err.msg}") from None
    _Checker(text, vectors).check(tree)
    return tree


class _Checker:
    """Visit the tree without recursion, knowing each node's kind (value, condition, index)."""

    def __init__(self, text: str, vectors: tuple[str, ...]) -> None:
        self.text, self.vectors = text, vectors

    def check(self, tree: ast.Expression) -> None:
        stack, count = [(tree.body, VALUE, 0, 0)], 1
        while stack:
            node, kind, depth, nesting = stack.pop()
            count += 1
            nesting += isinstance(node, ast.Call) or isinstance(getattr(node, "op", None), ast.Pow)
            if nesting > MAX_NESTING:
                raise ObjectiveError(f"objective.expr nests calls and powers over {MAX_NESTING} "
                                     "deep")
            if depth > MAX_DEPTH or count > MAX_NODES:
                raise ObjectiveError(f"objective.expr is too complex (over {MAX_NODES} syntax "
                                     f"nodes or {MAX_DEPTH} levels deep)")
            children = getattr(self, kind)(node)
            for child, child_kind in reversed(children):  # visit in source order
                chained = _same_chain(node, child)
                stack.append((child, child_kind, depth + (not chained), nesting))

    def value(self, node: ast.AST) -> list[tuple[ast.AST, str]]:
        if isinstance(node, ast.Constant):
            if not _is_real_number(node.value):
                raise self.error(node, "constant", "; numbers must be finite reals")
            return []
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, BINARY):
            return [(node.left, VALUE), (node.right, VALUE)]
        if isinstance(node, ast.BinOp):
            hint = "; use ** for powers" if isinstance(node.op, ast.BitXor) else ""
            raise self.error(node, f"operator {type(node.op).__name__}", hint)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, SIGNS):
            return [(node.operand, VALUE)]
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, (ast.Compare, ast.BoolOp)) or _is_not(node):
            raise self.error(node, _KINDS.get(type(node), "not"),
                             "; conditions go in where(condition, a, b)")
        raise self.error(node, _KINDS.get(type(node), type(node).__name__))

    def condition(self, node: ast.AST) -> list[tuple[ast.AST, str]]:
        if isinstance(node, ast.Compare):
            if not all(isinstance(op, COMPARISONS) for op in node.ops):
                raise self.error(node, "comparison", "; use < <= > >= == !=")
            return [(node.left, VALUE), *((c, VALUE) for c in node.comparators)]
        if isinstance(node, ast.BoolOp):
            return [(v, CONDITION) for v in node.values]
        if _is_not(node):
            return [(node.operand, CONDITION)]
        raise self.error(node, "condition", "; where() needs a comparison such as x[0] > 0")

    def index(self, node: ast.AST) -> list[tuple[ast.AST, str]]:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return []
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, INDEX_BINARY):
            return [(node.left, INDEX), (node.right, INDEX)]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, SIGNS):
            return [(node.operand, INDEX)]
        raise self.error(node, "index", "; indices are whole numbers: int literals, loop "
                                        "variables and int constants with + - * // % **")

    def name(self, node: ast.Name) -> list:
        if node.id.startswith("_"):
            raise self.error(node, "name")
        if node.id in CALLS or node.id == "range":
            raise ObjectiveError(f"objective.expr: {node.id} is a function; call it as "
                                 f"{node.id}(...)")
        return []

    def subscript(self, node: ast.Subscript) -> list[tuple[ast.AST, str]]:
        if not (isinstance(node.value, ast.Name) and node.value.id in self.vectors):
            data = " and the data vectors" if len(self.vectors) > 1 else ""
            raise self.error(node, "indexing", f"; only x{data} can be indexed")
        if isinstance(node.slice, (ast.Slice, ast.Tuple)):
            raise self.error(node, "index", "; write v[i] with one whole-number index")
        return [(node.slice, INDEX)]

    def call(self, node: ast.Call) -> list[tuple[ast.AST, str]]:
        func = node.func
        if not isinstance(func, ast.Name):
            if isinstance(func, tuple(_KINDS)):
                return [(func, VALUE)]  # rejected when visited: attribute access, lambda, ...
            raise self.error(node, "call")
        if func.id not in CALLS:
            allowed = ", ".join(sorted(CALLS))
            raise ObjectiveError(f"objective.expr: function {func.id}() is not allowed; "
                                 f"use {allowed}")
        if node.keywords:
            raise self.error(node.keywords[0], "keyword argument")
        arity = CALLS[func.id]
        if len(node.args) != arity:
            plural = "" if arity == 1 else "s"
            raise ObjectiveError(f"objective.expr: {func.id}() takes {arity} argument{plural}, "
                                 f"got {len(node.args)}")
        if func.id in REDUCTIONS and isinstance(node.args[0], ast.GeneratorExp):
            return self.generator(node.args[0])
        if func.id == "where":
            return [(node.args[0], CONDITION), (node.args[1], VALUE), (node.args[2], VALUE)]
        return [(arg, VALUE) for arg in node.args]

    def generator(self, node: ast.GeneratorExp) -> list[tuple[ast.AST, str]]:
        children = []
        for comp in node.generators:
            if comp.ifs or comp.is_async:
                raise self.error(node, "comprehension", "; write sum(f(i) for i in range(...)) "
                                                        "without if")
            if not isinstance(comp.target, ast.Name) or comp.target.id.startswith("_"):
                raise self.error(comp.target, "loop variable", "; use a plain name such as i")
            it = comp.iter
            if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
                    and it.func.id == "range" and not it.keywords and 1 <= len(it.args) <= 3):
                raise self.error(it, "loop", "; loop over range(stop), range(start, stop) or "
                                             "range(start, stop, step)")
            children += [(arg, INDEX) for arg in it.args]
        return [*children, (node.elt, VALUE)]

    def error(self, node: ast.AST, kind: str, hint: str = "") -> ObjectiveError:
        source = ast.get_source_segment(self.text, node) or kind
        return ObjectiveError(f"objective.expr: {kind} ({clip(source)}) is not allowed{hint}")


def _same_chain(parent: ast.AST, child: ast.AST) -> bool:
    """Whether child continues parent's chain a + b − c or a * b / c (built as one node)."""
    groups = ((ast.Add, ast.Sub), (ast.Mult, ast.Div))
    if not (isinstance(parent, ast.BinOp) and isinstance(child, ast.BinOp)):
        return False
    if child is not parent.left:
        return False
    return any(isinstance(parent.op, g) and isinstance(child.op, g) for g in groups)


def _is_not(node: ast.AST) -> bool:
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)


def _is_real_number(value) -> bool:
    try:
        return type(value) in (int, float) and math.isfinite(value)
    except OverflowError:  # an int literal beyond the float range
        return False


def clip(source: str, limit: int = 40) -> str:
    """Shorten `source` for an error message."""
    return source if len(source) <= limit else source[: limit - 3] + "..."
