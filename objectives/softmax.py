"""A one-layer softmax classifier: the textbook's simpleNet."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from objectives.base import Data, Objective, ObjectiveError, check_size, integer, numbers, shown

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
        X = numbers(inputs, "objective.inputs", 2)
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ObjectiveError(
                f"objective.inputs must be a non-empty list of rows, got {shown(inputs)}")
        t = _labels(labels)
        if t.numel() != X.shape[0]:
            raise ObjectiveError(
                f"objective.labels: {X.shape[0]} input row(s) but {t.numel()} label(s)"
            )
        classes = integer(classes, "objective.classes", low=2)
        if t.min() < 0 or t.max() >= classes:
            raise ObjectiveError(
                f"objective.labels must lie in 0..{classes - 1}, got {shown(labels)}")
        if not 0 <= log_eps < math.inf:
            raise ObjectiveError(f"objective.log_eps must be >= 0 and finite, got {log_eps}")
        check_size(f"objective.classes={classes}", (X.shape[0], classes), dtype)  # one-hot labels
        check_size(f"objective.classes={classes}", (X.shape[1], classes), dtype)  # W
        self.n_inputs, self.classes = X.shape[1], classes
        super().__init__(self.n_inputs * self.classes, x0=x0, dtype=dtype, device=device)
        self.inputs = self.tensor(X)
        self.onehot = self.tensor(torch.nn.functional.one_hot(t, self.classes))
        self.log_eps = float(log_eps)

    def data(self) -> Data:
        """The inputs and their class labels, as configured (objective.inputs, .labels)."""
        return Data(self.name, self.inputs.cpu().numpy(), self.onehot.argmax(-1).cpu().numpy(),
                    {"from": "objective.inputs and objective.labels"})

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


def _labels(labels) -> Tensor:
    """Class indices: a flat list of integers."""
    flat = list(labels) if isinstance(labels, (list, tuple)) else None
    if isinstance(labels, Tensor) and not labels.is_floating_point():
        return labels.reshape(-1).long().cpu()
    if flat is None or any(isinstance(v, bool) or not isinstance(v, int) for v in flat):
        raise ObjectiveError(f"objective.labels must be a list of class indices (integers), "
                             f"got {shown(labels)}")
    return torch.tensor(flat, dtype=torch.long)
