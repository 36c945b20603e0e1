"""The data an objective is fitted to, as an MLflow dataset input: the run page's Datasets,
the runs table's Datasets column.

A run logs its objective's `data()` (regression points, classifier inputs) with the context
`training`; a sweep's runs over the same data share one dataset (MLflow keys it by name and
a digest of the arrays), whether written run by run or in bulk (`sqlstore`).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.numpy_dataset import from_numpy
from mlflow.entities import DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

if TYPE_CHECKING:
    from objectives import Objective

CONTEXT = "training"

# an objective's input, made once: a sweep's batch logs it for each of its rows
_MADE: weakref.WeakKeyDictionary[Objective, tuple[DatasetInput, ...]] = (
    weakref.WeakKeyDictionary())


def inputs(objective: Objective) -> tuple[DatasetInput, ...]:
    """The objective's data set as MLflow dataset inputs: one, or none without data."""
    made = _MADE.get(objective)
    if made is None:
        made = _MADE[objective] = from_data(objective.data())
    return made


def from_data(data: tuple | None) -> tuple[DatasetInput, ...]:
    """A data set as MLflow dataset inputs: `data` an objective's Data, or the same as a plain
    (name, features, targets, source) tuple (a single run's helper process, which does not
    load the objectives), or None."""
    if data is None:
        return ()
    name, features, targets, source = data
    return (DatasetInput(from_numpy(features, targets=targets, name=name,
                                    source=CodeDatasetSource(source))._to_mlflow_entity(),
                         tags=[InputTag(MLFLOW_DATASET_CONTEXT, CONTEXT)]),)
