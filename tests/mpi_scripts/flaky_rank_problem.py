"""A problem whose data cannot be read on world rank 2: evaluations placed there fail.

Used by tests/driver/test_mpi_search.py to check that one failing rank fails only the
evaluations it takes part in.
"""

from __future__ import annotations

from mpi4py import MPI

from nas.problem import Problem
from problems.breast_cancer import load_data as load_breast_cancer
from problems.breast_cancer import parallel_problem

BROKEN_RANK = 2


def load_data():
    if MPI.COMM_WORLD.Get_rank() == BROKEN_RANK:
        raise OSError(f"the disk of rank {BROKEN_RANK} is unreadable")
    return load_breast_cancer()


problem = Problem(
    "flaky_rank",
    load_data,
    "spaces.dense_skip:dense_skip_space",
    space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 2},
    hyperparameters={**parallel_problem.hyperparameters, "epochs": 2, "patience": 0},
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    objective="val_accuracy",
    direction="max",
)
