"""A toy problem for learning-curve matching: 3 epochs of a tiny dense net, val_loss.

A minimised, continuous objective (accuracy on 114 samples ties too often for a test of
nearest curves), and learning rates in an order a grid search follows: one that learns
fast, then three so small that the model stays at its initial loss (which varies with
the seed, from about 0.5 to 1.5, far above the ~0.2 a learning model reaches in an
epoch); after them, a frozen run must match a frozen one and stop, and a learning one
must match the learning one and continue.
"""

from __future__ import annotations

from nas.problem import Categorical, Problem
from problems.breast_cancer import load_data

LEARNING_RATES = [3e-2, 1e-7, 2e-7, 3e-7, 1.5e-7, 1e-2]

problem = Problem(
    "lcm_toy",
    load_data,
    "spaces.dense_skip:dense_skip_space",
    space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 2},
    hyperparameters={"learning_rate": Categorical(LEARNING_RATES), "epochs": 3},
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    objective="val_loss",
    direction="min",
)
