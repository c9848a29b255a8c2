"""The learning rate of every optimizer step: the problem's schedule times a group's ramp.

A problem declares its schedule with training hyperparameters, searched or fixed like
any other (see :data:`nas.problem._training_settings.TRAINING_HYPERPARAMETERS`):

* ``lr_schedule``: ``"constant"``, ``"exponential"`` or ``"cosine"``;
* ``lr_warmup_epochs``: a linear warm-up from ``learning_rate / warm-up steps`` (the
  first step is never at zero) to ``learning_rate`` over that many epochs, before the
  decay starts;
* ``lr_decay_rate``: exponential decay, the rate is multiplied by it every epoch
  (continuously, step by step);
* ``lr_final_fraction``: cosine decay (Loshchilov & Hutter 2017, without restarts) from
  ``learning_rate`` to ``learning_rate * lr_final_fraction`` at the end of training.

Positions are counted in epochs (``epoch + batch / steps_per_epoch``) from the
configuration's first epoch, not in optimizer steps: a segment that continues a
checkpoint (ASHA's promotions, PBT's intervals, LCM) resumes the schedule where the
checkpoint left it even if it trains on another number of ranks (RASDA), where the steps
per epoch differ. The cosine's length is the configuration's whole training (its
``epochs`` hyperparameter), not the segment's: an ASHA rung at 3 of 27 epochs trains at
the rate a full training has at epoch 3, so that a promotion continues the same curve.

On a group of ranks, the group's own rule (:mod:`nas.train._group`: linear scaling with
warm-up, or a resized segment's rule) multiplies this schedule, so the two compose: the
schedule's shape is kept, at the group's scale. A population-based training that changes
``learning_rate`` at a continuation changes the base the schedule multiplies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nas.problem._training_settings import LEARNING_RATE_SCHEDULES as SCHEDULES
from nas.train._group import WarmupPlan


@dataclass(frozen=True)
class LearningRateSchedule:
    """A schedule's shape, as a factor of the base learning rate at each position.

    Attributes:
        kind: one of :data:`SCHEDULES`.
        warmup_epochs: epochs of linear warm-up before the decay (0: none).
        decay_rate: ``exponential``: the factor applied per epoch, in (0, 1].
        final_fraction: ``cosine``: the factor at the end of training, in [0, 1).

    Example:
        >>> cosine = LearningRateSchedule("cosine", warmup_epochs=1.0)
        >>> [round(cosine.factor(e, total_epochs=5, steps_per_epoch=2), 3)
        ...  for e in (0.0, 0.5, 1.0, 3.0, 5.0)]
        [0.5, 1.0, 1.0, 0.5, 0.0]
    """

    kind: str = "constant"
    warmup_epochs: float = 0.0
    decay_rate: float = 0.9
    final_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"lr_schedule {self.kind!r}: expected one of {list(SCHEDULES)}")

    @classmethod
    def from_hyperparameters(cls, hyperparameters: Mapping[str, Any]) -> LearningRateSchedule:
        """The schedule a resolved configuration declares (its values already valid)."""
        return cls(
            kind=hyperparameters["lr_schedule"],
            warmup_epochs=float(hyperparameters["lr_warmup_epochs"]),
            decay_rate=float(hyperparameters["lr_decay_rate"]),
            final_fraction=float(hyperparameters["lr_final_fraction"]),
        )

    @property
    def is_constant(self) -> bool:
        """Whether every step uses the base rate (nothing to set during training)."""
        return self.kind == "constant" and self.warmup_epochs == 0

    def factor(self, position: float, total_epochs: int, steps_per_epoch: int) -> float:
        """The factor of the base rate for the step at ``position`` (in epochs, from the
        configuration's first step) of a training of ``total_epochs``."""
        warmup = self.warmup_epochs
        if position < warmup:
            # (step + 1) / warm-up steps: the first step already moves the weights.
            return min(1.0, (position + 1 / steps_per_epoch) / warmup)
        decayed = position - warmup
        if self.kind == "exponential":
            return self.decay_rate**decayed
        if self.kind == "cosine":
            length = total_epochs - warmup
            progress = min(1.0, decayed / length) if length > 0 else 1.0
            cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
            return self.final_fraction + (1.0 - self.final_fraction) * cosine
        return 1.0


@dataclass(frozen=True)
class LearningRatePlan:
    """The rate of every step of one segment: ``learning_rate * schedule`` on one rank,
    times the group's ramp on a group.

    Attributes:
        learning_rate: the configuration's base rate (``learning_rate``).
        schedule: the problem's schedule.
        total_epochs: the configuration's whole training, the cosine's length.
        steps_per_epoch: optimizer steps per epoch on this rank.
        initial_epoch: the segment's first epoch (epochs already trained).
        group: the group's ramp (absolute rates, including ``learning_rate``), whose
            step ``group.first_step`` is the segment's first step; None on one rank.
    """

    learning_rate: float
    schedule: LearningRateSchedule
    total_epochs: int
    steps_per_epoch: int
    initial_epoch: int = 0
    group: WarmupPlan | None = None

    @property
    def is_constant(self) -> bool:
        """Whether every step trains at ``learning_rate`` (the rate the optimizer is
        compiled with): a constant schedule on one rank. A group always scales it."""
        return self.schedule.is_constant and self.group is None

    def rate(self, epoch: int, batch: int) -> float:
        """The learning rate of batch ``batch`` (from 0) of epoch ``epoch`` (absolute,
        as Keras counts it: ``initial_epoch`` is the segment's first)."""
        position = epoch + batch / self.steps_per_epoch
        factor = self.schedule.factor(position, self.total_epochs, self.steps_per_epoch)
        if self.group is None:
            return self.learning_rate * factor
        segment_step = (epoch - self.initial_epoch) * self.steps_per_epoch + batch
        return self.group.rate(self.group.first_step + segment_step) * factor
