"""Breast cancer, one layer, one epoch, with a grid of 2 learning rates x 2 schedules."""

from nas.problem import Categorical, Problem
from problems.breast_cancer import load_data

problem = Problem(
    "grid_breast_cancer",
    load_data,
    "spaces.dense_skip:dense_skip_space",
    space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 1},
    hyperparameters={
        "learning_rate": Categorical([0.01, 0.1]),
        "lr_schedule": Categorical(["constant", "cosine"]),
        "lr_warmup_epochs": 0.5,
        "batch_size": 64,
        "epochs": 1,
    },
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    objective="val_accuracy",
    direction="max",
)
