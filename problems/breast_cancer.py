"""Breast cancer diagnosis: 569 tumours, 30 measurements each, malignant or benign.

The Wisconsin diagnostic set ships with scikit-learn, so it loads offline in a few
milliseconds. Features are standardised with statistics of the training split only;
the validation split (20%) is stratified so both splits keep the class balance.

Example:
    >>> from problems.breast_cancer import problem
    >>> data = problem.load_data()
    >>> data.train[0].shape, data.valid[0].shape
    ((455, 30), (114, 30))
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from nas.problem import Categorical, Dataset, Float, Int, Problem
from problems._baselines import majority_class_accuracy

VALID_FRACTION = 0.2
SEED = 2024


def load_data() -> Dataset:
    """Standardised features (float32) and labels 0 (malignant) / 1 (benign)."""
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_valid, y_train, y_valid = train_test_split(
        x, y, test_size=VALID_FRACTION, stratify=y, random_state=SEED
    )
    scaler = StandardScaler().fit(x_train)
    return Dataset(
        train=(scaler.transform(x_train).astype(np.float32), y_train),
        valid=(scaler.transform(x_valid).astype(np.float32), y_valid),
        baselines={"majority_class": majority_class_accuracy(y_train, y_valid)},
    )


HYPERPARAMETERS: dict[str, Any] = {
    "batch_size": Int(16, 128, log=True, default=32),
    "learning_rate": Float(1e-4, 1e-1, log=True, default=3e-3),
    "optimizer": Categorical(["adam", "rmsprop", "adamw"]),
    "epochs": 10,
    "patience": 3,
}


def _problem(
    name: str, hyperparameters: dict[str, Any], description: str, **objectives: Any
) -> Problem:
    return Problem(
        name,
        load_data,
        "spaces.dense_skip:dense_skip_space",
        space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 5},
        hyperparameters=hyperparameters,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        description=description,
        **(objectives or {"objective": "val_accuracy", "direction": "max"}),
    )


#: Architecture and hyperparameters, one configuration per rank.
problem = _problem(
    "breast_cancer",
    HYPERPARAMETERS,
    "Wisconsin breast cancer (scikit-learn): 30 features, malignant or benign.",
)

#: The same, where each configuration also chooses its data-parallel width: ``num_ranks``
#: ranks train it together (``batch_size`` is per rank). Needs ``--evaluator mpi``.
parallel_problem = _problem(
    "breast_cancer_parallel",
    {**HYPERPARAMETERS, "num_ranks": Categorical([1, 2])},
    "Wisconsin breast cancer (scikit-learn): 30 features, malignant or benign."
    " Data-parallel width searched too.",
)

#: Accuracy against size: the search finds the Pareto front of the most accurate model
#: at each parameter count (the smallest of the space's models have a few hundred).
compact_problem = _problem(
    "breast_cancer_compact",
    HYPERPARAMETERS,
    "Wisconsin breast cancer (scikit-learn): accuracy against the number of parameters.",
    objective={"val_accuracy": "max", "num_parameters": "min"},
)
