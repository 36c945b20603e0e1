"""The 35 test problems of Moré, Garbow & Hillstrom, twice: as formulas and as plain torch.

J. J. Moré, B. S. Garbow and K. E. Hillstrom, "Testing unconstrained optimization
software", ACM TOMS 7(1):17-41, 1981. Each problem is f(x) = Σᵢ fᵢ(x)² for residuals
f₁ … f_m of x ∈ Rⁿ, with the standard starting point x0 (the paper's xₛ) and, where the paper
prints them, the minimum f* and a minimizer. The paper's indices start at 1 and x's here
at 0: the paper's x₁ is x[0]. For the problems of variable size the sizes used are stated
(n, m); where the paper prints f* for several sizes, one of those sizes is used.

`formula`, `constants` and `data` are the objective.expr, objective.constants and
objective.data a user would write; `residuals` is an independent transcription in torch
(vectorised over i rather than a loop), so that each checks the other. f* is as printed,
truncated to `digits` significant digits ("8.21487...10⁻³").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass(frozen=True)
class Problem:
    number: int
    name: str
    n: int
    m: int
    formula: str
    residuals: Callable[[Tensor], Tensor]  # x (..., n) -> (f₁ … f_m) (..., m)
    x0: tuple[float, ...]
    constants: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    minimum: float | None = None
    digits: int | None = None  # significant digits of f* as printed; None: exact
    minimizer: tuple[float, ...] | None = None

    def value(self, x: Tensor) -> Tensor:
        return (self.residuals(x) ** 2).sum(-1)


def _col(x: Tensor, j: int) -> Tensor:
    """x's coordinate j (from 0) as a column against a vector of i: shape (..., 1)."""
    return x[..., j : j + 1]


def _i(x: Tensor, start: int, stop: int) -> Tensor:
    return torch.arange(start, stop, dtype=x.dtype, device=x.device)


def _like(x: Tensor, values) -> Tensor:
    return torch.as_tensor(values, dtype=x.dtype, device=x.device)


# ---- data tables, as printed in the paper
BARD_Y = [0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10,
          4.39]
GAUSSIAN_Y = [0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989, 0.3521, 0.2420,
              0.1295, 0.0540, 0.0175, 0.0044, 0.0009]
MEYER_Y = [34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744, 8261, 7030, 6005, 5147, 4427,
           3820, 3307, 2872]
KOWALIK_Y = [0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235,
             0.0246]
KOWALIK_U = [4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625]
OSBORNE1_Y = [0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751,
              0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490,
              0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406]
OSBORNE2_Y = [1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746,
              0.679, 0.608, 0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649,
              0.694, 0.644, 0.624, 0.661, 0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395,
              0.375, 0.372, 0.391, 0.396, 0.405, 0.428, 0.429, 0.523, 0.562, 0.607, 0.653,
              0.672, 0.708, 0.633, 0.668, 0.645, 0.632, 0.591, 0.559, 0.597, 0.625, 0.739,
              0.710, 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054]


# ---- residuals in torch, problem by problem
def rosenbrock(x):
    return torch.stack([10 * (x[..., 1] - x[..., 0] ** 2), 1 - x[..., 0]], dim=-1)


def freudenstein_roth(x):
    x1, x2 = x.unbind(-1)
    return torch.stack([-13 + x1 + ((5 - x2) * x2 - 2) * x2,
                        -29 + x1 + ((x2 + 1) * x2 - 14) * x2], dim=-1)


def powell_badly_scaled(x):
    x1, x2 = x.unbind(-1)
    return torch.stack([1e4 * x1 * x2 - 1, torch.exp(-x1) + torch.exp(-x2) - 1.0001], dim=-1)


def brown_badly_scaled(x):
    x1, x2 = x.unbind(-1)
    return torch.stack([x1 - 1e6, x2 - 2e-6, x1 * x2 - 2], dim=-1)


def beale(x):
    i = _i(x, 1, 4)
    return _like(x, [1.5, 2.25, 2.625]) - _col(x, 0) * (1 - _col(x, 1) ** i)


