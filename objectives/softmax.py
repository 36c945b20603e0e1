"""A one-layer softmax classifier: the textbook's simpleNet."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from objectives.base import Objective, ObjectiveError

# The textbook's cross_entropy_error adds 1e-7 inside the log to avoid log(0).
TEXTBOOK_LOG_EPS = 1e-7


class SoftmaxClassifier(Objective):
    """Minimize the cross-entropy of softmax(xW) over samples (x_n, t_n), parameters W.

    f(W) = −(1/N) Σₙ log(softmax(xₙW)[tₙ] + δ), W of shape (inputs, classes) flattened
    row-major as the parameter vector. δ = `log_eps` (1e-7 in the textbook's
    `cross_entropy_error`; 0 gives the plain cross-entropy).
    Gradient: ∂f/∂W = (1/N) Σₙ xₙ ⊗ (pₙ/(pₙ+δ))·(yₙ − e_{tₙ}) with yₙ = softmax(xₙW),
    pₙ = yₙ[tₙ]. The minimum is not attained for separable data (f* = 0 only in the limit).
    Defaults are simpleNet's input x = (0.6, 0.9) with target class 2.
    """

    name = "softmax"
    has_analytic_grad = True

    def __init__(
        self,
        *,
        inputs: Sequence[Sequence[float]] = ((0.6, 0.9),),
        labels: Sequence[int] = (2,),
        classes: int = 3,
        log_eps: float = TEXTBOOK_LOG_EPS,
        x0: Sequence[float] | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> None:
        X = torch.as_tensor(inputs, dtype=torch.float64)
        if X.dim() != 2 or X.shape[0] == 0:
            raise ObjectiveError(f"softmax: inputs must be a non-empty list of rows, got {inputs}")
        t = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if t.numel() != X.shape[0]:
            raise ObjectiveError(
                f"softmax: {X.shape[0]} input row(s) but {t.numel()} label(s)"
            )
        if int(classes) < 2 or t.min() < 0 or t.max() >= int(classes):
            raise ObjectiveError(f"softmax: labels must lie in 0..{int(classes) - 1}")
        if log_eps < 0:
            raise ObjectiveError(f"softmax: log_eps must be >= 0, got {log_eps}")
        self.n_inputs, self.classes = X.shape[1], int(classes)
        super().__init__(self.n_inputs * self.classes, x0=x0, dtype=dtype, device=device)
        self.inputs = self.tensor(X)
        self.onehot = self.tensor(torch.nn.functional.one_hot(t, self.classes))
        self.log_eps = float(log_eps)

    def probabilities(self, x: Tensor) -> Tensor:
        W = x.reshape(*x.shape[:-1], self.n_inputs, self.classes)
        z = self.inputs.to(x.dtype) @ W  # (..., N, classes)
        # shifting by the (real) max changes nothing mathematically and keeps exp finite
        z = z - z.real.amax(-1, keepdim=True).detach()
        e = torch.exp(z)
        return e / e.sum(-1, keepdim=True)

    def value(self, x: Tensor) -> Tensor:
        p = (self.probabilities(x) * self.onehot).sum(-1)  # (..., N)
        return -torch.log(p + self.log_eps).mean(-1)

    def grad(self, x: Tensor) -> Tensor:
        y = self.probabilities(x)
        p = (y * self.onehot).sum(-1, keepdim=True)
        dz = (p / (p + self.log_eps)) * (y - self.onehot) / y.shape[-2]
        dW = self.inputs.transpose(-1, -2) @ dz  # (..., inputs, classes)
        return dW.reshape(*x.shape)
