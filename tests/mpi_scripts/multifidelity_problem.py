"""Small data-parallel problems for ASHA and RASDA under mpirun: breast-cancer data, a
two-layer dense space, Adam or SGD, widths 1 or 2 (``problem``) or up to 4
(``wide_problem``, for RASDA to cap on fewer ranks), at most 4 epochs.

Used by tests/schedule/test_multifidelity_mpi.py; small so that a search of ten
segments on four oversubscribed ranks takes about a minute.
"""

from __future__ import annotations

from nas.problem import Categorical, Float, Problem
from problems.breast_cancer import load_data

#: Samples of the training split (the optimizer's steps per epoch follow from it).
NUM_TRAIN = 455
BATCH_SIZE = 64


def _problem(name: str, widths: list[int]) -> Problem:
    return Problem(
        name,
        load_data,
        "spaces.dense_skip:dense_skip_space",
        space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 2},
        hyperparameters={
            "learning_rate": Float(1e-3, 1e-2, log=True),
            "optimizer": Categorical(["adam", "sgd"]),
            "batch_size": BATCH_SIZE,
            "epochs": 4,
            "patience": 0,
            "num_ranks": Categorical(widths),
        },
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        objective="val_accuracy",
        direction="max",
    )


problem = _problem("multifidelity_breast_cancer", [1, 2])
wide_problem = _problem("multifidelity_breast_cancer_wide", [1, 2, 4])
