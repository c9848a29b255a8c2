"""Scores of trivial predictors, so that "better than chance" can be checked."""

from __future__ import annotations

import numpy as np


def majority_class_accuracy(y_train: np.ndarray, y_valid: np.ndarray) -> float:
    """Validation accuracy of always predicting the most frequent training class."""
    majority = np.bincount(y_train).argmax()
    return float(np.mean(y_valid == majority))
