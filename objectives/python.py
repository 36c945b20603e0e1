"""An objective given as a Python function by import path: bring your own torch code."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from objectives.base import Objective, ObjectiveError, integer, shown


def load(path: str, what: str) -> Callable:
    """Import `package.module.name` (or `package.module:name`) and check it is callable."""
    if not isinstance(path, str):
        raise ObjectiveError(f"objective.{what} must be an import path "
                             f"(package.module.name), got {shown(path)}")
    module_name, _, attr = path.replace(":", ".").rpartition(".")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ObjectiveError(f"objective.{what}: cannot import '{path}' ({exc})") from None
    if not callable(fn):
        raise ObjectiveError(f"objective.{what}: '{path}' is not callable")
    return fn


class PythonFunction(Objective):
    """Minimize f(x) = function(x), a torch function of x (..., d) -> (...).

    The function must index coordinates as x[..., i] and reduce over the last axis (then a
    batch of points is one call). It has a closed-form gradient only if `grad_function`
    (x (..., d) -> (..., d)) is given. `minimum`/`minimizer` enable suboptimality metrics;
    left null, they are the function's own `minimum`/`minimizer` attributes where it has
    them (objectives.testfunctions sets them), so changing `function` never keeps another
    function's optimum.
    Both functions are called once when the objective is built, on x0 (else the minimizer,
    else 0) alone and stacked with a second point, so that a wrong signature or output
    shape is reported then, not at a run's first step.
    """

    name = "python"

    def __init__(
        self,
        function: str,
        dim: int,
        *,
        grad_function: str | None = None,
        minimum: float | None = None,
        minimizer: Sequence[float] | None = None,
        x0: Sequence[float] | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(integer(dim, "objective.dim", low=1), x0=x0, dtype=dtype, device=device)
        self.function = load(function, "function")
        self.grad_function = None if grad_function is None else load(grad_function, "grad_function")
        self.has_analytic_grad = self.grad_function is not None
        minimum = getattr(self.function, "minimum", None) if minimum is None else minimum
        minimizer = getattr(self.function, "minimizer", None) if minimizer is None else minimizer
        self.minimum = None if minimum is None else float(minimum)
        self.minimizer = None if minimizer is None else self.point(minimizer, "minimizer")
        probe = self.x0 if self.x0 is not None else self.minimizer
        probe = torch.zeros(self.dim, dtype=dtype, device=self.device) if probe is None else probe
        _check_output(self.function, "function", function, probe, ())
        if self.grad_function is not None:
            _check_output(self.grad_function, "grad_function", grad_function, probe, (self.dim,))

    def value(self, x: Tensor) -> Tensor:
        return self.function(x)

    def grad(self, x: Tensor) -> Tensor:
        if self.grad_function is None:
            return super().grad(x)
        return self.grad_function(x)


def _check_output(fn: Callable, what: str, path: str, point: Tensor, shape: tuple) -> None:
    """Call `fn` on `point` (d,) and on a batch (2, d) of it and a second point; check that
    it returns real tensors of shape `shape` and (2, *shape), the batch's rows equal to the
    points' own values (the function indexes x[..., i], not x[i])."""
    batch = torch.stack([point, point + 0.5])
    d = point.shape[-1]
    outputs = []
    for x in (batch, point, batch[1]):
        expected = (*x.shape[:-1], *shape)
        try:
            out = fn(x.clone())
        except Exception as exc:  # noqa: BLE001 - any failure of user code is reported
            raise ObjectiveError(
                f"objective.{what} '{path}' must take one tensor x of shape (..., {d}); called "
                f"on shape {tuple(x.shape)} it raised {type(exc).__name__}: {exc}") from None
        if not isinstance(out, Tensor) or not out.is_floating_point():
            kind = type(out).__name__ if not isinstance(out, Tensor) else f"a {out.dtype} tensor"
            raise ObjectiveError(f"objective.{what} '{path}' must return a real floating-point "
                                 f"tensor, got {kind}")
        if tuple(out.shape) != expected:
            raise ObjectiveError(
                f"objective.{what} '{path}' must map x of shape (..., {d}) to shape "
                f"(...{', ' + str(d) if shape else ''}): for x of shape {tuple(x.shape)} it "
                f"returned shape {tuple(out.shape)}, not {expected}")
        outputs.append(out.detach())
    alone = torch.stack(outputs[1:]).to(outputs[0].dtype)
    tol = torch.finfo(outputs[0].dtype).eps ** 0.5
    if not torch.allclose(outputs[0], alone, rtol=tol, atol=tol, equal_nan=True):
        raise ObjectiveError(
            f"objective.{what} '{path}' gives a batch of points other values than the points "
            "one at a time: index coordinates as x[..., i] and reduce over the last axis only")
