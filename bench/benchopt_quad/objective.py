"""benchopt objective: f(x) = x^T A x with A = diag(4, 1), the grid of bench/bench_sweep.py.

f(x) = 4 x0^2 + x1^2, minimum 0 at the origin. Every solver runs once (``run_once``): a
fixed budget of gradient steps, no time/accuracy curve. See bench/bench_benchopt.py.
"""

import torch
from benchopt import BaseObjective


class Objective(BaseObjective):
    name = "quad"
    min_benchopt_version = "1.10"
    requirements = ["pip::torch"]
    parameters = {}
    sampling_strategy = "run_once"  # one run per (solver, dataset), no iteration sweep

    def set_data(self, x0):
        self.x0 = x0
        self.A = torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64))

    def get_objective(self):
        return {"x0": self.x0, "A": self.A}

    def evaluate_result(self, x):
        return {"value": float(x @ self.A @ x)}  # final f value

    def get_one_result(self):
        return {"x": torch.zeros_like(self.x0)}
