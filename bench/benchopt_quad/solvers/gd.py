"""Plain gradient descent, x <- x - lr * grad f(x), grad f(x) = 2 A x, for a fixed 1,000
steps in one run (``run_once``: benchopt calls run() once, not at growing iteration counts)."""

from benchopt import BaseSolver


class Solver(BaseSolver):
    name = "gd"
    requirements = ["pip::torch"]
    parameters = {"lr": [0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.24]}
    sampling_strategy = "run_once"
    n_steps = 1000

    def set_objective(self, x0, A):
        self.x0, self.A = x0, A

    def run(self, stop_val):  # stop_val is unused: the budget is n_steps
        x, A, lr = self.x0.clone(), self.A, self.lr
        for _ in range(self.n_steps):
            x = x - lr * (2 * (A @ x))
        self.x = x

    def get_result(self):
        return {"x": self.x}
