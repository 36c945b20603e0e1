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

__all__ = [
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
]
