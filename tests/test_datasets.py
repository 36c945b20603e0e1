"""The bundled data sets read without importing scikit-learn (objectives.datasets) are, value
for value, what scikit-learn's own loaders return."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sklearn.datasets

from objectives.datasets import SKLEARN, _sklearn


@pytest.mark.parametrize("name", sorted(SKLEARN))
def test_a_bundled_data_set_is_scikit_learns_to_the_last_bit(name):
    loader, task = SKLEARN[name]
    X_ref, y_ref = getattr(sklearn.datasets, loader)(return_X_y=True)
    X, y = _sklearn(loader)
    assert X.dtype == np.float64 and X.shape == X_ref.shape
    np.testing.assert_array_equal(X, X_ref)
    assert y.dtype == (np.float64 if task == "regression" else np.int64)
    np.testing.assert_array_equal(y, y_ref)


def test_loading_a_data_set_does_not_import_scikit_learn():
    code = ("import sys; from objectives.datasets import load; load('digits'); "
            "print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False"
