"""Forest cover type, synthetic: 120,000 plots, 54 features, 7 imbalanced classes.

The real Covertype set (UCI, 581,012 rows) must be downloaded, which cannot happen
here, so this problem generates data of the same shape with scikit-learn's
``make_classification``: 10 continuous features (like elevation, slope, distances)
and two categorical ones one-hot encoded like Covertype's 4 wilderness areas and 40
soil types, for 54 columns; the classes keep Covertype's imbalance (49% and 36% for
the two largest, 0.5% for the smallest). Generation is seeded, so every process makes
the same data. Continuous columns are standardised with training statistics; one-hot
columns stay 0/1. The validation split (20%) is stratified.

Example:
    >>> from problems.covertype import problem
    >>> data = problem.load_data()
    >>> data.train[0].shape, data.valid[0].shape
    ((96000, 54), (24000, 54))
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from nas.problem import Categorical, Dataset, Float, Int, Problem
from problems._baselines import majority_class_accuracy

NUM_SAMPLES = 120_000
NUM_CONTINUOUS = 10
#: Categories of the one-hot features: Covertype's wilderness areas and soil types.
CATEGORIES = (4, 40)
NUM_FEATURES = NUM_CONTINUOUS + sum(CATEGORIES)
#: Class frequencies of Covertype (Spruce/Fir, Lodgepole Pine, ..., Krummholz).
CLASS_FREQUENCIES = (0.365, 0.488, 0.062, 0.005, 0.016, 0.030, 0.034)
VALID_FRACTION = 0.2
SEED = 581_012


def load_data() -> Dataset:
    """54 float32 features (10 standardised, 44 one-hot) and labels 0..6."""
    features, labels = generate(NUM_SAMPLES, SEED)
    x_train, x_valid, y_train, y_valid = train_test_split(
        features, labels, test_size=VALID_FRACTION, stratify=labels, random_state=SEED
    )
    scaler = StandardScaler().fit(x_train[:, :NUM_CONTINUOUS])
    x_train[:, :NUM_CONTINUOUS] = scaler.transform(x_train[:, :NUM_CONTINUOUS])
    x_valid[:, :NUM_CONTINUOUS] = scaler.transform(x_valid[:, :NUM_CONTINUOUS])
    return Dataset(
        train=(x_train, y_train),
        valid=(x_valid, y_valid),
        baselines={"majority_class": majority_class_accuracy(y_train, y_valid)},
    )


def generate(num_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unscaled features (float32, ``NUM_FEATURES`` columns) and labels, seeded."""
    latent, labels = make_classification(
        n_samples=num_samples,
        n_features=NUM_CONTINUOUS + len(CATEGORIES),
        n_informative=8,
        n_redundant=2,
        n_classes=len(CLASS_FREQUENCIES),
        n_clusters_per_class=2,
        weights=list(CLASS_FREQUENCIES),
        flip_y=0.02,
        class_sep=1.5,
        random_state=seed,
    )
    columns = [latent[:, :NUM_CONTINUOUS].astype(np.float32)]
    # The last latent columns become categories by quantile bins: like soil type, a
    # category then says something about the class without determining it.
    for position, num_categories in enumerate(CATEGORIES):
        values = latent[:, NUM_CONTINUOUS + position]
        edges = np.quantile(values, np.linspace(0, 1, num_categories + 1)[1:-1])
        categories = np.searchsorted(edges, values)
        columns.append(np.eye(num_categories, dtype=np.float32)[categories])
    return np.concatenate(columns, axis=1), labels


HYPERPARAMETERS: dict[str, Any] = {
    "batch_size": Int(128, 1024, log=True, default=512),
    "learning_rate": Float(1e-4, 3e-2, log=True, default=3e-3),
    "optimizer": Categorical(["adam", "rmsprop", "adamw"]),
    "epochs": 3,
    "patience": 2,
}


def _problem(name: str, hyperparameters: dict[str, Any], description: str) -> Problem:
    return Problem(
        name,
        load_data,
        "spaces.dense_skip:dense_skip_space",
        space_kwargs={"input_shape": [NUM_FEATURES], "output_units": 7, "num_layers": 10},
        hyperparameters=hyperparameters,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        objective="val_accuracy",
        direction="max",
        description=description,
    )


#: Architecture and hyperparameters, one configuration per rank.
problem = _problem(
    "covertype",
    HYPERPARAMETERS,
    "Synthetic Covertype-shaped data: 54 features, 7 imbalanced classes.",
)

#: The same, where each configuration also chooses its data-parallel width: ``num_ranks``
#: ranks train it together (``batch_size`` is per rank). Needs ``--evaluator mpi``.
parallel_problem = _problem(
    "covertype_parallel",
    {**HYPERPARAMETERS, "num_ranks": Categorical([1, 2, 4])},
    "Synthetic Covertype-shaped data: 54 features, 7 imbalanced classes."
    " Data-parallel width searched too.",
)
