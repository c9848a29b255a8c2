"""Breast cancer with two layers and two epochs, widths 1 or 2: quick MPI searches."""

from nas.problem import Problem
from problems.breast_cancer import load_data, parallel_problem

problem = Problem(
    "small_parallel",
    load_data,
    "spaces.dense_skip:dense_skip_space",
    space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 2},
    hyperparameters={**parallel_problem.hyperparameters, "epochs": 2, "patience": 0},
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    objective="val_accuracy",
    direction="max",
)
