"""Classic two-variable test functions, for `objective=python objective.function=...`.

Each is written for x (..., 2). Minima from Jamil & Yang, "A literature survey of benchmark
functions for global optimization problems", IJMMNO 4(2), 2013, attached to each function as
`minimum` and (where there is one global minimizer) `minimizer`: objective=python reads them,
so they follow the function rather than the config.
"""

from collections.abc import Callable

from torch import Tensor


def known(minimum: float, minimizer: tuple[float, ...] | None = None) -> Callable:
    """Attach a function's known minimum (and its single minimizer) to it."""

    def attach(function: Callable) -> Callable:
        function.minimum, function.minimizer = minimum, minimizer
        return function

    return attach


@known(0.0, (3.0, 0.5))
def beale(x: Tensor) -> Tensor:
    """(1.5 − u + uv)² + (2.25 − u + uv²)² + (2.625 − u + uv³)²; minimum 0 at (3, 0.5)."""
    u, v = x[..., 0], x[..., 1]
    return (1.5 - u + u * v) ** 2 + (2.25 - u + u * v**2) ** 2 + (2.625 - u + u * v**3) ** 2


@known(0.0, (1.0, 3.0))
def booth(x: Tensor) -> Tensor:
    """(u + 2v − 7)² + (2u + v − 5)²; minimum 0 at (1, 3)."""
    u, v = x[..., 0], x[..., 1]
    return (u + 2 * v - 7) ** 2 + (2 * u + v - 5) ** 2


@known(0.0)  # at (3, 2) and three other points: no single x* to measure a distance to
def himmelblau(x: Tensor) -> Tensor:
    """(u² + v − 11)² + (u + v² − 7)²; minimum 0 at (3, 2) and three other points."""
    u, v = x[..., 0], x[..., 1]
    return (u**2 + v - 11) ** 2 + (u + v**2 - 7) ** 2
