"""Breast cancer with a budget of 100,000 epochs: trainings that only a stop can end.

:func:`record_training` is the evaluation function of ``stop_long_training.py``: it
trains as the MPI evaluator's default function does and counts, on each rank, the
training batches run and those begun after the rank was asked to stop. When
``NAS_TEST_STOP_RECORDS`` names a folder, each rank writes there ``started-<rank>``
once it has run :data:`STARTED_AFTER_BATCHES` batches (it is training, past the first
epoch's tracing) and ``training-<rank>.json`` when its evaluation returns: the counts
and its result (``close`` drops the results rank 0 would get).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nas.problem import Problem
from nas.trial import Config
from problems.breast_cancer import load_data, parallel_problem

EPOCHS = 100_000

problem = Problem(
    "long_training",
    load_data,
    "spaces.dense_skip:dense_skip_space",
    space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 2},
    hyperparameters={**parallel_problem.hyperparameters, "epochs": EPOCHS, "patience": 0},
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    objective="val_accuracy",
    direction="max",
)

#: The environment variable naming the folder of the records.
RECORDS = "NAS_TEST_STOP_RECORDS"
#: Batches after which a rank reports that it is training (a few epochs on every width).
STARTED_AFTER_BATCHES = 40

_counts = {"batches": 0, "batches_after_stop": 0}


def _world_rank() -> int:
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_rank()


def _counting(on_train_batch_begin: Any) -> Any:
    """``TrainingMonitor.on_train_batch_begin`` that also counts the batch, and whether
    the stop had already been requested when it began."""
    from nas.train._interrupt import interrupt_requested

    def counted(monitor: Any, batch: int, logs: Any = None) -> None:
        _count(interrupt_requested())
        on_train_batch_begin(monitor, batch, logs)

    counted.counts_batches = True  # type: ignore[attr-defined]
    return counted


def _count(stop_requested: bool) -> None:
    _counts["batches"] += 1
    if stop_requested:
        _counts["batches_after_stop"] += 1
    folder = os.environ.get(RECORDS)
    if folder and _counts["batches"] == STARTED_AFTER_BATCHES:
        (Path(folder) / f"started-{_world_rank()}").touch()


def record_training(
    problem_reference: str,
    config: Config,
    timeout: float | None,
    models_directory: Path | None = None,
    comm: Any = None,
):
    """:func:`nas.evaluate.evaluate`, counting batches and writing what happened."""
    from nas.evaluate import evaluate
    from nas.train import _callbacks

    monitor = _callbacks.TrainingMonitor
    if not getattr(monitor.on_train_batch_begin, "counts_batches", False):
        monitor.on_train_batch_begin = _counting(monitor.on_train_batch_begin)
    _counts.update(batches=0, batches_after_stop=0)
    result = evaluate(problem_reference, config, timeout, models_directory, comm=comm)
    folder = os.environ.get(RECORDS)
    if folder:
        rank = _world_rank()
        record = {"trial_id": config.trial_id, "world_rank": rank, **_counts}
        record["result"] = result.to_dict()
        (Path(folder) / f"training-{rank}.json").write_text(json.dumps(record))
    return result
