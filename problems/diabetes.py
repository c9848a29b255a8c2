"""Diabetes progression: regression of a disease measure one year on, from 10 features.

scikit-learn ships the diabetes set (442 patients: age, sex, body mass index, blood
pressure and six blood serum measurements), so it loads offline in milliseconds. The
target is standardised with the training split's mean and deviation, so errors read
in standard deviations of the target (one is about 77 points of the original scale).
The features stay raw (age in years, sex 1 or 2, body mass index, ...): the problem's
``preprocessing=normalize()`` puts a ``Normalization`` layer with the training split's
statistics at the input of every model, so a trained or exported model takes raw
patient rows. The validation split is 20%.

The output is linear: the problem's loss (``"mse"``) sets the space's output
activation. ``dropout`` is a hyperparameter of the problem's own, which goes to the
space factory. The baseline ``mean`` is the validation MAE of predicting the training
mean for every patient: a model must beat it clearly to have learnt anything.

Example:
    >>> from problems.diabetes import problem
    >>> data = problem.load_data()
    >>> data.train[0].shape, data.valid[0].shape
    ((353, 10), (89, 10))
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

from nas.problem import Categorical, Dataset, Float, Int, Problem, normalize

VALID_FRACTION = 0.2
SEED = 442


def load_data() -> Dataset:
    """Raw features (float32) and the standardised target, one column."""
    x, y = load_diabetes(return_X_y=True, scaled=False)
    x_train, x_valid, y_train, y_valid = train_test_split(
        x.astype(np.float32), y, test_size=VALID_FRACTION, random_state=SEED
    )
    mean, deviation = y_train.mean(), y_train.std()
    y_train = ((y_train - mean) / deviation).astype(np.float32)
    y_valid = ((y_valid - mean) / deviation).astype(np.float32)
    return Dataset(
        train=(x_train, y_train),
        valid=(x_valid, y_valid),
        baselines={"mean": mean_predictor_mae(y_train, y_valid)},
    )


def mean_predictor_mae(y_train: np.ndarray, y_valid: np.ndarray) -> float:
    """Validation MAE of always predicting the training mean."""
    return float(np.mean(np.abs(y_valid - y_train.mean())))


problem = Problem(
    "diabetes",
    load_data,
    "spaces.dense_skip:dense_skip_space",
    space_kwargs={"input_shape": [10], "output_units": 1, "num_layers": 3},
    hyperparameters={
        "batch_size": Int(16, 64, log=True, default=32),
        "learning_rate": Float(1e-3, 3e-2, log=True, default=1e-2),
        "optimizer": Categorical(["adam", "rmsprop"]),
        "dropout": Categorical([0.0, 0.1, 0.2]),
        "epochs": 30,
        "patience": 5,
    },
    loss="mse",
    metrics=["mae"],
    objective="val_mae",
    direction="min",
    description="Diabetes progression (scikit-learn): 10 features, one real target.",
    # Standardises the raw features inside the model, with the training split's statistics.
    preprocessing=normalize(),
)
