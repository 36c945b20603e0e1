"""Partial derivatives of a formula's SymPy expression, exact wherever it is differentiable."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import sympy

from objectives.base import ObjectiveError


def gradient(expr: sympy.Expr, symbols: Sequence[sympy.Symbol]) -> list[sympy.Expr]:
    """[∂expr/∂s for s in symbols] by the chain rule.

    (u + v)′ = u′ + v′,  (u₁⋯uₖ)′ = Σⱼ uⱼ′ ∏_{i≠j} uᵢ,
    (uᶜ)′ = c·uᶜ⁻¹·u′ for constant c,  (cᵛ)′ = cᵛ·log(c)·v′,  (uᵛ)′ = uᵛ·(v′ log u + v u′/u),
    f(u₁, …)′ = Σⱼ ∂ⱼf(u₁, …)·uⱼ′ (SymPy's `fdiff`), and a piecewise function's derivative
    is the derivative of each piece under the same condition.

    SymPy's own `diff` writes (uᶜ)′ as c·uᶜ·u′/u: at u = 0 that is 0·∞ = NaN although the
    derivative exists, as for (x·y)^1.5 at x = 0; the power rule above has no division.
    Each partial visits only the subexpressions that hold its symbol, and a product's rule
    is applied by halves, (LR)′ = L′R + LR′, with the halves' products shared by all
    partials: for a product of k factors that is O(k) nodes in all, where Σⱼ uⱼ′ ∏_{i≠j} uᵢ
    for every coordinate would be O(k²) (minutes, for a product of a thousand factors).
    """
    shared = _Shared()
    return [_Derivative(s, shared)(expr) for s in symbols]


class _Shared:
    """What the partials of one expression share: free symbols and products of factors."""

    def __init__(self) -> None:
        self.free: dict[sympy.Basic, frozenset] = {}
        self.products: dict[tuple[sympy.Basic, int, int], sympy.Expr] = {}

    def symbols(self, expr: sympy.Basic) -> frozenset:
        if expr.is_Symbol:
            return frozenset((expr,))
        if expr.is_Atom:
            return frozenset()
        if expr not in self.free:
            self.free[expr] = frozenset().union(*map(self.symbols, expr.args))
        return self.free[expr]

    def product(self, mul: sympy.Expr, lo: int, hi: int) -> sympy.Expr:
        """mul.args[lo] ⋯ mul.args[hi − 1], halved as `_Derivative.product_rule` halves."""
        if hi - lo == 1:
            return mul.args[lo]
        key = (mul, lo, hi)
        if key not in self.products:
            mid = (lo + hi) // 2
            self.products[key] = _product(self.product(mul, lo, mid), self.product(mul, mid, hi))
        return self.products[key]


class _Derivative:
    """∂/∂symbol, each subexpression differentiated once."""

    def __init__(self, symbol: sympy.Symbol, shared: _Shared) -> None:
        self.symbol, self.shared = symbol, shared
        self.memo: dict[sympy.Basic, sympy.Expr] = {}

    def __call__(self, expr: sympy.Expr) -> sympy.Expr:
        if expr == self.symbol:
            return sympy.S.One
        if expr.is_Atom or self.symbol not in self.shared.symbols(expr):
            return sympy.S.Zero
        if expr not in self.memo:
            self.memo[expr] = self.rule(expr)
        return self.memo[expr]

    def rule(self, expr: sympy.Expr) -> sympy.Expr:
        if expr.is_Add:
            return _sum(self(term) for term in expr.args)
        if expr.is_Mul:
            holds = [self.symbol in self.shared.symbols(f) for f in expr.args]
            return self.product_rule(expr, 0, len(expr.args), [0, *itertools.accumulate(holds)])
        if expr.is_Pow:
            u, c = expr.args
            du, dc = self(u), self(c)
            if _zero(dc):
                return _product(c, sympy.Pow(u, c - 1, evaluate=False), du)
            log_u = sympy.log(u, evaluate=False)
            if _zero(du):
                return _product(expr, log_u, dc)
            return _product(expr, _sum([_product(dc, log_u), _product(c, du, sympy.Pow(u, -1))]))
        if isinstance(expr, sympy.Piecewise):
            pieces = [(self(piece), cond) for piece, cond in expr.args]
            return sympy.Piecewise(*pieces, evaluate=False)
        if isinstance(expr, sympy.Function):
            return _sum(_product(expr.fdiff(j + 1), du)
                        for j, du in enumerate(map(self, expr.args)))
        raise ObjectiveError(f"objective.expr: cannot differentiate {type(expr).__name__}")

    def product_rule(self, mul: sympy.Expr, lo: int, hi: int, counts: list[int]) -> sympy.Expr:
        """(u_lo ⋯ u_hi−1)′ = L′R + LR′ over halves; 0 where no factor holds the symbol
        (counts[j] is how many of the first j factors do)."""
        if counts[hi] == counts[lo]:
            return sympy.S.Zero
        if hi - lo == 1:
            return self(mul.args[lo])
        mid = (lo + hi) // 2
        left = _product(self.product_rule(mul, lo, mid, counts), self.shared.product(mul, mid, hi))
        right = _product(self.shared.product(mul, lo, mid), self.product_rule(mul, mid, hi, counts))
        return _sum([left, right])


def _sum(terms) -> sympy.Expr:
    """Σ terms without SymPy's simplification (its assumption queries cost ~1 ms a node)."""
    terms = [t for t in terms if not _zero(t)]
    if len(terms) < 2:
        return terms[0] if terms else sympy.S.Zero
    return sympy.Add(*terms, evaluate=False)


def _product(*factors: sympy.Expr) -> sympy.Expr:
    """∏ factors, 0 if one is 0, without SymPy's simplification."""
    if any(_zero(f) for f in factors):
        return sympy.S.Zero
    factors = [f for f in factors if f is not sympy.S.One]
    if len(factors) < 2:
        return factors[0] if factors else sympy.S.One
    return sympy.Mul(*factors, evaluate=False)


def _zero(expr: sympy.Expr) -> bool:
    return expr.is_Number and expr.is_zero
