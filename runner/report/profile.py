"""Dolan–Moré performance profiles: which configuration solves most problems fastest.

A problem p is an objective (with its params) and a seed; a solver s is a configuration
(optimizer, gradient and their varying params). The cost t_{p,s} is the first step at which
the Moré–Wild convergence test holds,

    f(x_t) − f_L ≤ τ (f(x_0) − f_L),

with f_L = f* where it is known (the run logs f − f*), else the lowest f any solver
reached on p; t = ∞ when it never holds (or the run diverged or failed). The profile of s
is ρ_s(α) = |{p : t_{p,s} ≤ α · min_s' t_{p,s'}}| / |P|.

Dolan & Moré, "Benchmarking optimization software with performance profiles",
Math. Program. 91 (2002); Moré & Wild, "Benchmarking derivative-free optimization
algorithms", SIAM J. Optim. 20 (2009).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runner.headless import pyplot
from runner.report.data import SEED, RunData, varying_within

MAX_SOLVERS = 10


@dataclass
class Profile:
    """The figure and the costs behind it."""

    figure: object
    problems: list[tuple[str, ...]]
    solvers: list[tuple[str, ...]]
    cost: np.ndarray  # problems × solvers, steps to pass the test (inf: never)
    shown: list[int]  # the solvers drawn, best first

    def rho(self, alphas: np.ndarray) -> np.ndarray:
        """ρ_s(α) for every solver (rows) and α (columns)."""
        return fraction_within(self.cost, np.asarray(alphas, dtype=float))


def ratios(cost: np.ndarray) -> np.ndarray:
    """r_{p,s} = t_{p,s} / min_s t_{p,s} (nan where no solver passed p)."""
    with np.errstate(invalid="ignore"):  # inf / inf
        return cost / np.min(cost, axis=1, keepdims=True)


def fraction_within(cost: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Per solver, the fraction of problems whose cost is within α of the problem's best."""
    return (ratios(cost)[:, :, None] <= alphas).mean(axis=0)


def is_problem_key(key: str) -> bool:
    """Params that make a problem: the seed (x₀) and the objective's own."""
    return key == SEED or key.startswith("objective.")


def keys(runs: list[RunData]) -> tuple[list[str], list[str]]:
    """(problem keys, solver keys): the objective and the params swept within one objective
    (its own params, the seed); the optimizer, the gradient and the params swept within
    one of them (a param fixed by the optimizer's choice, like sgd's momentum=0, adds
    nothing), and the sweep where the runs come from several."""
    within_objective = varying_within(runs, ("objective",))
    within_solver = varying_within(runs, ("optimizer", "gradient"))
    problem = ["objective", *[k for k in within_objective if is_problem_key(k)]]
    sweeps = ["sweep"] if len({r.tags.get("sweep") for r in runs}) > 1 else []
    solver = [*sweeps, "optimizer", "gradient",
              *[k for k in within_solver if not is_problem_key(k)]]
    return problem, solver


def steps_to_pass(run: RunData, f_low: float, tau: float) -> float:
    """First step where the convergence test holds (at least 1), else inf."""
    h = run.history
    if run.bad or h is None or not len(h.values):
        return np.inf
    gap = h.values - f_low
    hit = np.flatnonzero(gap <= tau * gap[0])
    return float(max(h.steps[hit[0]], 1)) if len(hit) else np.inf


def profile(runs: list[RunData], tau: float = 1e-3) -> Profile:
    """The cost table and the figure of ρ_s against α (log₂ scale)."""
    pkeys, skeys = keys(runs)
    problems = sorted({tuple(r.get(k) for k in pkeys) for r in runs})
    solvers = sorted({tuple(r.get(k) for k in skeys) for r in runs})
    cost = np.full((len(problems), len(solvers)), np.inf)
    for p, problem in enumerate(problems):
        members = [r for r in runs if tuple(r.get(k) for k in pkeys) == problem]
        f_low = _lowest(members)
        for r in members:
            s = solvers.index(tuple(r.get(k) for k in skeys))
            cost[p, s] = min(cost[p, s], steps_to_pass(r, f_low, tau))
    r = ratios(cost)
    alphas = np.geomspace(1, max(r[np.isfinite(r)].max(initial=1.0) * 1.05, 2.0), 200)
    rho = fraction_within(cost, alphas)
    shown = list(np.argsort(-rho.sum(axis=1), kind="stable")[:MAX_SOLVERS])
    figure = _figure(alphas, rho, shown, solvers, skeys, tau, len(problems))
    return Profile(figure, problems, solvers, cost, [int(s) for s in shown])


def _lowest(members: list[RunData]) -> float:
    if all(r.key == "suboptimality" for r in members):
        return 0.0
    lows = [np.min(r.history.values) for r in members
            if not r.bad and r.history is not None and len(r.history.values)]
    return float(min(lows)) if lows else 0.0


def _figure(alphas, rho, shown, solvers, skeys, tau: float, n_problems: int):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=90)
    cmap = plt.get_cmap("tab10")
    # name a solver by what tells it apart: the keys whose values differ between solvers
    distinct = [i for i in range(len(skeys)) if len({s[i] for s in solvers}) > 1] or [0]
    for n, s in enumerate(shown):
        label = " · ".join(f"{skeys[i].split('.')[-1]}={solvers[s][i]}" if "." in skeys[i]
                           else solvers[s][i] for i in distinct)
        ax.step(alphas, rho[s], where="post", color=cmap(n % 10), lw=1.6, label=label)
    ax.set_xscale("log", base=2)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("α (within this factor of the fastest, in steps)")
    ax.set_ylabel("fraction of problems solved")
    hidden = len(solvers) - len(shown)
    ax.set_title(f"performance profile: {n_problems} problems, τ = {tau:g}"
                 + (f", best {len(shown)} of {len(solvers)} configurations" if hidden else ""),
                 fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig
