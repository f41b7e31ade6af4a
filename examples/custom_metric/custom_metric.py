"""A custom metric for hokusai: any `function(y_true, y_pred, y_proba) -> float`.

Register it in hokusai.toml (this file must be importable from the project folder; see
hokusai.toml and README.md next to this file):

    [evaluation.custom_metrics.top_class_recall]
    function = "custom_metric:top_class_recall"
    direction = "higher"
    bounded = true

    [model]
    primary_metric = "top_class_recall"   # optional: a bounded, higher-is-better metric can be primary
"""

import numpy as np


def top_class_recall(y_true: np.ndarray, y_pred: np.ndarray, y_proba: np.ndarray) -> float:
    """Recall of the last (highest) class label: how many of its rows the model finds."""
    top = np.sort(np.unique(y_true))[-1]
    mask = y_true == top
    return float(np.mean(y_pred[mask] == top)) if mask.any() else 0.0