def jennrich_sampson(x):
    i = _i(x, 1, 11)
    return 2 + 2 * i - (torch.exp(i * _col(x, 0)) + torch.exp(i * _col(x, 1)))


def helical_valley(x):
    x1, x2, x3 = x.unbind(-1)
    theta = torch.atan(x2 / x1) / (2 * math.pi) + torch.where(x1 > 0, 0.0, 0.5)
    return torch.stack([10 * (x3 - 10 * theta), 10 * (torch.sqrt(x1**2 + x2**2) - 1), x3], dim=-1)


def bard(x):
    u = _i(x, 1, 16)
    v = 16 - u
    w = torch.minimum(u, v)
    return _like(x, BARD_Y) - (_col(x, 0) + u / (v * _col(x, 1) + w * _col(x, 2)))


def gaussian(x):
    t = (8 - _i(x, 1, 16)) / 2
    return _col(x, 0) * torch.exp(-_col(x, 1) * (t - _col(x, 2)) ** 2 / 2) - _like(x, GAUSSIAN_Y)


def meyer(x):
    t = 45 + 5 * _i(x, 1, 17)
    return _col(x, 0) * torch.exp(_col(x, 1) / (t + _col(x, 2))) - _like(x, MEYER_Y)


def gulf(x):
    t = _i(x, 1, 100) / 100
    y = 25 + (-50 * torch.log(t)) ** (2 / 3)
    return torch.exp(-torch.abs(y - _col(x, 1)) ** _col(x, 2) / _col(x, 0)) - t


def box_3d(x):
    t = _i(x, 1, 11) / 10
    return (torch.exp(-t * _col(x, 0)) - torch.exp(-t * _col(x, 1))
            - _col(x, 2) * (torch.exp(-t) - torch.exp(-10 * t)))


def powell_singular(x):
    x1, x2, x3, x4 = x.unbind(-1)
    return torch.stack([x1 + 10 * x2, math.sqrt(5) * (x3 - x4), (x2 - 2 * x3) ** 2,
                        math.sqrt(10) * (x1 - x4) ** 2], dim=-1)


def wood(x):
    x1, x2, x3, x4 = x.unbind(-1)
    return torch.stack([10 * (x2 - x1**2), 1 - x1, math.sqrt(90) * (x4 - x3**2), 1 - x3,
                        math.sqrt(10) * (x2 + x4 - 2), (x2 - x4) / math.sqrt(10)], dim=-1)


def kowalik_osborne(x):
    u = _like(x, KOWALIK_U)
    return _like(x, KOWALIK_Y) - _col(x, 0) * (u**2 + u * _col(x, 1)) / (
        u**2 + u * _col(x, 2) + _col(x, 3))


def brown_dennis(x):
    t = _i(x, 1, 21) / 5
    return ((_col(x, 0) + t * _col(x, 1) - torch.exp(t)) ** 2
            + (_col(x, 2) + _col(x, 3) * torch.sin(t) - torch.cos(t)) ** 2)


def osborne_1(x):
    t = 10 * _i(x, 0, 33)
    return _like(x, OSBORNE1_Y) - (_col(x, 0) + _col(x, 1) * torch.exp(-t * _col(x, 3))
                                   + _col(x, 2) * torch.exp(-t * _col(x, 4)))


def biggs_exp6(x):
    t = _i(x, 1, 14) / 10
    y = torch.exp(-t) - 5 * torch.exp(-10 * t) + 3 * torch.exp(-4 * t)
    return (_col(x, 2) * torch.exp(-t * _col(x, 0)) - _col(x, 3) * torch.exp(-t * _col(x, 1))
            + _col(x, 5) * torch.exp(-t * _col(x, 4)) - y)


def osborne_2(x):
    t = _i(x, 0, 65) / 10
    model = _col(x, 0) * torch.exp(-t * _col(x, 4))
    for k in range(3):  # three Gaussian peaks: height x[1+k], width x[5+k], centre x[8+k]
        model = model + _col(x, 1 + k) * torch.exp(-(t - _col(x, 8 + k)) ** 2 * _col(x, 5 + k))
    return _like(x, OSBORNE2_Y) - model


