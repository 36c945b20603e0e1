"""Objectives (the problems) and gradient methods (how they are differentiated)."""

from objectives.base import Objective, ObjectiveError
from objectives.expression import Expression
from objectives.gradients import (
    Analytic,
    Autograd,
    ComplexStep,
    FiniteDifference,
    GradientMethod,
)
from objectives.python import PythonFunction
from objectives.quadratic import Quadratic
from objectives.regression import LinearRegression
from objectives.rosenbrock import Rosenbrock
from objectives.softmax import SoftmaxClassifier

OBJECTIVES: dict[str, type[Objective]] = {
    cls.name: cls
    for cls in (Quadratic, Rosenbrock, LinearRegression, SoftmaxClassifier, Expression,
                PythonFunction)
}


def register(cls: type[Objective]) -> type[Objective]:
    """Add an objective class to the registry (used in error messages and tests)."""
    OBJECTIVES[cls.name] = cls
    return cls


def objectives_with_analytic_grad() -> list[str]:
    return sorted(name for name, cls in OBJECTIVES.items() if cls.has_analytic_grad is True)


__all__ = [
    "OBJECTIVES",
    "Analytic",
    "Autograd",
    "ComplexStep",
    "Expression",
    "FiniteDifference",
    "GradientMethod",
    "LinearRegression",
    "Objective",
    "PythonFunction",
    "ObjectiveError",
    "Quadratic",
    "Rosenbrock",
    "SoftmaxClassifier",
    "objectives_with_analytic_grad",
    "register",
]
