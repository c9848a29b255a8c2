"""The Keras callbacks of the trainer: record epochs, stop on NaN or at a deadline, set
the learning rate of each step, and for data-parallel groups, compute metrics over all
ranks.

This module imports Keras when it is imported, so the trainer imports it only when it
trains.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from nas._imports import import_keras
from nas.train._interrupt import interrupt_requested

keras = import_keras()


class TrainingMonitor(keras.callbacks.Callback):
    """Records the learning curve, and stops on a non-finite loss or past a deadline.

    Stopping happens between batches. Keras still validates and ends an epoch that was
    stopped part way; that epoch's numbers cover part of the data only, so the monitor
    skips its validation and leaves it out of the curve.

    On a group of ranks every stop decision goes through ``agree`` (a collective OR), so
    that all ranks stop after the same step; without it a rank would leave a collective
    the others still wait in.

    Args:
        objective: the history key whose non-finite value also fails training.
        deadline: ``time.monotonic()`` value after which training stops, or None.
        agree: collective OR of the ranks' votes to stop (identity on one rank).

    Attributes:
        curve: history key -> one value per complete epoch (None for NaN or infinity).
        epochs_completed: complete epochs.
        failure: why training failed (``"loss became nan at epoch 2"``), else None.
        timed_out: whether the deadline (or an interrupt, see :mod:`nas.train._interrupt`)
            stopped training.
        interrupted: whether :func:`nas.train._interrupt.request_interrupt` stopped it.
        training_seconds: time spent in the training batches of complete epochs
            (validation excluded), for throughput.
        first_batch_ended: ``time.perf_counter()`` when the first training batch ended
            (the end of the fixed cost: building, compiling, tracing), None before.
        epoch_seconds: wall time of each complete epoch, validation included; the first
            counted from the end of its first batch, so that tracing the training step
            is left out of it.
    """

    def __init__(
        self,
        objective: str,
        deadline: float | None,
        agree: Callable[[bool], bool] | None = None,
    ) -> None:
        super().__init__()
        self.objective = objective
        self.deadline = deadline
        self.curve: dict[str, list[float | None]] = {}
        self.epochs_completed = 0
        self.failure: str | None = None
        self.timed_out = False
        self.interrupted = False
        self.training_seconds = 0.0
        self.first_batch_ended: float | None = None
        self.epoch_seconds: list[float] = []
        self._agree = agree or (lambda vote: vote)
        self._epoch = 0
        self._epoch_started = 0.0
        self._last_batch_ended = 0.0
        self._stopped_mid_epoch = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._epoch_started = self._last_batch_ended = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._last_batch_ended = time.perf_counter()
        if self.first_batch_ended is None:
            self.first_batch_ended = self._last_batch_ended
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.failure = f"loss became {float(loss)} at epoch {self._epoch + 1}"
        elif self._past_deadline():
            self.timed_out = True
        if self._agree(self.failure is not None or self.timed_out):
            self._interrupt()

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._stopped_mid_epoch and self._past_deadline():
            self.timed_out = True
            self._interrupt()
        if self._stopped_mid_epoch:
            self.model.stop_evaluating = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._stopped_mid_epoch:
            return
        values = {key: _finite_or_none(value) for key, value in (logs or {}).items()}
        for key, value in values.items():
            self.curve.setdefault(key, []).append(value)
        self.epochs_completed += 1
        self.training_seconds += self._last_batch_ended - self._epoch_started
        counted_from = max(self._epoch_started, self.first_batch_ended or self._epoch_started)
        self.epoch_seconds.append(time.perf_counter() - counted_from)
        # The logs are the same on every rank of a group, so this test agrees by itself.
        if self.objective in values and values[self.objective] is None:
            self.failure = (
                f"{self.objective} became {float(logs[self.objective])} at epoch {epoch + 1}"
            )
            self.model.stop_training = True
        elif self._agree(self._past_deadline()) and epoch + 1 < self.params.get("epochs", 0):
            self.timed_out = True
            self.model.stop_training = True

    def _past_deadline(self) -> bool:
        if interrupt_requested():
            self.interrupted = True
            return True
        return self.deadline is not None and time.monotonic() > self.deadline

    def _interrupt(self) -> None:
        self._stopped_mid_epoch = True
        self.model.stop_training = True


def _finite_or_none(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


class LearningRateControl(keras.callbacks.Callback):
    """Sets the optimizer's learning rate before each batch to ``plan.rate(epoch, batch)``.

    The rate is a plain variable of the optimizer, so the saved model and its optimizer
    need nothing custom to load, and a continued training sets its own rates. The
    variable is written only when the rate changes.

    Args:
        plan: a :class:`nas.train._learning_rate.LearningRatePlan`.
    """

    def __init__(self, plan: Any) -> None:
        super().__init__()
        self.plan = plan
        self._epoch = plan.initial_epoch
        self._rate: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        rate = self.plan.rate(self._epoch, batch)
        if rate != self._rate:
            self.model.optimizer.learning_rate = rate
            self._rate = rate


class GroupMetrics(keras.callbacks.Callback):
    """Makes an epoch's logs the metrics over all ranks' data, then validates likewise.

    Before that, the statistics layers keep outside training (batch-norm moving means and
    variances) are averaged over the ranks, so all replicas validate the same model.

    Each rank trains on its own shard, so the training metrics Keras reports are the
    shard's; summing the metric states over the group turns them into metrics over the
    whole training data. Validation runs here (not through ``fit``) on the rank's shard
    of the validation data, with the same summing. Put it first among the callbacks: the
    others read the logs it completes.

    Args:
        parallel: the group's :class:`nas.parallel.DataParallel`.
        valid: the keyword arguments of ``evaluate`` that give it this rank's share of
            the validation data (:meth:`nas.train._feeds.Feed.arguments`).
    """

    def __init__(self, parallel: Any, valid: dict[str, Any]) -> None:
        super().__init__()
        self.parallel = parallel
        self.valid = valid

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        self._average_statistics()
        logs.update(self._group_metrics())
        self.model.evaluate(**self.valid, verbose=0)
        logs.update({f"val_{name}": value for name, value in self._group_metrics().items()})

    def _average_statistics(self) -> None:
        """Average the float variables that are not trained (batch-norm moving means and
        variances): each rank updates them from its own shard, so without this the
        replicas would drift apart and validation would depend on the rank."""
        for variable in self.model.non_trainable_variables:
            if "float" in str(variable.dtype):
                total = self.parallel.allreduce_sum(keras.ops.convert_to_numpy(variable))
                variable.assign(total / self.parallel.size)

    def _group_metrics(self) -> dict[str, float]:
        self.parallel.average_metrics(self.model)
        return {name: float(value) for name, value in self.model.get_metrics_result().items()}
