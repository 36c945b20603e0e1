"""Quadratic forms f(x) = xᵀAx − bᵀx."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from objectives.base import Objective, ObjectiveError


class Quadratic(Objective):
    """Minimize f(x) = xᵀAx − bᵀx with A symmetric positive (semi)definite.

    Gradient: ∇f(x) = 2Ax − b. Minimizer (A positive definite): x* = ½A⁻¹b, f* = −¼bᵀA⁻¹b.
    With b = 0 and A only semidefinite, f* = 0 and x* = 0 is one minimizer of many; then
    `minimizer` is None and only suboptimality is reported.

    A is given explicitly (`A` as a matrix, or `diag` as its diagonal; the default
    diag(4, 1) is the Flux demo's 4x₁² + x₂², the identity the PyTorch demo's x₁² + x₂²),
    or generated from `dim` and `cond`: A = Q diag(λ) Qᵀ with Q a seeded random orthogonal
    matrix and λ log-spaced from 1 to `cond`. A or cond override diag; dim alone gives I.
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
        A64 = _matrix(A, diag, dim, cond, seed)
        super().__init__(A64.shape[0], x0=None, dtype=dtype, device=device)
        _check_symmetric(A64)
        eig_min = float(torch.linalg.eigvalsh(A64).min())
        scale = float(A64.abs().max()) or 1.0
        if eig_min < -1e-12 * scale:
            raise ObjectiveError(
                f"quad: A must be positive semidefinite, but its smallest eigenvalue is {eig_min:.6g}"
            )
        b64 = torch.zeros(self.dim, dtype=torch.float64) if b is None else _vector(b, self.dim)
        positive_definite = eig_min > 1e-12 * scale
        if b64.abs().max() > 0 and not positive_definite:
            raise ObjectiveError(
                "quad: A must be positive definite when b is given (otherwise f may be "
                f"unbounded below); its smallest eigenvalue is {eig_min:.6g}"
            )
        self.A = self.tensor(A64)
        self.b = self.tensor(b64)
        self.has_linear_term = bool(b64.abs().max() > 0)
        self.x0 = None if x0 is None else self.point(x0, "x0")
        if positive_definite:
            x_star = 0.5 * torch.linalg.solve(A64, b64)
            self.minimizer = self.tensor(x_star)
            self.minimum = float(-0.5 * b64 @ x_star)
        else:
            self.minimum = 0.0
        self.condition_number = float(torch.linalg.cond(A64)) if positive_definite else float("inf")

    def value(self, x: Tensor) -> Tensor:
        A = self.A.to(x.dtype) if x.is_complex() else self.A
        quadratic = ((x @ A) * x).sum(-1)
        return quadratic - (self.b * x).sum(-1) if self.has_linear_term else quadratic

    def grad(self, x: Tensor) -> Tensor:
        return 2 * (x @ self.A.T) - self.b


def _vector(values, dim: int) -> Tensor:
    v = torch.as_tensor(values, dtype=torch.float64)
    if v.shape != (dim,):
        raise ObjectiveError(f"quad: b has {v.numel()} value(s) but A is {dim}×{dim}")
    return v


def _matrix(A, diag, dim, cond, seed) -> Tensor:
    """A from the most specific form given: A or cond (with dim) over diag over dim (identity)."""
    if A is not None and cond is not None:
        raise ObjectiveError("quad: give either A or cond, not both")
    if A is not None:
        M = torch.as_tensor(A, dtype=torch.float64)
        if M.dim() != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
            raise ObjectiveError(f"quad: A must be a square matrix, got shape {tuple(M.shape)}")
        return M
    if cond is not None:
        if dim is None or int(dim) < 1:
            raise ObjectiveError("quad: a generated A needs dim >= 1 together with cond")
        if cond < 1:
            raise ObjectiveError(f"quad: cond must be >= 1, got {cond}")
        gen = torch.Generator().manual_seed(int(seed))
        Q, _ = torch.linalg.qr(torch.randn(int(dim), int(dim), generator=gen, dtype=torch.float64))
        eigs = torch.logspace(0, torch.log10(torch.tensor(float(cond))), int(dim), dtype=torch.float64)
        M = (Q * eigs) @ Q.T
        return 0.5 * (M + M.T)
    if diag is not None:
        d = torch.as_tensor(diag, dtype=torch.float64).reshape(-1)
        if dim is not None and int(dim) != d.numel():
            raise ObjectiveError(
                f"quad: dim={dim} but diag has {d.numel()} values; give a diag of length {dim} "
                "or set objective.diag=null for the identity"
            )
        return torch.diag(d)
    if dim is not None:
        return torch.eye(int(dim), dtype=torch.float64)
    return torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64))


def _check_symmetric(A: Tensor) -> None:
    if not torch.allclose(A, A.T, rtol=0, atol=1e-12 * (float(A.abs().max()) or 1.0)):
        raise ObjectiveError("quad: A must be symmetric")