def watson(x, n=6):
    t = _i(x, 1, 30) / 29
    j = _i(x, 1, n + 1)
    powers = t.unsqueeze(-1) ** (j - 1)  # (29, n): t_i^(j-1)
    xs = x.unsqueeze(-2)  # (..., 1, n)
    slope = ((j[1:] - 1) * xs[..., 1:] * powers[:, :-1]).sum(-1)
    level = (xs * powers).sum(-1)
    tail = torch.stack([x[..., 0], x[..., 1] - x[..., 0] ** 2 - 1], dim=-1)
    return torch.cat([slope - level**2 - 1, tail], dim=-1)


def extended_rosenbrock(x):
    odd, even = x[..., 0::2], x[..., 1::2]
    return torch.cat([10 * (even - odd**2), 1 - odd], dim=-1)


def extended_powell(x):
    a, b, c, d = (x[..., k::4] for k in range(4))
    return torch.cat([a + 10 * b, math.sqrt(5) * (c - d), (b - 2 * c) ** 2,
                      math.sqrt(10) * (a - d) ** 2], dim=-1)


def penalty_1(x):
    tail = (x**2).sum(-1, keepdim=True) - 0.25
    return torch.cat([math.sqrt(1e-5) * (x - 1), tail], dim=-1)


def penalty_2(x):
    n = x.shape[-1]
    i = _i(x, 2, n + 1)
    y = torch.exp(i / 10) + torch.exp((i - 1) / 10)
    e = torch.exp(x / 10)
    middle = math.sqrt(1e-5) * (e[..., 1:] + e[..., :-1] - y)
    late = math.sqrt(1e-5) * (e[..., 1:] - math.exp(-0.1))
    weights = n + 1 - _i(x, 1, n + 1)  # n − j + 1
    last = (weights * x**2).sum(-1, keepdim=True) - 1
    return torch.cat([x[..., :1] - 0.2, middle, late, last], dim=-1)


def variably_dimensioned(x):
    n = x.shape[-1]
    s = (_i(x, 1, n + 1) * (x - 1)).sum(-1, keepdim=True)
    return torch.cat([x - 1, s, s**2], dim=-1)


def trigonometric(x):
    n = x.shape[-1]
    i = _i(x, 1, n + 1)
    return n - torch.cos(x).sum(-1, keepdim=True) + i * (1 - torch.cos(x)) - torch.sin(x)


def brown_almost_linear(x):
    n = x.shape[-1]
    first = x[..., :-1] + x.sum(-1, keepdim=True) - (n + 1)
    return torch.cat([first, x.prod(-1, keepdim=True) - 1], dim=-1)


def _padded(x):
    zero = torch.zeros_like(x[..., :1])
    return torch.cat([zero, x, zero], dim=-1)  # x₀ = x_{n+1} = 0


def discrete_boundary_value(x):
    n = x.shape[-1]
    h = 1 / (n + 1)
    t = _i(x, 1, n + 1) * h
    p = _padded(x)
    return 2 * x - p[..., :-2] - p[..., 2:] + h**2 * (x + t + 1) ** 3 / 2


def discrete_integral_equation(x):
    n = x.shape[-1]
    h = 1 / (n + 1)
    t = _i(x, 1, n + 1) * h
    cube = (x + t + 1) ** 3
    lower = torch.cumsum(t * cube, dim=-1)  # Σ_{j ≤ i} t_j (x_j + t_j + 1)³
    upper = torch.flip(torch.cumsum(torch.flip((1 - t) * cube, [-1]), dim=-1), [-1])
    upper = torch.cat([upper[..., 1:], torch.zeros_like(upper[..., :1])], dim=-1)  # j > i
    return x + h * ((1 - t) * lower + t * upper) / 2


def broyden_tridiagonal(x):
    p = _padded(x)
    return (3 - 2 * x) * x - p[..., :-2] - 2 * p[..., 2:] + 1


def broyden_banded(x):
    n = x.shape[-1]
    i = torch.arange(n).unsqueeze(-1)
    j = torch.arange(n).unsqueeze(0)
    band = ((j >= i - 5) & (j <= i + 1) & (j != i)).to(x.dtype)  # (n, n): J_i
    return x * (2 + 5 * x**2) + 1 - ((x * (1 + x)).unsqueeze(-2) * band).sum(-1)


