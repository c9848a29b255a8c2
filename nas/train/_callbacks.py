"""The Keras callback of the trainer: record complete epochs, stop on NaN or at a deadline.

This module imports Keras when it is imported, so the trainer imports it only when it
trains.
"""

from __future__ import annotations

import math
import time
from typing import Any

from nas._imports import import_keras

keras = import_keras()


class TrainingMonitor(keras.callbacks.Callback):
    """Records the learning curve, and stops on a non-finite loss or past a deadline.

    Stopping happens between batches. Keras still validates and ends an epoch that was
    stopped part way; that epoch's numbers cover part of the data only, so the monitor
    skips its validation and leaves it out of the curve.

    Args:
        objective: the history key whose non-finite value also fails training.
        deadline: ``time.monotonic()`` value after which training stops, or None.

    Attributes:
        curve: history key -> one value per complete epoch (None for NaN or infinity).
        epochs_completed: complete epochs.
        failure: why training failed (``"loss became nan at epoch 2"``), else None.
        timed_out: whether the deadline stopped training.
    """

    def __init__(self, objective: str, deadline: float | None) -> None:
        super().__init__()
        self.objective = objective
        self.deadline = deadline
        self.curve: dict[str, list[float | None]] = {}
        self.epochs_completed = 0
        self.failure: str | None = None
        self.timed_out = False
        self._epoch = 0
        self._interrupted = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.failure = f"loss became {float(loss)} at epoch {self._epoch + 1}"
            self._interrupt()
        elif self._past_deadline():
            self.timed_out = True
            self._interrupt()

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._interrupted and self._past_deadline():
            self.timed_out = True
            self._interrupt()
        if self._interrupted:
            self.model.stop_evaluating = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._interrupted:
            return
        values = {key: _finite_or_none(value) for key, value in (logs or {}).items()}
        for key, value in values.items():
            self.curve.setdefault(key, []).append(value)
        self.epochs_completed += 1
        if self.objective in values and values[self.objective] is None:
            self.failure = (
                f"{self.objective} became {float(logs[self.objective])} at epoch {epoch + 1}"
            )
            self.model.stop_training = True
        elif self._past_deadline() and epoch + 1 < self.params.get("epochs", 0):
            self.timed_out = True
            self.model.stop_training = True

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def _interrupt(self) -> None:
        self._interrupted = True
        self.model.stop_training = True


def _finite_or_none(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None
