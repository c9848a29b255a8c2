"""Problems small enough for driver tests: one epoch of a tiny dense net on 30 features.

Workers import these by reference (``toy_problems:problem``): pytest puts this folder on
``sys.path`` and spawned workers inherit the parent's path.
"""

from __future__ import annotations

import multiprocessing
import os
import signal

from nas.problem import Float, Problem
from problems.breast_cancer import load_data

#: When this environment variable names an existing file, the next data load deletes
#: the file and kills its own process: a worker that dies mid-evaluation.
CRASH_FLAG = "NAS_TEST_CRASH_FLAG"


def _problem(name: str, loader) -> Problem:
    return Problem(
        name,
        loader,
        "spaces.dense_skip:dense_skip_space",
        space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 2},
        hyperparameters={"learning_rate": Float(1e-3, 1e-1, log=True), "epochs": 1},
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        objective="val_accuracy",
        direction="max",
    )


def load_data_or_crash():
    flag = os.environ.get(CRASH_FLAG)
    # Only a worker crashes: the driver loads the data too, to check it before starting.
    if flag and os.path.exists(flag) and multiprocessing.parent_process() is not None:
        os.remove(flag)
        os.kill(os.getpid(), signal.SIGKILL)
    return load_data()


def load_nothing():
    raise OSError("the data directory is not mounted")


def broken_loss(y_true, y_pred):
    """A loss with a bug: every training fails, though the data loads and models build."""
    raise ValueError("the loss has a bug")


problem = _problem("toy", load_data)
failing_problem = _problem("toy_failing", load_nothing)
crashing_problem = _problem("toy_crashing", load_data_or_crash)
untrainable_problem = Problem(
    "toy_untrainable",
    load_data,
    "spaces.dense_skip:dense_skip_space",
    space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 1},
    loss=broken_loss,
)


def hanging_evaluation(problem_reference, config, timeout, models_directory):
    """An evaluation stuck where the trainer's own timeout cannot act (say, data loading)."""
    import time

    time.sleep(3600)