def linear_full_rank(x, m=20):
    n = x.shape[-1]
    s = x.sum(-1, keepdim=True)
    head = x - 2 / m * s - 1
    return torch.cat([head, (-2 / m * s - 1).expand(*x.shape[:-1], m - n)], dim=-1)


def linear_rank_1(x, m=20):
    n = x.shape[-1]
    s = (_i(x, 1, n + 1) * x).sum(-1, keepdim=True)
    return _i(x, 1, m + 1) * s - 1


def linear_rank_1_zero(x, m=20):
    n = x.shape[-1]
    s = (_i(x, 2, n) * x[..., 1 : n - 1]).sum(-1, keepdim=True)
    middle = _i(x, 1, m - 1) * s - 1  # (i − 1) for i = 2 … m − 1
    minus_one = -torch.ones_like(s)
    return torch.cat([minus_one, middle, minus_one], dim=-1)


def chebyquad(x):
    n = x.shape[-1]
    u = 2 * x - 1
    t_prev, t_curr = torch.ones_like(u), u  # T₀, T₁ shifted to [0, 1], by the recurrence
    rows = []
    for i in range(1, n + 1):
        integral = -1 / (i**2 - 1) if i % 2 == 0 else 0.0
        rows.append(t_curr.mean(-1) - integral)
        t_prev, t_curr = t_curr, 2 * u * t_curr - t_prev
    return torch.stack(rows, dim=-1)


def _range(n: int, f) -> tuple[float, ...]:
    return tuple(float(f(j)) for j in range(1, n + 1))


