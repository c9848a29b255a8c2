"""Breast cancer with evaluations of a few seconds, most of them spent waiting.

The Slurm tests give a job about a minute. For the number of evaluations it finishes
to have a bound that does not depend on how fast the machine is, each evaluation waits
:data:`WAIT_SECONDS` whenever Keras traces the loss: one batch of training and one of
validation (the batch holds the whole split), so twice per evaluation.
"""

from __future__ import annotations

import time

import keras

from nas.problem import Problem
from problems.breast_cancer import HYPERPARAMETERS, load_data

#: Seconds each trace of the loss waits.
WAIT_SECONDS = 10.0


def paced_loss(y_true, y_pred):
    """Sparse categorical cross-entropy, after a wait (when traced, not per batch)."""
    time.sleep(WAIT_SECONDS)
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)


problem = Problem(
    "paced",
    load_data,
    "spaces.dense_skip:dense_skip_space",
    space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 2},
    # 455 training and 114 validation samples: one batch each.
    hyperparameters={**HYPERPARAMETERS, "batch_size": 512, "epochs": 1, "patience": 0},
    loss=paced_loss,
    metrics=["accuracy"],
    objective="val_accuracy",
    direction="max",
)
