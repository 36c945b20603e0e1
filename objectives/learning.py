"""Objectives fitted to data: least squares and ridge, L2 logistic regression (benchopt's),
softmax regression and a small MLP, over the data sets of `objectives.datasets`.

A model's parameters are one flat vector w (d,). Every objective evaluates, for points of
shape (..., d), either the whole training set or, for each row of a batch (B, ..., d), its
own minibatch (`value(x, rows)` with sample indices rows (B, m)): in both, G data groups
(1 or B) of K points each go through one batched computation. The per-sample losses are
averaged (summed for the logistic regression, as benchopt defines it: a minibatch of m of
the n samples is scaled by n/m, so every estimate is unbiased), then the penalty is added.

`evaluate(x)` gives the full training loss, the test loss (the per-sample data term's mean
on the test set) and, for classifiers, the test accuracy; the runner records them every
`eval_every` steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from objectives.base import Data, Objective, ObjectiveError, integer, shown
from objectives.datasets import Split, load

# applied in place, to a layer's own fresh output (autograd keeps what their backward needs)
ACTIVATIONS = {"relu": torch.relu_, "tanh": torch.tanh_, "sigmoid": torch.sigmoid_}
# A whole set evaluated without a gradient goes through its samples in blocks whose widest
# activations (K points × block × width) take about this much: cache-sized, and reused by
# the allocator rather than fresh pages each time (100 MLPs' training loss on digits: 57 →
# 33 ms). Each sample's loss is the same as in one block, to rounding.
EVAL_BLOCK_BYTES = 8 * 2**20


class DataObjective(Objective):
    """A model's loss on a data set's training part (see the module's docstring)."""

    name = "data"
    supports_complex = False
    reduction = "mean"  # how per-sample losses combine: mean, or sum (benchopt's logistic)

    def __init__(self, split: Split, dim: int, *, l2: float = 0.0, x0=None,
                 dtype: torch.dtype = torch.float64, device="cpu") -> None:
        if not 0 <= l2 < math.inf:
            raise ObjectiveError(f"objective.l2 must be a finite number >= 0, got {shown(l2)}")
        super().__init__(dim, x0=x0, dtype=dtype, device=device)
        self.split, self.l2 = split, float(l2)
        self.X, self.y = self.features(split.X_train), self.targets(split.y_train)
        self.X_test, self.y_test = self.features(split.X_test), self.targets(split.y_test)
        self.n_train = len(split.y_train)
        self.width = split.classes or 1  # the widest layer's outputs a sample (blocks)

    # ---- what a model defines
    def outputs(self, w: Tensor, X: Tensor) -> Tensor:
        """Model outputs for w (G, K, d) on X (G, m, p): (G, K, m, o)."""
        raise NotImplementedError

    def sample_losses(self, out: Tensor, y: Tensor) -> Tensor:
        """Per-sample losses (G, K, m) from outputs (G, K, m, o) and targets (G, m)."""
        raise NotImplementedError

    def penalty(self, w: Tensor) -> Tensor:
        """(l2 / 2)‖w‖² over the penalised coordinates: (G, K)."""
        return 0.5 * self.l2 * (w * w).sum(-1) if self.l2 else torch.zeros_like(w[..., 0])

    def correct(self, out: Tensor, y: Tensor) -> Tensor:
        """Whether each prediction is right: (G, K, m)."""
        return out.argmax(-1) == y.unsqueeze(1)

    def features(self, X: np.ndarray) -> Tensor:
        return self.tensor(X)

    def targets(self, y: np.ndarray) -> Tensor:
        return torch.as_tensor(y, device=self.device)

    # ---- evaluation
    def value(self, x: Tensor, rows: Tensor | None = None) -> Tensor:
        """f at x (..., d) on the training set, or, with rows (B, m), each row of x
        (B, ..., d) on its own minibatch."""
        if rows is None:  # one group: every point on the training set
            w, scale = x.reshape(1, -1, self.dim), 1.0
            losses, _ = self._whole_set(w, self.X, self.y)
        else:
            w, X, y = x.reshape(rows.shape[0], -1, self.dim), self.X[rows], self.y[rows]
            scale = self.n_train / rows.shape[1]
            losses = self.sample_losses(self.outputs(w, X), y)
        data = losses.sum(-1) * scale if self.reduction == "sum" else losses.mean(-1)
        return (data + self.penalty(w)).reshape(x.shape[:-1])

    def evaluate(self, x: Tensor) -> dict[str, Tensor]:
        """train_loss, test_loss and (classifiers) test_accuracy at each row of x (B, d)."""
        out: dict[str, Tensor] = {"train_loss": self.value(x)}
        classifies = self.split.task == "classification"
        # one group, the test set: (1, B, m)
        losses, right = self._whole_set(x[None], self.X_test, self.y_test, classifies)
        out["test_loss"] = losses.mean(-1)[0]
        if classifies:
            out["test_accuracy"] = right.to(x.dtype).mean(-1)[0]
        return out

    def _whole_set(self, w: Tensor, X: Tensor, y: Tensor,
                   correct: bool = False) -> tuple[Tensor, Tensor | None]:
        """The per-sample losses (1, K, m) of points w (1, K, d) on a whole set X (m, p),
        y (m,), and with `correct` whether each prediction is right; in blocks of samples
        (EVAL_BLOCK_BYTES) where no gradient is wanted."""
        size = len(y)
        if not (torch.is_grad_enabled() and w.requires_grad):
            size = max(1, EVAL_BLOCK_BYTES // (w.shape[1] * self.width * w.element_size()))
        losses, right = [], []
        for i in range(0, len(y), size):
            X_i, y_i = X[None, i:i + size], y[None, i:i + size]
            out = self.outputs(w, X_i)
            losses.append(self.sample_losses(out, y_i))
            if correct:
                right.append(self.correct(out, y_i))
        return _joined(losses), _joined(right) if correct else None

    def data(self) -> Data:
        return Data(self.split.name, self.split.X_train, self.split.y_train, self.split.source)

    def on(self, rows: Tensor) -> Minibatch:
        """This objective on one minibatch per row: sample indices rows (B, m)."""
        return Minibatch(self, rows)


class Minibatch:
    """A data objective restricted to a minibatch per row; otherwise the objective itself
    (its optimum, dimension, ...), as the gradient methods see it."""

    def __init__(self, objective: DataObjective, rows: Tensor) -> None:
        self.objective, self.rows = objective, rows

    def value(self, x: Tensor) -> Tensor:
        return self.objective.value(x, self.rows)

    def __call__(self, x: Tensor) -> Tensor:
        return self.value(x)

    def __getattr__(self, name: str):
        return getattr(self.objective, name)


def _joined(blocks: list[Tensor]) -> Tensor:
    return blocks[0] if len(blocks) == 1 else torch.cat(blocks, -1)


def _with_intercept(X: Tensor) -> Tensor:
    return torch.cat([X, torch.ones_like(X[:, :1])], dim=1)


class LeastSquares(DataObjective):
    """f(β) = (1/n)‖Xβ − y‖² + l2·‖β_w‖² (ridge for l2 > 0), X with an intercept column the
    penalty leaves out. The optimum solves (XᵀX/n + l2·P)β = Xᵀy/n (P: the penalty's diagonal)."""

    name = "least_squares"

    def __init__(self, *, dataset: str = "diabetes", test_fraction: float = 0.25, seed: int = 0,
                 standardize: bool = True, l2: float = 0.0, n: int = 1000, features: int = 2,
                 noise: float = 0.1, x0=None, dtype=torch.float64, device="cpu") -> None:
        split = load(dataset, test_fraction=test_fraction, seed=seed, standardize=standardize,
                     n=n, features=features, noise=noise)
        if split.task != "regression":
            raise ObjectiveError(f"objective=least_squares needs a regression data set "
                                 f"(diabetes, line), got '{dataset}'")
        super().__init__(split, split.X_train.shape[1] + 1, l2=l2, x0=x0, dtype=dtype,
                         device=device)
        X = np.column_stack([split.X_train, np.ones(len(split.y_train))])
        P = np.diag([1.0] * (self.dim - 1) + [0.0])
        n_train = len(split.y_train)
        beta = np.linalg.solve(X.T @ X / n_train + self.l2 * P, X.T @ split.y_train / n_train)
        self.minimizer = self.tensor(beta)
        residual = X @ beta - split.y_train
        self.minimum = float(residual @ residual / n_train + self.l2 * beta[:-1] @ beta[:-1])

    def features(self, X: np.ndarray) -> Tensor:
        return _with_intercept(self.tensor(X))

    def outputs(self, w: Tensor, X: Tensor) -> Tensor:
        return torch.einsum("gmp,gkp->gkm", X, w).unsqueeze(-1)

    def sample_losses(self, out: Tensor, y: Tensor) -> Tensor:
        return (out[..., 0] - y.unsqueeze(1)) ** 2

    def penalty(self, w: Tensor) -> Tensor:  # ridge's l2·‖β‖², the intercept left out
        return self.l2 * (w[..., :-1] ** 2).sum(-1) if self.l2 else torch.zeros_like(w[..., 0])


class Logistic(DataObjective):
    """L2 logistic regression as benchopt defines it: f(β) = Σᵢ log(1 + exp(−yᵢ xᵢᵀβ)) +
    (λ/2)‖β‖², labels y ∈ {−1, 1}, no intercept. Its optimum is found once, to the last
    digits, by Newton's method (the Hessian Xᵀ diag(σ(1 − σ)) X + λI in closed form)."""

    name = "logistic"
    reduction = "sum"

    def __init__(self, *, dataset: str = "breast_cancer", test_fraction: float = 0.25,
                 seed: int = 0, standardize: bool = True, l2: float = 1.0, n: int = 1000,
                 features: int = 2, noise: float = 0.1, x0=None, dtype=torch.float64,
                 device="cpu") -> None:
        split = load(dataset, test_fraction=test_fraction, seed=seed, standardize=standardize,
                     n=n, features=features, noise=noise)
        if split.classes != 2:
            raise ObjectiveError(f"objective=logistic needs a data set of two classes "
                                 f"(breast_cancer), got '{dataset}'")
        if not l2 > 0:
            raise ObjectiveError(f"objective.l2 must be > 0 for logistic regression (its "
                                 f"optimum is then unique), got {shown(l2)}")
        super().__init__(split, split.X_train.shape[1], l2=l2, x0=x0, dtype=dtype, device=device)
        self.minimizer, self.minimum = self._newton()

    def targets(self, y: np.ndarray) -> Tensor:
        return self.tensor(2.0 * y - 1.0)

    def outputs(self, w: Tensor, X: Tensor) -> Tensor:
        return torch.einsum("gmp,gkp->gkm", X, w).unsqueeze(-1)

    def sample_losses(self, out: Tensor, y: Tensor) -> Tensor:
        return F.softplus(-y.unsqueeze(1) * out[..., 0])

    def correct(self, out: Tensor, y: Tensor) -> Tensor:
        return torch.where(out[..., 0] >= 0, 1.0, -1.0) == y.unsqueeze(1)

    def _newton(self) -> tuple[Tensor, float]:
        X = torch.as_tensor(self.split.X_train, dtype=torch.float64)
        y = torch.as_tensor(2.0 * self.split.y_train - 1.0, dtype=torch.float64)
        beta = torch.zeros(X.shape[1], dtype=torch.float64)
        eye = torch.eye(X.shape[1], dtype=torch.float64)
        for _ in range(100):
            z = X @ beta
            s = torch.sigmoid(-y * z)
            grad = -X.T @ (y * s) + self.l2 * beta
            hess = X.T @ (X * (s * (1 - s))[:, None]) + self.l2 * eye
            step = torch.linalg.solve(hess, grad)
            beta = beta - step
            if float(step.abs().max()) <= 1e-15 * max(1.0, float(beta.abs().max())):
                break
        value = F.softplus(-y * (X @ beta)).sum() + 0.5 * self.l2 * beta @ beta
        return self.tensor(beta), float(value)


class SoftmaxRegression(DataObjective):
    """Multinomial logistic regression: mean cross-entropy of softmax(XW + b) plus
    (l2/2)‖W‖²; w is W (p × C) then b (C), flattened row-major."""

    name = "softmax_regression"

    def __init__(self, *, dataset: str = "digits", test_fraction: float = 0.25, seed: int = 0,
                 standardize: bool = True, l2: float = 0.0, n: int = 1000, features: int = 2,
                 noise: float = 0.1, x0=None, dtype=torch.float64, device="cpu") -> None:
        split = _classification(dataset, test_fraction, seed, standardize, n, features, noise)
        self.p, self.classes = split.X_train.shape[1], split.classes
        super().__init__(split, (self.p + 1) * self.classes, l2=l2, x0=x0, dtype=dtype,
                         device=device)

    def outputs(self, w: Tensor, X: Tensor) -> Tensor:
        W = w[..., :self.p * self.classes].unflatten(-1, (self.p, self.classes))
        b = w[..., self.p * self.classes:]
        return torch.einsum("gmp,gkpc->gkmc", X, W) + b.unsqueeze(-2)

    def sample_losses(self, out: Tensor, y: Tensor) -> Tensor:
        return _cross_entropy(out, y)

    def penalty(self, w: Tensor) -> Tensor:
        return (0.5 * self.l2 * (w[..., :self.p * self.classes] ** 2).sum(-1) if self.l2
                else torch.zeros_like(w[..., 0]))

    def initial_point(self, seed: int = 0) -> Tensor:
        return torch.zeros(self.dim, dtype=self.dtype, device=self.device)


class MLP(DataObjective):
    """A multilayer perceptron: `hidden` layer sizes, `activation` (relu, tanh, sigmoid),
    softmax cross-entropy for a classification data set, squared error for a regression one.
    w holds each layer's weights (fan_in × fan_out) then biases, flattened row-major; the
    starting point is torch.nn.Linear's default, U(±1/√fan_in), drawn from `seed`."""

    name = "mlp"

    def __init__(self, *, dataset: str = "digits", hidden: Sequence[int] = (32,),
                 activation: str = "relu", test_fraction: float = 0.25, seed: int = 0,
                 standardize: bool = True, l2: float = 0.0, n: int = 1000, features: int = 2,
                 noise: float = 0.1, x0=None, dtype=torch.float64, device="cpu") -> None:
        if activation not in ACTIVATIONS:
            raise ObjectiveError(f"objective.activation must be one of "
                                 f"{', '.join(ACTIVATIONS)}, got {shown(activation)}")
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise ObjectiveError(f"objective.hidden must be a list of layer sizes, got "
                                 f"{shown(hidden)}")
        split = load(dataset, test_fraction=test_fraction, seed=seed, standardize=standardize,
                     n=n, features=features, noise=noise)
        sizes = [split.X_train.shape[1],
                 *(integer(h, "objective.hidden", low=1) for h in hidden),
                 split.classes or 1]
        self.layers = list(zip(sizes[:-1], sizes[1:]))
        self.parts = [n for i, o in self.layers for n in (i * o, o)]  # w: weights, biases
        self.act_ = ACTIVATIONS[activation]
        super().__init__(split, sum(i * o + o for i, o in self.layers), l2=l2, x0=x0,
                         dtype=dtype, device=device)
        self.width = max(o for _, o in self.layers)

    def targets(self, y: np.ndarray) -> Tensor:
        return (self.tensor(y) if self.split.task == "regression"
                else torch.as_tensor(y, device=self.device))

    def outputs(self, w: Tensor, X: Tensor) -> Tensor:
        h = X  # (G, m, p): shared by the K points of a group
        # one split, not a slice per tensor: the backward pass then fills no zeros
        parts = w.split(self.parts, -1)
        for i, (fan_in, fan_out) in enumerate(self.layers):
            W, b = parts[2 * i].unflatten(-1, (fan_in, fan_out)), parts[2 * i + 1]
            # (G, K, m, fan_out); the first layer one product for a group's K points (a
            # minibatch a point, K = 1: a batched product, whose backward is a fifth faster)
            if i == 0 and W.shape[1] > 1:
                h = torch.einsum("gmp,gkpo->gkmo", h, W)
            else:
                h = (h.unsqueeze(1) if i == 0 else h) @ W
            h = h.add_(b.unsqueeze(-2))
            if i < len(self.layers) - 1:
                h = self.act_(h)
        return h

    def sample_losses(self, out: Tensor, y: Tensor) -> Tensor:
        if self.split.task == "regression":
            return (out[..., 0] - y.unsqueeze(1)) ** 2
        return _cross_entropy(out, y)

    def initial_point(self, seed: int = 0) -> Tensor:
        gen = torch.Generator().manual_seed(int(seed))
        parts = []
        for fan_in, fan_out in self.layers:
            bound = 1 / math.sqrt(fan_in)
            parts.append((2 * torch.rand(fan_in * fan_out + fan_out, generator=gen,
                                         dtype=torch.float64) - 1) * bound)
        return torch.cat(parts).to(self.dtype).to(self.device)


def _cross_entropy(out: Tensor, y: Tensor) -> Tensor:
    """−log softmax(out)[y] per sample, as log Σ exp(out) − out[y]: (G, K, m) from
    (G, K, m, C) and labels (G, m). The same value as log_softmax's (max-shifted both;
    measured within 2e-15), at under half the cost, backward included: torch's log_softmax
    over a last axis of a few classes is slow on a CPU."""
    index = y.unsqueeze(1).expand(out.shape[:-1]).unsqueeze(-1)
    return torch.logsumexp(out, -1) - out.gather(-1, index)[..., 0]


def _classification(dataset, test_fraction, seed, standardize, n, features, noise) -> Split:
    split = load(dataset, test_fraction=test_fraction, seed=seed, standardize=standardize,
                 n=n, features=features, noise=noise)
    if split.task != "classification":
        raise ObjectiveError(f"objective.dataset '{dataset}' is a regression data set; this "
                             "objective classifies (digits, breast_cancer, wine, iris, blobs)")
    return split
