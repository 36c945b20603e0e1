"""Classic two-variable test functions, for `objective=python objective.function=...`.

Each is written for x (..., 2). Minima from Jamil & Yang, "A literature survey of benchmark
functions for global optimization problems", IJMMNO 4(2), 2013.
"""

from torch import Tensor


def beale(x: Tensor) -> Tensor:
    """(1.5 − u + uv)² + (2.25 − u + uv²)² + (2.625 − u + uv³)²; minimum 0 at (3, 0.5)."""
    u, v = x[..., 0], x[..., 1]
    return (1.5 - u + u * v) ** 2 + (2.25 - u + u * v**2) ** 2 + (2.625 - u + u * v**3) ** 2


def booth(x: Tensor) -> Tensor:
    """(u + 2v − 7)² + (2u + v − 5)²; minimum 0 at (1, 3)."""
    u, v = x[..., 0], x[..., 1]
    return (u + 2 * v - 7) ** 2 + (2 * u + v - 5) ** 2


def himmelblau(x: Tensor) -> Tensor:
    """(u² + v − 11)² + (u + v² − 7)²; minimum 0 at (3, 2) and three other points."""
    u, v = x[..., 0], x[..., 1]
    return (u**2 + v - 11) ** 2 + (u + v**2 - 7) ** 2
