"""The objective interface: a scalar function of one point, with what is known about it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

# The most one array an objective may allocate: a larger one is refused up front, with the
# size it would need, rather than after minutes of swapping (or an allocator's traceback).
MAX_BYTES = 2 * 2**30
INT64_MAX = 2**63 - 1  # torch's seeds and index arithmetic are int64
SHAPES = {1: "a list of numbers", 2: "a list of rows of numbers, all rows the same length"}


class ObjectiveError(ValueError):
    """A problem with an objective's configuration or input, phrased for the user."""


def shown(value: object, limit: int = 60) -> str:
    """A config value as a user typed it (`null`, `true`, `'abc'`, `[1, 2]`), cut to `limit`."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(shown(v, limit) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {shown(v, limit)}" for k, v in value.items()) + "}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def integer(value: object, key: str, low: int = 0, high: int = INT64_MAX) -> int:
    """Check that a config value is an integer in [low, high]; return it as an int."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ObjectiveError(f"{key} must be an integer, got {shown(value)}")
    value = int(value)
    if value < low:
        raise ObjectiveError(f"{key} must be >= {low}, got {value}")
    if value > high:
        limit = "2**63 - 1 (int64)" if high == INT64_MAX else high
        raise ObjectiveError(f"{key} must be at most {limit}, got {value}")
    return value


def seed_of(value: object, key: str) -> int:
    """A seed: any integer torch's generators take as one (int64)."""
    return integer(value, key, -INT64_MAX - 1)


def numbers(values, key: str, ndim: int) -> Tensor:
    """Config values as a float64 CPU tensor: a flat list (ndim 1) or a list of rows (ndim 2)
    of finite numbers; anything else is an ObjectiveError naming `key`."""
    if isinstance(values, Tensor):
        t = values.detach().to("cpu", torch.float64)
    else:
        try:
            t = torch.as_tensor(values, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError, OverflowError):
            raise ObjectiveError(f"{key} must be {SHAPES[ndim]}, got {shown(values)}") from None
    if t.dim() != ndim:
        raise ObjectiveError(f"{key} must be {SHAPES[ndim]}, got {shown(values)}")
    if not torch.isfinite(t).all():
        raise ObjectiveError(f"{key} must be finite, got {shown(values)}")
    return t


def gigabytes(nbytes: int) -> str:
    """A size as people read it: 7.2 GB, 80 GB."""
    return f"{nbytes / 1e9:.1f} GB" if nbytes < 1e10 else f"{nbytes / 1e9:,.0f} GB"


def check_size(what: str, shape: Sequence[int], dtype: torch.dtype = torch.float64,
               hint: str = "") -> None:
    """Refuse, before allocating it, an array of `shape` over MAX_BYTES; `what` says which
    setting asks for it (`objective.dim=30000`), `hint` what to do instead."""
    nbytes = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
    if nbytes > MAX_BYTES:
        array = (f"a vector of {shape[0]} numbers" if len(shape) == 1
                 else f"a {'×'.join(map(str, shape))} {'matrix' if len(shape) == 2 else 'array'}")
        raise ObjectiveError(f"{what} needs {array} ({gigabytes(nbytes)}), over the "
                             f"{gigabytes(MAX_BYTES)} one array may take{hint}")


class Objective:
    """A function f: R^d -> R written for one point in plain torch ops.

    Subclasses implement `value(x)` for x of shape (..., d), indexing coordinates as
    `x[..., i]` and reducing over the last axis, so that the same code evaluates one point,
    a stacked batch (B, d) and works under `torch.func.vmap`. Where a closed-form gradient
    is known they override `grad(x)` and set `has_analytic_grad = True`. Known optima live
    here (`minimizer` x*, `minimum` f*) so every run can report exact suboptimality.
    """

    name: str = "objective"
    has_analytic_grad: bool = False
    #: whether `value` accepts complex input (needed by the complex-step gradient)
    supports_complex: bool = True

    def __init__(
        self,
        dim: int,
        *,
        x0: Sequence[float] | Tensor | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> None:
        self.dim = integer(dim, "objective.dim", low=1)
        check_size(f"objective.dim={self.dim}", (self.dim,), dtype)
        self.dtype = dtype
        self.device = torch.device(device)
        self.x0 = None if x0 is None else self.point(x0, "x0")
        self.minimizer: Tensor | None = None
        self.minimum: float | None = None

    def value(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def grad(self, x: Tensor) -> Tensor:
        raise ObjectiveError(f"objective '{self.name}' has no closed-form gradient")

    def __call__(self, x: Tensor) -> Tensor:
        return self.value(x)

    def tensor(self, values) -> Tensor:
        """Convert config values to a tensor of this objective's dtype and device."""
        return torch.as_tensor(values, dtype=self.dtype, device=self.device)

    def point(self, values, what: str = "point") -> Tensor:
        """Check and convert a point given in a config: a flat list of `dim` finite numbers."""
        x = numbers(values, f"objective.{what}", 1)
        if x.numel() != self.dim:
            raise ObjectiveError(
                f"objective.{what} has {x.numel()} value(s) but '{self.name}' is "
                f"{self.dim}-dimensional"
            )
        return self.tensor(x)

    def initial_point(self, seed: int = 0) -> Tensor:
        """The configured x0, or a standard normal draw from a generator seeded with `seed`."""
        if self.x0 is not None:
            return self.x0.clone()
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randn(self.dim, generator=gen, dtype=torch.float64).to(
            self.dtype
        ).to(self.device)

    def describe(self) -> str:
        return f"{self.name}(d={self.dim})"

    def data(self) -> Data | None:
        """The data the objective is fitted to, if any: runs log it as an MLflow dataset."""
        return None


class Data(NamedTuple):
    """An objective's data set: `features` (n, ...) and `targets` (n,), with how it was
    made (`source`: the generating settings, or where it was read)."""

    name: str
    features: np.ndarray
    targets: np.ndarray
    source: dict[str, str]
