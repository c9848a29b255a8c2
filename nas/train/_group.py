"""Training one configuration on a group of MPI ranks (data-parallel).

The rules, in one place (docs/cluster.md repeats them):

* **Batch size.** The ``batch_size`` hyperparameter is per rank. A group of ``k`` ranks
  takes ``k`` per-rank batches per optimizer step (gradients averaged), so the global
  batch is ``batch_size * k``, counted once.
* **Training data** is split into ``k`` shards of equal length (rank ``r`` takes samples
  ``r, r + k, r + 2k, ...``; the last ``n mod k`` samples are left out), because every
  rank must take the same number of steps: each step is a collective.
* **Learning rate.** Linear scaling (Goyal et al. 2017, "Accurate, large minibatch SGD"):
  the rate is ``learning_rate * k``, reached by a linear warm-up from ``learning_rate``
  over the first ``min(5, epochs / 4)`` epochs (at least one step): five epochs as in
  Goyal et al. and Horovod's examples, shortened to a quarter of a short training so
  that most of it runs at the scaled rate. A single rank is neither scaled nor warmed up.
  ``epochs`` is the configuration's whole training (its ``epochs`` hyperparameter, the
  span of its learning-rate schedule), not one segment's: a segment that continues a
  checkpoint (ASHA's promotions) resumes the one ramp where the checkpoint left it
  (steps count from the configuration's first epoch), so the segments of a
  configuration train at the rates of its full training.
* **Learning rate when a scheduler resizes a configuration** (RASDA,
  :mod:`nas.schedule._rasda`). A scheduler that trains a configuration in segments of
  growing width sets ``Config.info["learning_rate_scaling"]`` (see
  :class:`LearningRateScaling`): ``{"rule": "linear" | "sqrt", "from_width": w0,
  "warmup_epochs": e}``. The group of ``k`` ranks then trains at
  ``learning_rate * f(k)``, ``f(k) = k`` (linear, for SGD) or ``sqrt(k)`` (square root,
  for the other optimizers, Adam-type ones whose per-coordinate step adapts to the
  gradient's scale: the square-root rule of Malladi et al. 2022, used by Aach et al.
  2024 in RASDA),
  reached by a linear ramp from ``learning_rate * f(w0)`` (the rate the checkpoint was
  trained at) over the segment's first ``e`` epochs (at least one step; none when
  ``e`` is 0 or the rate does not change). The optimizer state (moments, iteration
  count) comes with the checkpoint. :func:`warmup_plan` computes both rules. Without
  that key (every other scheduler) the linear rule above applies unchanged.
* **Validation data** is split into ``k`` near-equal shards (no sample left out). Metrics
  of an epoch are computed from the metric states summed over the group, which is exact
  (the same numbers as one rank evaluating everything) for Keras metrics.
* **Decisions** that end training (a non-finite loss, the deadline, early stopping) are
  taken from values every rank shares, so all ranks stop after the same step.
* Errors while loading data or building the model are exchanged before the first
  collective: one failing rank fails the evaluation on all of them.
* **Replicas must agree.** After training, the ranks compare a digest of their weights;
  an evaluation whose ranks ended with different weights (a broken allreduce, a
  non-deterministic custom op) fails instead of reporting one rank's numbers.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.exceptions import ProblemError
from nas.problem._dataset import num_samples

#: Warm-up length in epochs, before shortening for short trainings (Goyal et al. 2017).
WARMUP_EPOCHS = 5.0
#: Re-warm-up after a resize, in epochs, before shortening to a quarter of a short
#: segment: the moments carried over were estimated at the old rate, so the new one is
#: approached over about one epoch rather than jumped to.
RESIZE_WARMUP_EPOCHS = 1.0
#: The ``Config.info`` key of a :class:`LearningRateScaling` the trainer applies.
LEARNING_RATE_SCALING = "learning_rate_scaling"
#: How the learning rate grows with the width ``k``: the factor applied to the base rate.
SCALING_RULES: dict[str, Callable[[int], float]] = {
    "linear": float,
    "sqrt": math.sqrt,
}
#: Optimizers whose rate scales linearly with the global batch (plain gradient steps);
#: the others adapt each coordinate's step to the gradient's scale: square root.
LINEARLY_SCALED_OPTIMIZERS = frozenset({"sgd"})


@dataclass(frozen=True)
class RankGroup:
    """The ranks that train one configuration together, on an mpi4py communicator."""

    comm: Any

    @property
    def rank(self) -> int:
        return int(self.comm.Get_rank())

    @property
    def size(self) -> int:
        return int(self.comm.Get_size())

    @property
    def is_leader(self) -> bool:
        """The group's first rank: the one that reports the result and writes files."""
        return self.rank == 0

    def first_error(self, error: str | None, stage: Any) -> tuple[str | None, Any]:
        """Collective: the first failing rank's error (named by rank) and stage, else
        ``(None, stage)``."""
        reports = self.comm.allgather((error, stage))
        for rank, (message, where) in enumerate(reports):
            if message:
                return f"rank {rank}: {message}", where
        return None, stage

    def shortest(self, length: int) -> int:
        """Collective: the smallest of the ranks' ``length``."""
        return min(self.comm.allgather(int(length)))

    def weights_differ(self, weights: Sequence[np.ndarray]) -> bool:
        """Collective: whether the ranks' ``weights`` are not all bit-identical."""
        return len(set(self.comm.allgather(weights_digest(weights)))) > 1

    def outcome(self, failure: str | None, timed_out: bool) -> tuple[str | None, bool]:
        """Collective: the group's failure (any rank's) and whether any rank timed out."""
        outcomes = self.comm.allgather((failure, timed_out))
        failure = next((f"rank {rank}: {f}" for rank, (f, _) in enumerate(outcomes) if f), None)
        return failure, failure is None and any(t for _, t in outcomes)


