"""Breast cancer with a budget of 100,000 epochs: trainings that only a stop can end."""

from nas.problem import Problem
from problems.breast_cancer import load_data, parallel_problem

problem = Problem(
    "long_training",
    load_data,
    "spaces.dense_skip:dense_skip_space",
    space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 2},
    hyperparameters={**parallel_problem.hyperparameters, "epochs": 100_000, "patience": 0},
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    objective="val_accuracy",
    direction="max",
)
