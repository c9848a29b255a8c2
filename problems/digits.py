"""Handwritten digits as 8x8 grey images: 1,797 images, 10 classes.

scikit-learn ships the UCI digits, so they load offline in milliseconds. Pixels (0..16)
are scaled to [0, 1] and shaped ``(8, 8, 1)`` for convolutions; the validation split
(20%) is stratified.

Example:
    >>> from problems.digits import problem
    >>> data = problem.load_data()
    >>> data.train[0].shape, data.valid[0].shape
    ((1437, 8, 8, 1), (360, 8, 8, 1))
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from nas.problem import Categorical, Dataset, Float, Int, Problem
from problems._baselines import majority_class_accuracy

IMAGE_SHAPE = (8, 8, 1)
#: The largest pixel value of the scikit-learn digits.
MAX_PIXEL = 16.0
VALID_FRACTION = 0.2
SEED = 1797


def load_data() -> Dataset:
    """Images (float32 in [0, 1], shape ``(n, 8, 8, 1)``) and labels 0..9."""
    digits = load_digits()
    images = (digits.images / MAX_PIXEL).astype(np.float32)[..., np.newaxis]
    x_train, x_valid, y_train, y_valid = train_test_split(
        images, digits.target, test_size=VALID_FRACTION, stratify=digits.target, random_state=SEED
    )
    return Dataset(
        train=(x_train, y_train),
        valid=(x_valid, y_valid),
        baselines={"majority_class": majority_class_accuracy(y_train, y_valid)},
    )


problem = Problem(
    "digits",
    load_data,
    "spaces.conv_cell:conv_cell_space",
    space_kwargs={
        "input_shape": list(IMAGE_SHAPE),
        "output_units": 10,
        "num_cells": 2,
        "nodes_per_cell": 3,
        "filters": 8,
    },
    hyperparameters={
        "batch_size": Int(16, 128, log=True, default=32),
        "learning_rate": Float(1e-4, 3e-2, log=True, default=3e-3),
        "optimizer": Categorical(["adam", "rmsprop", "adamw"]),
        "epochs": 5,
        "patience": 2,
    },
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    objective="val_accuracy",
    direction="max",
    description="scikit-learn digits: 8x8x1 images of handwritten digits, 10 classes.",
)
