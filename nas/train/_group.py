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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.exceptions import ProblemError

#: Warm-up length in epochs, before shortening for short trainings (Goyal et al. 2017).
WARMUP_EPOCHS = 5.0


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
    x, y = data
    per_rank = len(y) // size
    if per_rank == 0:
        raise ProblemError(
            f"{len(y)} training samples cannot be shared by {size} ranks: "
            "use fewer ranks (num_ranks) or more data"
        )
    return _take(data, np.arange(rank, per_rank * size, size))


def validation_shard(data: tuple[Any, np.ndarray], rank: int, size: int) -> tuple[Any, np.ndarray]:
    """Rank ``rank``'s share of ``(x, y)``: samples ``rank::size`` (all samples are used)."""
    return _take(data, np.arange(rank, len(data[1]), size))


def scaled_learning_rate(learning_rate: float, num_ranks: int) -> float:
    """The rate a group of ``num_ranks`` trains at after warm-up: linear scaling."""
    return learning_rate * num_ranks


def warmup_steps(steps_per_epoch: int, epochs: int) -> int:
    """Optimizer steps of the warm-up: ``min(5, epochs / 4)`` epochs, at least one step."""
    return max(1, math.ceil(steps_per_epoch * min(WARMUP_EPOCHS, epochs / 4)))


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
    if isinstance(x, Mapping):
        return {name: values[indices] for name, values in x.items()}, y[indices]
    return x[indices], y[indices]
