"""Quadratic forms f(x) = xᵀAx − bᵀx."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from objectives.base import (
    Objective,
    ObjectiveError,
    check_size,
    integer,
    numbers,
    seed_of,
    shown,
)

# what to do instead of a dense A too large to hold
DENSE_HINT = ("; use a smaller objective.dim, or a diagonal A (objective.diag, or dim alone "
              "for the identity), which is kept as a vector")


class Quadratic(Objective):
    """Minimize f(x) = xᵀAx − bᵀx with A symmetric positive (semi)definite.

    Gradient: ∇f(x) = 2Ax − b. Minimizer (A positive definite): x* = ½A⁻¹b, f* = −¼bᵀA⁻¹b.
    With b = 0 and A only semidefinite, f* = 0 and x* = 0 is one minimizer of many; then
    `minimizer` is None and only suboptimality is reported.

    A is given explicitly (`A` as a matrix, or `diag` as its diagonal; the default
    diag(4, 1) is the Flux demo's 4x₁² + x₂², the identity the PyTorch demo's x₁² + x₂²),
    or generated from `dim` and `cond`: A = Q diag(λ) Qᵀ with Q a seeded random orthogonal
    matrix and λ log-spaced from 1 to `cond`. A or cond override diag; dim alone gives I.
    A diagonal A is kept as its diagonal, so that a large one costs O(d), not O(d²); the
    values are those of the dense form to the last bit (xAx and Ax have one nonzero term
    per coordinate).
    """

    name = "quad"
    has_analytic_grad = True

    def __init__(
        self,
        A: Sequence[Sequence[float]] | None = None,
        *,
        diag: Sequence[float] | None = None,
        b: Sequence[float] | None = None,
        dim: int | None = None,
        cond: float | None = None,
        seed: int = 0,
        x0: Sequence[float] | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> None:
        A64, d64 = _matrix(A, diag, dim, cond, seed, dtype)
        super().__init__(A64.shape[0] if d64 is None else d64.numel(), x0=None, dtype=dtype,
                         device=device)
        if d64 is None:
            _check_symmetric(A64)
            eig_min = float(torch.linalg.eigvalsh(A64).min())
            scale = float(A64.abs().max()) or 1.0
        else:
            eig_min, scale = float(d64.min()), float(d64.abs().max()) or 1.0
        if eig_min < -1e-12 * scale:
            raise ObjectiveError(
                f"objective.{'A' if d64 is None else 'diag'}: A must be positive semidefinite, "
                f"but its smallest eigenvalue is {eig_min:.6g}"
            )
        b64 = torch.zeros(self.dim, dtype=torch.float64) if b is None else _vector(b, self.dim)
        positive_definite = eig_min > 1e-12 * scale
        if b64.abs().max() > 0 and not positive_definite:
            raise ObjectiveError(
                "objective.b needs A positive definite (otherwise f may be unbounded below); "
                f"its smallest eigenvalue is {eig_min:.6g}"
            )
        self.dense = None if A64 is None else self.tensor(A64)
        self.diagonal = None if d64 is None else self.tensor(d64)
        self.b = self.tensor(b64)
        self.has_linear_term = bool(b64.abs().max() > 0)
        self.x0 = None if x0 is None else self.point(x0, "x0")
        self.minimum, self.condition_number = 0.0, float("inf")
        if positive_definite and A64 is None:  # a diagonal solve is a division
            x_star = 0.5 * (b64 / d64)
            self.condition_number = float(d64.max() / d64.min())
        elif positive_definite:
            x_star = 0.5 * torch.linalg.solve(A64, b64)
            self.condition_number = float(torch.linalg.cond(A64))
        if positive_definite:
            self.minimizer = self.tensor(x_star)
            self.minimum = float(-0.5 * b64 @ x_star)

    @property
    def A(self) -> Tensor:
        """A as a dense matrix (made on demand for a diagonal A)."""
        return self.dense if self.dense is not None else torch.diag(self.diagonal)

    def value(self, x: Tensor) -> Tensor:
        if self.diagonal is not None:
            d = self.diagonal.to(x.dtype) if x.is_complex() else self.diagonal
            quadratic = ((x * d) * x).sum(-1)
        else:
            A = self.dense.to(x.dtype) if x.is_complex() else self.dense
            quadratic = ((x @ A) * x).sum(-1)
        return quadratic - (self.b * x).sum(-1) if self.has_linear_term else quadratic

    def grad(self, x: Tensor) -> Tensor:
        Ax = x * self.diagonal if self.diagonal is not None else x @ self.dense.T
        return 2 * Ax - self.b


def _vector(values, dim: int) -> Tensor:
    v = numbers(values, "objective.b", 1)
    if v.shape != (dim,):
        raise ObjectiveError(f"objective.b has {v.numel()} value(s) but A is {dim}×{dim}")
    return v


def _matrix(A, diag, dim, cond, seed, dtype) -> tuple[Tensor | None, Tensor | None]:
    """(A, None) for a dense A, (None, its diagonal) for a diagonal one: from the most specific
    form given, A or cond (with dim) over diag over dim (identity)."""
    if A is not None and cond is not None:
        raise ObjectiveError("objective: give either objective.A or objective.cond, not both")
    if A is not None:
        M = numbers(A, "objective.A", 2)
        if M.shape[0] != M.shape[1] or M.shape[0] == 0:
            raise ObjectiveError(f"objective.A must be a square matrix, got shape {tuple(M.shape)}")
        return M, None
    if cond is not None:
        if dim is None:
            raise ObjectiveError("objective.cond needs objective.dim (>= 1) for the generated A")
        n = integer(dim, "objective.dim", low=1)
        if isinstance(cond, bool) or not isinstance(cond, (int, float)) or not 1 <= cond < math.inf:
            raise ObjectiveError(f"objective.cond must be >= 1 and finite, got {shown(cond)}")
        check_size(f"objective.dim={n}", (n, n), dtype, DENSE_HINT)
        gen = torch.Generator().manual_seed(seed_of(seed, "objective.seed"))
        Q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
        eigs = torch.logspace(0, torch.log10(torch.tensor(float(cond))), n, dtype=torch.float64)
        M = (Q * eigs) @ Q.T
        return 0.5 * (M + M.T), None
    if diag is not None:
        d = numbers(diag, "objective.diag", 1)
        if d.numel() == 0:
            raise ObjectiveError("objective.diag must not be empty: give A's diagonal, or "
                                 "objective.diag=null with objective.dim for the identity")
        if dim is not None and integer(dim, "objective.dim", low=1) != d.numel():
            raise ObjectiveError(
                f"objective.dim={dim} but objective.diag has {d.numel()} values; give a diag "
                f"of length {dim} or set objective.diag=null for the identity"
            )
        return None, d
    if dim is not None:
        n = integer(dim, "objective.dim", low=1)
        check_size(f"objective.dim={n}", (n,), dtype)
        return None, torch.ones(n, dtype=torch.float64)
    return None, torch.tensor([4.0, 1.0], dtype=torch.float64)


def _check_symmetric(A: Tensor) -> None:
    if not torch.allclose(A, A.T, rtol=0, atol=1e-12 * (float(A.abs().max()) or 1.0)):
        raise ObjectiveError("objective.A must be symmetric")