def open_group(comm: Any) -> RankGroup | None:
    """The group of ``comm``, or None when training on one rank (no communicator or one rank)."""
    if comm is None:
        return None
    if not (hasattr(comm, "Get_size") and hasattr(comm, "allgather")):
        raise TypeError(f"comm must be an mpi4py communicator or None, got {comm!r}")
    return RankGroup(comm) if comm.Get_size() > 1 else None


def training_shard(data: tuple[Any, np.ndarray], rank: int, size: int) -> tuple[Any, np.ndarray]:
    """Rank ``rank``'s equal-length share of ``(x, y)``: samples ``rank::size``, truncated."""
    per_rank = num_samples(data[1]) // size
    if per_rank == 0:
        raise ProblemError(
            f"{num_samples(data[1])} training samples cannot be shared by {size} ranks: "
            "use fewer ranks (num_ranks) or more data"
        )
    return _take(data, np.arange(rank, per_rank * size, size))


def validation_shard(data: tuple[Any, np.ndarray], rank: int, size: int) -> tuple[Any, np.ndarray]:
    """Rank ``rank``'s share of ``(x, y)``: samples ``rank::size`` (all samples are used)."""
    return _take(data, np.arange(rank, num_samples(data[1]), size))


def scaled_learning_rate(learning_rate: float, num_ranks: int) -> float:
    """The rate a group of ``num_ranks`` trains at after warm-up: linear scaling."""
    return learning_rate * num_ranks


def warmup_steps(steps_per_epoch: int, epochs: int) -> int:
    """Optimizer steps of the warm-up: ``min(5, epochs / 4)`` epochs, at least one step."""
    return max(1, math.ceil(steps_per_epoch * initial_warmup_epochs(epochs)))


def initial_warmup_epochs(epochs: int) -> float:
    """Epochs of the warm-up of a fresh training of ``epochs``: ``min(5, epochs / 4)``."""
    return min(WARMUP_EPOCHS, epochs / 4)


def resize_warmup_epochs(segment_epochs: int) -> float:
    """Epochs of the re-warm-up after a resize, for a segment of ``segment_epochs``:
    ``min(1, segment_epochs / 4)``."""
    return min(RESIZE_WARMUP_EPOCHS, segment_epochs / 4)


def scaling_rule_for(optimizer: str) -> str:
    """The scaling rule of an optimizer name: ``"linear"`` for SGD, else ``"sqrt"``."""
    return "linear" if optimizer in LINEARLY_SCALED_OPTIMIZERS else "sqrt"