PROBLEMS = [
    Problem(1, "Rosenbrock", 2, 2,
            "(10*(x[1] - x[0]**2))**2 + (1 - x[0])**2",
            rosenbrock, (-1.2, 1.0), minimum=0.0, minimizer=(1.0, 1.0)),
    Problem(2, "Freudenstein and Roth", 2, 2,
            "(-13 + x[0] + ((5 - x[1])*x[1] - 2)*x[1])**2"
            " + (-29 + x[0] + ((x[1] + 1)*x[1] - 14)*x[1])**2",
            freudenstein_roth, (0.5, -2.0), minimum=0.0, minimizer=(5.0, 4.0)),
    Problem(3, "Powell badly scaled", 2, 2,
            "(1e4*x[0]*x[1] - 1)**2 + (exp(-x[0]) + exp(-x[1]) - 1.0001)**2",
            powell_badly_scaled, (0.0, 1.0), minimum=0.0),
    Problem(4, "Brown badly scaled", 2, 3,
            "(x[0] - 1e6)**2 + (x[1] - 2e-6)**2 + (x[0]*x[1] - 2)**2",
            brown_badly_scaled, (1.0, 1.0), minimum=0.0, minimizer=(1e6, 2e-6)),
    Problem(5, "Beale", 2, 3,
            "sum((y[i-1] - x[0]*(1 - x[1]**i))**2 for i in range(1, 4))",
            beale, (1.0, 1.0), data={"y": [1.5, 2.25, 2.625]}, minimum=0.0,
            minimizer=(3.0, 0.5)),
    Problem(6, "Jennrich and Sampson", 2, 10,
            "sum((2 + 2*i - (exp(i*x[0]) + exp(i*x[1])))**2 for i in range(1, m + 1))",
            jennrich_sampson, (0.3, 0.4), constants={"m": 10}, minimum=124.362, digits=6),
    Problem(7, "Helical valley", 3, 3,
            "(10*(x[2] - 10*(atan(x[1]/x[0])/(2*pi) + where(x[0] > 0, 0, 0.5))))**2"
            " + (10*(sqrt(x[0]**2 + x[1]**2) - 1))**2 + x[2]**2",
            helical_valley, (-1.0, 0.0, 0.0), minimum=0.0, minimizer=(1.0, 0.0, 0.0)),
    Problem(8, "Bard", 3, 15,
            "sum((y[i-1] - (x[0] + i/((16 - i)*x[1] + where(i <= 8, i, 16 - i)*x[2])))**2"
            " for i in range(1, 16))",
            bard, (1.0, 1.0, 1.0), data={"y": BARD_Y}, minimum=8.21487e-3, digits=6),
    Problem(9, "Gaussian", 3, 15,
            "sum((x[0]*exp(-x[1]*((8 - i)/2 - x[2])**2/2) - y[i-1])**2 for i in range(1, 16))",
            gaussian, (0.4, 1.0, 0.0), data={"y": GAUSSIAN_Y}, minimum=1.12793e-8, digits=6),
    Problem(10, "Meyer", 3, 16,
            "sum((x[0]*exp(x[1]/(45 + 5*i + x[2])) - y[i-1])**2 for i in range(1, 17))",
            meyer, (0.02, 4000.0, 250.0), data={"y": MEYER_Y}, minimum=87.9458, digits=6),
    Problem(11, "Gulf research and development", 3, 99,
            "sum((exp(-abs(25 + (-50*log(i/100))**(2/3) - x[1])**x[2]/x[0]) - i/100)**2"
            " for i in range(1, m + 1))",
            gulf, (5.0, 2.5, 0.15), constants={"m": 99}, minimum=0.0,
            minimizer=(50.0, 25.0, 1.5)),
    Problem(12, "Box three-dimensional", 3, 10,
            "sum((exp(-i/10*x[0]) - exp(-i/10*x[1]) - x[2]*(exp(-i/10) - exp(-i)))**2"
            " for i in range(1, m + 1))",
            box_3d, (0.0, 10.0, 20.0), constants={"m": 10}, minimum=0.0,
            minimizer=(1.0, 10.0, 1.0)),
    Problem(13, "Powell singular", 4, 4,
            "(x[0] + 10*x[1])**2 + (sqrt(5)*(x[2] - x[3]))**2 + ((x[1] - 2*x[2])**2)**2"
            " + (sqrt(10)*(x[0] - x[3])**2)**2",
            powell_singular, (3.0, -1.0, 0.0, 1.0), minimum=0.0, minimizer=(0.0,) * 4),
    Problem(14, "Wood", 4, 6,
            "(10*(x[1] - x[0]**2))**2 + (1 - x[0])**2 + (sqrt(90)*(x[3] - x[2]**2))**2"
            " + (1 - x[2])**2 + (sqrt(10)*(x[1] + x[3] - 2))**2 + ((x[1] - x[3])/sqrt(10))**2",
            wood, (-3.0, -1.0, -3.0, -1.0), minimum=0.0, minimizer=(1.0,) * 4),
    Problem(15, "Kowalik and Osborne", 4, 11,
            "sum((y[i] - x[0]*(u[i]**2 + u[i]*x[1])/(u[i]**2 + u[i]*x[2] + x[3]))**2"
            " for i in range(11))",
            kowalik_osborne, (0.25, 0.39, 0.415, 0.39), data={"y": KOWALIK_Y, "u": KOWALIK_U},
            minimum=3.07505e-4, digits=6),
    Problem(16, "Brown and Dennis", 4, 20,
            "sum(((x[0] + i/5*x[1] - exp(i/5))**2 + (x[2] + x[3]*sin(i/5) - cos(i/5))**2)**2"
            " for i in range(1, m + 1))",
            brown_dennis, (25.0, 5.0, -5.0, -1.0), constants={"m": 20}, minimum=85822.2,
            digits=6),
    Problem(17, "Osborne 1", 5, 33,
            "sum((y[i-1] - (x[0] + x[1]*exp(-10*(i - 1)*x[3]) + x[2]*exp(-10*(i - 1)*x[4])))**2"
            " for i in range(1, 34))",
            osborne_1, (0.5, 1.5, -1.0, 0.01, 0.02), data={"y": OSBORNE1_Y},
            minimum=5.46489e-5, digits=6),
    Problem(18, "Biggs EXP6", 6, 13,
            "sum((x[2]*exp(-i/10*x[0]) - x[3]*exp(-i/10*x[1]) + x[5]*exp(-i/10*x[4])"
            " - (exp(-i/10) - 5*exp(-i) + 3*exp(-4*i/10)))**2 for i in range(1, m + 1))",
            biggs_exp6, (1.0, 2.0, 1.0, 1.0, 1.0, 1.0), constants={"m": 13}, minimum=0.0,
            minimizer=(1.0, 10.0, 1.0, 5.0, 4.0, 3.0)),
    Problem(19, "Osborne 2", 11, 65,
            "sum((y[i-1] - (x[0]*exp(-(i - 1)/10*x[4])"
            " + x[1]*exp(-((i - 1)/10 - x[8])**2*x[5])"
            " + x[2]*exp(-((i - 1)/10 - x[9])**2*x[6])"
            " + x[3]*exp(-((i - 1)/10 - x[10])**2*x[7])))**2 for i in range(1, 66))",
            osborne_2, (1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5),
            data={"y": OSBORNE2_Y}, minimum=4.01377e-2, digits=6),
    Problem(20, "Watson", 6, 31,
            "sum((sum((j - 1)*x[j-1]*(i/29)**(j - 2) for j in range(2, n + 1))"
            " - sum(x[j-1]*(i/29)**(j - 1) for j in range(1, n + 1))**2 - 1)**2"
            " for i in range(1, 30)) + x[0]**2 + (x[1] - x[0]**2 - 1)**2",
            watson, (0.0,) * 6, constants={"n": 6}, minimum=2.28767e-3, digits=6),
    Problem(21, "Extended Rosenbrock", 10, 10,
            "sum((10*(x[2*i+1] - x[2*i]**2))**2 + (1 - x[2*i])**2 for i in range(n//2))",
            extended_rosenbrock, (-1.2, 1.0) * 5, constants={"n": 10}, minimum=0.0,
            minimizer=(1.0,) * 10),
    Problem(22, "Extended Powell singular", 8, 8,
            "sum((x[4*i] + 10*x[4*i+1])**2 + (sqrt(5)*(x[4*i+2] - x[4*i+3]))**2"
            " + ((x[4*i+1] - 2*x[4*i+2])**2)**2 + (sqrt(10)*(x[4*i] - x[4*i+3])**2)**2"
            " for i in range(n//4))",
            extended_powell, (3.0, -1.0, 0.0, 1.0) * 2, constants={"n": 8}, minimum=0.0,
            minimizer=(0.0,) * 8),
    Problem(23, "Penalty I", 10, 11,
            "sum((sqrt(a)*(x[i] - 1))**2 for i in range(n))"
            " + (sum(x[j]**2 for j in range(n)) - 1/4)**2",
            penalty_1, _range(10, lambda j: j), constants={"n": 10, "a": 1e-5},
            minimum=7.08765e-5, digits=6),
    Problem(24, "Penalty II", 10, 20,
            "(x[0] - 0.2)**2"
            " + sum((sqrt(a)*(exp(x[i-1]/10) + exp(x[i-2]/10) - (exp(i/10) + exp((i - 1)/10))))**2"
            " for i in range(2, n + 1))"
            " + sum((sqrt(a)*(exp(x[i-n]/10) - exp(-1/10)))**2 for i in range(n + 1, 2*n))"
            " + (sum((n - j + 1)*x[j-1]**2 for j in range(1, n + 1)) - 1)**2",
            penalty_2, (0.5,) * 10, constants={"n": 10, "a": 1e-5}, minimum=2.93660e-4,
            digits=6),
    Problem(25, "Variably dimensioned", 10, 12,
            "sum((x[j-1] - 1)**2 for j in range(1, n + 1))"
            " + sum(j*(x[j-1] - 1) for j in range(1, n + 1))**2"
            " + (sum(j*(x[j-1] - 1) for j in range(1, n + 1))**2)**2",
            variably_dimensioned, _range(10, lambda j: 1 - j / 10), constants={"n": 10},
            minimum=0.0, minimizer=(1.0,) * 10),
    Problem(26, "Trigonometric", 10, 10,
            "sum((n - sum(cos(x[j]) for j in range(n)) + i*(1 - cos(x[i-1])) - sin(x[i-1]))**2"
            " for i in range(1, n + 1))",
            trigonometric, (0.1,) * 10, constants={"n": 10}, minimum=0.0),
    Problem(27, "Brown almost-linear", 10, 10,
            "sum((x[i] + sum(x[j] for j in range(n)) - (n + 1))**2 for i in range(n - 1))"
            " + (prod(x[j] for j in range(n)) - 1)**2",
            brown_almost_linear, (0.5,) * 10, constants={"n": 10}, minimum=0.0),
    Problem(28, "Discrete boundary value", 10, 10,
            "sum((2*x[i-1] - where(i > 1, x[i-2], 0) - where(i < n, x[i], 0)"
            " + (x[i-1] + i/(n + 1) + 1)**3/(2*(n + 1)**2))**2 for i in range(1, n + 1))",
            discrete_boundary_value, _range(10, lambda j: j / 11 * (j / 11 - 1)),
            constants={"n": 10}, minimum=0.0),
    Problem(29, "Discrete integral equation", 10, 10,
            "sum((x[i-1] + ((1 - i/(n + 1))*sum(j/(n + 1)*(x[j-1] + j/(n + 1) + 1)**3"
            " for j in range(1, i + 1)) + i/(n + 1)*sum((1 - j/(n + 1))*(x[j-1] + j/(n + 1) + 1)**3"
            " for j in range(i + 1, n + 1)))/(2*(n + 1)))**2 for i in range(1, n + 1))",
            discrete_integral_equation, _range(10, lambda j: j / 11 * (j / 11 - 1)),
            constants={"n": 10}, minimum=0.0),
    Problem(30, "Broyden tridiagonal", 10, 10,
            "sum(((3 - 2*x[i-1])*x[i-1] - where(i > 1, x[i-2], 0) - 2*where(i < n, x[i], 0)"
            " + 1)**2 for i in range(1, n + 1))",
            broyden_tridiagonal, (-1.0,) * 10, constants={"n": 10}, minimum=0.0),
    Problem(31, "Broyden banded", 10, 10,
            "sum((x[i-1]*(2 + 5*x[i-1]**2) + 1 - sum(where(j != i and i - 5 <= j <= i + 1,"
            " x[j-1]*(1 + x[j-1]), 0) for j in range(1, n + 1)))**2 for i in range(1, n + 1))",
            broyden_banded, (-1.0,) * 10, constants={"n": 10}, minimum=0.0),
    Problem(32, "Linear function - full rank", 10, 20,
            "sum((x[i] - 2/m*sum(x[j] for j in range(n)) - 1)**2 for i in range(n))"
            " + sum((-2/m*sum(x[j] for j in range(n)) - 1)**2 for i in range(n, m))",
            linear_full_rank, (1.0,) * 10, constants={"n": 10, "m": 20}, minimum=10.0,
            minimizer=(-1.0,) * 10),
    Problem(33, "Linear function - rank 1", 10, 20,
            "sum((i*sum(j*x[j-1] for j in range(1, n + 1)) - 1)**2 for i in range(1, m + 1))",
            linear_rank_1, (1.0,) * 10, constants={"n": 10, "m": 20},
            minimum=20 * 19 / (2 * 41)),
    Problem(34, "Linear function - rank 1 with zero columns and rows", 10, 20,
            "1 + sum(((i - 1)*sum(j*x[j-1] for j in range(2, n)) - 1)**2 for i in range(2, m))"
            " + 1",
            linear_rank_1_zero, (1.0,) * 10, constants={"n": 10, "m": 20},
            minimum=(20**2 + 3 * 20 - 6) / (2 * (2 * 20 - 3))),
    Problem(35, "Chebyquad", 8, 8,
            "sum((sum(cos(i*acos(2*x[j] - 1)) for j in range(n))/n"
            " - where(i % 2 == 0, -1/(i**2 - 1), 0))**2 for i in range(1, m + 1))",
            chebyquad, _range(8, lambda j: j / 9), constants={"n": 8, "m": 8},
            minimum=3.51687e-3, digits=6),
]
