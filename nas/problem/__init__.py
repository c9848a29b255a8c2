"""Problems: the data, search space, hyperparameters and objective of a search.

A problem module defines a :class:`Problem` at module level; searches and workers load
it by import string, ``load_problem("problems.digits:problem")``. Nothing here imports
Keras, so problems are cheap to import and validate.

Example:
    >>> from nas.problem import Categorical, Dataset, Float, Int, Problem
    >>> def load_data() -> Dataset:
    ...     ...  # return Dataset(train=(x_train, y_train), valid=(x_valid, y_valid))
    >>> problem = Problem(
    ...     "my_problem",
    ...     load_data,
    ...     "spaces.dense_skip:dense_skip_space",
    ...     space_kwargs={"input_shape": [54], "output_units": 7, "num_layers": 5},
    ...     hyperparameters={
    ...         "batch_size": Int(64, 512, log=True),
    ...         "learning_rate": Float(1e-4, 1e-2, log=True),
    ...         "optimizer": Categorical(["adam", "rmsprop"]),
    ...         "epochs": 3,
    ...     },
    ...     loss="sparse_categorical_crossentropy",
    ...     metrics=["accuracy"],
    ...     objective="val_accuracy",
    ...     direction="max",
    ... )
"""

from nas.problem._dataset import Dataset
from nas.problem._hyperparameter_space import HyperparameterSpace
from nas.problem._hyperparameters import (
    Categorical,
    Constant,
    Float,
    Hyperparameter,
    Int,
)
from nas.problem._objectives import MEASURES, Objective
from nas.problem._preprocessing import normalize
from nas.problem._problem import Problem, load_problem
from nas.problem._streams import Shard, Stream
from nas.problem._training_settings import (
    LOSSES,
    METRICS,
    OPTIMIZERS,
    TRAINING_HYPERPARAMETERS,
)

__all__ = [
    "LOSSES",
    "MEASURES",
    "METRICS",
    "OPTIMIZERS",
    "TRAINING_HYPERPARAMETERS",
    "Categorical",
    "Constant",
    "Dataset",
    "Float",
    "Hyperparameter",
    "HyperparameterSpace",
    "Int",
    "Objective",
    "Problem",
    "Shard",
    "Stream",
    "load_problem",
    "normalize",
]