@dataclass(frozen=True)
class LearningRateScaling:
    """How a segment that continues a checkpoint on another width sets its learning rate.

    Attributes:
        rule: ``"linear"`` (rate times the width) or ``"sqrt"`` (times its square root).
        from_width: the width the checkpoint was trained at (1 for a fresh model): the
            ramp starts at that width's rate.
        warmup_epochs: length of the ramp to the new width's rate, from the segment's
            first step (0: none).
    """

    rule: str = "linear"
    from_width: int = 1
    warmup_epochs: float = 0.0

    def __post_init__(self) -> None:
        if self.rule not in SCALING_RULES:
            expected = sorted(SCALING_RULES)
            raise ValueError(f"scaling rule {self.rule!r}: expected one of {expected}")
        width = self.from_width
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"from_width must be an int >= 1, got {width!r}")
        epochs = self.warmup_epochs
        valid = isinstance(epochs, (int, float)) and not isinstance(epochs, bool)
        if not valid or not math.isfinite(epochs) or epochs < 0:
            raise ValueError(f"warmup_epochs must be a number >= 0, got {epochs!r}")

    def factor(self, num_ranks: int) -> float:
        """The learning rate of ``num_ranks`` ranks, as a multiple of the base rate."""
        return SCALING_RULES[self.rule](num_ranks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "from_width": self.from_width,
            "warmup_epochs": self.warmup_epochs,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> LearningRateScaling | None:
        """The scaling a ``Config.info`` entry describes (None stays None).

        Raises:
            ValueError: naming an unknown key or a bad value.
        """
        if data is None:
            return None
        if not isinstance(data, Mapping):
            raise ValueError(f"{LEARNING_RATE_SCALING} must be a dict, got {data!r}")
        unknown = sorted(set(data) - {"rule", "from_width", "warmup_epochs"})
        if unknown:
            raise ValueError(
                f"unknown key(s) {unknown} in {LEARNING_RATE_SCALING}: expected rule, "
                "from_width, warmup_epochs"
            )
        return cls(**data)


@dataclass(frozen=True)
class WarmupPlan:
    """The learning-rate ramp of one segment on a group: from ``start`` to ``target``
    over ``steps`` optimizer steps, the first of which is step ``first_step`` of it."""

    start: float
    target: float
    steps: int
    first_step: int

    def rate(self, step: int) -> float:
        """The rate at step ``step`` of the ramp (from 0), then ``target`` past its end."""
        return self.start + (self.target - self.start) * min(1.0, step / self.steps)


def warmup_plan(
    learning_rate: float,
    num_ranks: int,
    steps_per_epoch: int,
    epochs: int,
    initial_epoch: int = 0,
    scaling: LearningRateScaling | None = None,
) -> WarmupPlan:
    """The ramp a group of ``num_ranks`` uses for a segment of a training of ``epochs``
    (the configuration's whole training, not the segment's end).

    Without ``scaling`` (the default rule): linear scaling, warmed up over
    :func:`warmup_steps` counted from the configuration's first step, so that a
    continued segment resumes the ramp where its checkpoint left it. With ``scaling``:
    that rule's rate for ``num_ranks``, from the rate of ``scaling.from_width``, over
    ``scaling.warmup_epochs`` from the segment's first step.
    """
    if scaling is None:
        return WarmupPlan(
            learning_rate,
            scaled_learning_rate(learning_rate, num_ranks),
            warmup_steps(steps_per_epoch, epochs),
            initial_epoch * steps_per_epoch,
        )
    start = learning_rate * scaling.factor(scaling.from_width)
    target = learning_rate * scaling.factor(num_ranks)
    if scaling.warmup_epochs == 0 or start == target:
        return WarmupPlan(target, target, 1, 1)  # past its one step: the target throughout
    steps = max(1, math.ceil(steps_per_epoch * scaling.warmup_epochs))
    return WarmupPlan(start, target, steps, 0)


def weights_digest(weights: Sequence[np.ndarray]) -> str:
    """A SHA-256 digest of arrays' shapes, types and bytes."""
    digest = hashlib.sha256()
    for array in weights:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _take(data: tuple[Any, np.ndarray], indices: np.ndarray) -> tuple[Any, np.ndarray]:
    x, y = data
    return _rows(x, indices), _rows(y, indices)


def _rows(arrays: Any, indices: np.ndarray) -> Any:
    """The rows ``indices`` of one array or of each of a dict of arrays."""
    if isinstance(arrays, Mapping):
        return {name: values[indices] for name, values in arrays.items()}
    return arrays[indices]
