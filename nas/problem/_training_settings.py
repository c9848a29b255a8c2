"""What the trainer understands: hyperparameter keys, optimizer, loss and metric names.

These are plain strings so that problems are validated when they are defined, without
importing Keras (seconds). ``tests/problem`` checks every name here against Keras, so
a name Keras drops is noticed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nas.exceptions import ProblemError
from nas.problem._hyperparameter_space import HyperparameterSpace
from nas.problem._hyperparameters import (
    Categorical,
    Constant,
    Hyperparameter,
    Scalar,
)

#: Optimizer names accepted in the ``optimizer`` hyperparameter -> Keras class names.
OPTIMIZERS: dict[str, str] = {
    "adadelta": "Adadelta",
    "adafactor": "Adafactor",
    "adagrad": "Adagrad",
    "adam": "Adam",
    "adamax": "Adamax",
    "adamw": "AdamW",
    "ftrl": "Ftrl",
    "lion": "Lion",
    "nadam": "Nadam",
    "rmsprop": "RMSprop",
    "sgd": "SGD",
}

#: Loss names Keras accepts in ``model.compile(loss=...)``.
LOSSES: frozenset[str] = frozenset(
    {
        "binary_crossentropy",
        "binary_focal_crossentropy",
        "categorical_crossentropy",
        "categorical_focal_crossentropy",
        "categorical_hinge",
        "cosine_similarity",
        "hinge",
        "huber",
        "kl_divergence",
        "log_cosh",
        "mae",
        "mape",
        "mean_absolute_error",
        "mean_absolute_percentage_error",
        "mean_squared_error",
        "mean_squared_logarithmic_error",
        "mse",
        "msle",
        "poisson",
        "sparse_categorical_crossentropy",
        "squared_hinge",
    }
)

#: Metric names Keras accepts in ``model.compile(metrics=[...])``.
METRICS: frozenset[str] = frozenset(
    {
        "acc",
        "accuracy",
        "auc",
        "binary_accuracy",
        "binary_crossentropy",
        "categorical_accuracy",
        "categorical_crossentropy",
        "categorical_hinge",
        "concordance_correlation",
        "cosine_similarity",
        "f1_score",
        "hinge",
        "kl_divergence",
        "log_cosh_error",
        "mae",
        "mape",
        "mean_absolute_error",
        "mean_absolute_percentage_error",
        "mean_squared_error",
        "mean_squared_logarithmic_error",
        "mse",
        "msle",
        "pearson_correlation",
        "poisson",
        "precision",
        "r2_score",
        "recall",
        "root_mean_squared_error",
        "sparse_categorical_accuracy",
        "sparse_categorical_crossentropy",
        "sparse_top_k_categorical_accuracy",
        "squared_hinge",
        "top_k_categorical_accuracy",
    }
)

#: Metrics whose larger values are better; an objective on one must be maximised.
MAXIMIZED_METRICS: frozenset[str] = frozenset(
    {
        "acc",
        "accuracy",
        "auc",
        "binary_accuracy",
        "categorical_accuracy",
        "concordance_correlation",
        "f1_score",
        "pearson_correlation",
        "precision",
        "r2_score",
        "recall",
        "sparse_categorical_accuracy",
        "sparse_top_k_categorical_accuracy",
        "top_k_categorical_accuracy",
    }
)

#: Losses and errors: an objective on one must be minimised.
MINIMIZED_METRICS: frozenset[str] = (METRICS - MAXIMIZED_METRICS - {"cosine_similarity"}) | {
    "loss"
}


@dataclass(frozen=True)
class TrainingHyperparameter:
    """A hyperparameter key the trainer understands, with its default and valid values."""

    name: str
    default: Scalar
    expected: str
    accepts: Callable[[Any], bool]
    meaning: str


def _is_int_at_least(minimum: int) -> Callable[[Any], bool]:
    def accepts(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= minimum

    return accepts


def _is_power_of_two(value: Any) -> bool:
    return _is_int_at_least(1)(value) and value & (value - 1) == 0


def _is_number(value: Any) -> bool:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return is_number and math.isfinite(value)


def _is_positive_number(value: Any) -> bool:
    return _is_number(value) and value > 0


#: The ``lr_schedule`` values (:mod:`nas.train._learning_rate` defines them).
LEARNING_RATE_SCHEDULES = ("constant", "exponential", "cosine")


#: The hyperparameters the trainer understands; a problem may declare others of its own,
#: which go to its space factory and its ``build_model`` (see :class:`nas.problem.Problem`).
TRAINING_HYPERPARAMETERS: dict[str, TrainingHyperparameter] = {
    item.name: item
    for item in (
        TrainingHyperparameter(
            "batch_size", 32, "an int >= 1", _is_int_at_least(1), "samples per gradient step"
        ),
        TrainingHyperparameter(
            "learning_rate", 1e-3, "a number > 0", _is_positive_number, "optimizer step size"
        ),
        TrainingHyperparameter(
            "optimizer",
            "adam",
            f"one of {sorted(OPTIMIZERS)}",
            lambda value: value in OPTIMIZERS,
            "optimizer name",
        ),
        TrainingHyperparameter(
            "epochs", 10, "an int >= 1", _is_int_at_least(1), "passes over the training data"
        ),
        TrainingHyperparameter(
            "patience",
            0,
            "an int >= 0",
            _is_int_at_least(0),
            "epochs without improvement of the objective before stopping early (0: never)",
        ),
        TrainingHyperparameter(
            "num_ranks",
            1,
            "a power of two >= 1",
            _is_power_of_two,
            "data-parallel width: ranks that train one configuration together "
            "(batch_size is per rank)",
        ),
        TrainingHyperparameter(
            "lr_schedule",
            "constant",
            f"one of {list(LEARNING_RATE_SCHEDULES)}",
            lambda value: value in LEARNING_RATE_SCHEDULES,
            "how the learning rate changes after the warm-up: constant, exponential "
            "(times lr_decay_rate per epoch) or cosine (to lr_final_fraction at the end)",
        ),
        TrainingHyperparameter(
            "lr_warmup_epochs",
            0,
            "a number >= 0",
            lambda value: _is_number(value) and value >= 0,
            "epochs of linear learning-rate warm-up before the schedule (0: none)",
        ),
        TrainingHyperparameter(
            "lr_decay_rate",
            0.9,
            "a number in (0, 1]",
            lambda value: _is_number(value) and 0 < value <= 1,
            "exponential schedule: the learning rate is multiplied by it every epoch",
        ),
        TrainingHyperparameter(
            "lr_final_fraction",
            0.0,
            "a number in [0, 1)",
            lambda value: _is_number(value) and 0 <= value < 1,
            "cosine schedule: the final learning rate, a fraction of learning_rate",
        ),
    )
}


def describe_training_hyperparameters() -> str:
    """One line per known key, for error messages and ``--help``."""
    return "; ".join(
        f"{item.name} ({item.meaning}, default {item.default!r})"
        for item in TRAINING_HYPERPARAMETERS.values()
    )


def check_training_value(name: str, value: Any) -> None:
    """Raise a ProblemError unless ``value`` is valid for the training key ``name``."""
    item = TRAINING_HYPERPARAMETERS.get(name)
    if item is None:
        raise ProblemError(
            f"unknown hyperparameter {name!r}: the trainer understands "
            f"{describe_training_hyperparameters()}"
        )
    if not item.accepts(value):
        raise ProblemError(f"hyperparameter {name!r} = {value!r}: expected {item.expected}")


def training_space(space: HyperparameterSpace) -> HyperparameterSpace:
    """Check the values of ``space``'s training keys, and complete it.

    Training keys the problem leaves out become constants at the trainer's defaults, so
    every configuration names all of them and a training run is fully recorded. Other
    names are the problem's own hyperparameters (:func:`user_names`), kept as given:
    the problem checks that its space factory or its ``build_model`` takes them.
    """
    for name, hyperparameter in space.items():
        if name not in TRAINING_HYPERPARAMETERS:
            continue
        if name == "num_ranks" and not isinstance(hyperparameter, (Constant, Categorical)):
            # A range of ints would also hold widths that are not powers of two.
            raise ProblemError(
                f"hyperparameter 'num_ranks' = {hyperparameter!r}: expected a constant or a "
                "Categorical of powers of two, e.g. Categorical([1, 2, 4])"
            )
        for value in extreme_values(hyperparameter):
            check_training_value(name, value)
    completed: dict[str, Hyperparameter] = dict(space)
    for name, item in TRAINING_HYPERPARAMETERS.items():
        completed.setdefault(name, Constant(item.default))
    return HyperparameterSpace(completed)


def user_names(space: HyperparameterSpace) -> list[str]:
    """The names of ``space`` that are not training keys: the problem's own."""
    return [name for name in space.names if name not in TRAINING_HYPERPARAMETERS]


def extreme_values(hyperparameter: Hyperparameter) -> list[Any]:
    """Values that are all valid exactly when every value of ``hyperparameter`` is."""
    if isinstance(hyperparameter, Constant):
        return [hyperparameter.value]
    if isinstance(hyperparameter, Categorical):
        return list(hyperparameter.choices)
    # Int and Float: every check is a lower bound or a type, so the bounds suffice.
    return [hyperparameter.low, hyperparameter.high]  # type: ignore[attr-defined]
