"""A small problem whose trainings record what their checkpoints hold, for the PBT tests.

Importing it wraps the trainer's checkpoint save and its taking of the model a segment
continues, loaded from the checkpoint or kept warm by the worker (every rank imports the
problem by name before training): when ``NAS_TEST_DIGESTS`` names a folder, each save
and each continuation appends ``{"event", "path", "weights", "optimizer", "iterations"}`` to
``<folder>/<pid>.jsonl``, with digests of the model's weights and of its optimizer's
variables (moments, iteration count, learning rate) at that moment. A copy made by
population-based training must continue exactly what its source saved, warm or not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nas.problem import Categorical, Float, Int, Problem
from nas.train import _trainer
from nas.train._group import weights_digest
from problems.breast_cancer import load_data

#: The environment variable naming the folder of the records.
DIGESTS = "NAS_TEST_DIGESTS"

_continued, _save = _trainer._continued, _trainer._save


def _record(event: str, path: Path, model: Any) -> None:
    folder = os.environ.get(DIGESTS)
    if not folder:
        return
    optimizer = model.optimizer
    record = {
        "event": event,
        "path": str(Path(path).resolve()),
        "weights": weights_digest(model.get_weights()),
        "optimizer": weights_digest([variable.numpy() for variable in optimizer.variables]),
        "iterations": int(optimizer.iterations.numpy()),
    }
    with open(Path(folder) / f"{os.getpid()}.jsonl", "a", encoding="utf-8") as file:
        file.write(json.dumps(record) + "\n")


def _recording_continued(path: Path, run: Any, warm_models: Any) -> Any:
    model = _continued(path, run, warm_models)
    _record("load", path, model)  # before the trainer sets this segment's learning rate
    return model


def _recording_save(model: Any, path: Path) -> None:
    _save(model, path)
    _record("save", path, model)


# The trainer calls these through its module's globals: wrap them there, once.
if not getattr(_trainer._continued, "records_digests", False):
    _recording_continued.records_digests = True  # type: ignore[attr-defined]
    _trainer._continued, _trainer._save = _recording_continued, _recording_save

problem = Problem(
    "pbt_digests",
    load_data,
    "spaces.dense_skip:dense_skip_space",
    space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 2},
    hyperparameters={
        "batch_size": Int(16, 64, log=True),
        "learning_rate": Float(1e-4, 3e-1, log=True),  # wide: members differ, copies happen
        "optimizer": Categorical(["adam", "rmsprop"]),
        "epochs": 3,
        "patience": 0,
    },
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    # A loss ties less often than an accuracy on 114 validation samples.
    objective="val_loss",
    direction="min",
)
