"""Linear regression on synthetic data: the PyTorch memo's problem."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from objectives.base import Data, Objective, ObjectiveError, check_size, integer, seed_of, shown

LOSSES = ("norm", "mse")


class LinearRegression(Objective):
    """Fit y ≈ a·x + b, parameters θ = (a, b), to data y = a₀·x + b₀ + σ·ε.

    Data: x ~ U[0, 2), ε ~ N(0, 1), drawn from a generator seeded with `seed`.
    Loss `norm`: f(θ) = ‖y − ŷ‖ (as in the memo); `mse`: f(θ) = (1/N)‖y − ŷ‖².
    Both are minimized by the least-squares solution θ* = argmin ‖Xθ − y‖, X = [x, 1].
    Gradient: `mse` 2Xᵀ(Xθ − y)/N; `norm` Xᵀ(Xθ − y)/‖Xθ − y‖.
    """

    name = "linreg"
    has_analytic_grad = True

    def __init__(
        self,
        *,
        n: int = 100,
        a: float = -1.0,
        b: float = 1.0,
        sigma: float = 0.1,
        seed: int = 0,
        loss: str = "norm",
        x0: Sequence[float] | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> None:
        if loss not in LOSSES:
            raise ObjectiveError(f"objective.loss must be one of {', '.join(LOSSES)}, "
                                 f"got {shown(loss)}")
        n = integer(n, "objective.n", low=2)
        check_size(f"objective.n={n}", (n, 2), dtype)  # the design matrix X = [x, 1]
        super().__init__(2, x0=x0, dtype=dtype, device=device)
        self.loss = loss
        gen = torch.Generator().manual_seed(seed_of(seed, "objective.seed"))
        xs = 2 * torch.rand(n, generator=gen, dtype=torch.float64)
        ys = a * xs + b + sigma * torch.randn(n, generator=gen, dtype=torch.float64)
        self.x_data, self.y_data = self.tensor(xs), self.tensor(ys)
        X = torch.stack([xs, torch.ones_like(xs)], dim=1)
        theta = torch.linalg.lstsq(X, ys[:, None]).solution[:, 0]
        self.minimizer = self.tensor(theta)
        residual = float(torch.linalg.norm(X @ theta - ys))
        self.minimum = residual if loss == "norm" else residual**2 / n
        self._source = dict(n=n, a=a, b=b, sigma=sigma, seed=seed)

    def data(self) -> Data:
        """The points (x, y): y = a·x + b + σ·N(0, 1), x uniform on [0, 2)."""
        source = {"generator": "y = a*x + b + sigma*N(0,1), x ~ U[0,2)",
                  **{k: str(v) for k, v in self._source.items()}}
        return Data(self.name, self.x_data.cpu().numpy()[:, None], self.y_data.cpu().numpy(),
                    source)

    def residual(self, theta: Tensor) -> Tensor:
        return theta[..., 0:1] * self.x_data + theta[..., 1:2] - self.y_data

    def value(self, x: Tensor) -> Tensor:
        r = self.residual(x)
        # sqrt(Σr²) rather than vector_norm: it stays holomorphic for the complex step
        squares = (r * r).sum(-1)
        return torch.sqrt(squares) if self.loss == "norm" else squares / r.shape[-1]

    def grad(self, x: Tensor) -> Tensor:
        r = self.residual(x)
        g = torch.stack([(r * self.x_data).sum(-1), r.sum(-1)], dim=-1)
        if self.loss == "norm":
            return g / torch.sqrt((r * r).sum(-1, keepdim=True))
        return 2 * g / r.shape[-1]
