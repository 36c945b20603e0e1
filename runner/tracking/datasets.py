"""The data an objective is fitted to, as an MLflow dataset input: the run page's Datasets,
the runs table's Datasets column.

A run logs its objective's `data()` (regression points, classifier inputs) with the context
`training`; a sweep's runs over the same data share one dataset (MLflow keys it by name and
a digest of the arrays), whether written run by run or in bulk (`sqlstore`).
"""

from __future__ import annotations

import weakref

from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.numpy_dataset import from_numpy
from mlflow.entities import DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from objectives import Objective

CONTEXT = "training"

# an objective's input, made once: a sweep's batch logs it for each of its rows
_MADE: weakref.WeakKeyDictionary[Objective, tuple[DatasetInput, ...]] = (
    weakref.WeakKeyDictionary())


def inputs(objective: Objective) -> tuple[DatasetInput, ...]:
    """The objective's data set as MLflow dataset inputs: one, or none without data."""
    made = _MADE.get(objective)
    if made is None:
        data = objective.data()
        made = () if data is None else (DatasetInput(
            from_numpy(data.features, targets=data.targets, name=data.name,
                       source=CodeDatasetSource(data.source))._to_mlflow_entity(),
            tags=[InputTag(MLFLOW_DATASET_CONTEXT, CONTEXT)]),)
        _MADE[objective] = made
    return made

