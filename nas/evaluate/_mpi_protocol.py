"""The messages between rank 0 (the driver) and the worker ranks of the MPI evaluator.

Nothing here imports MPI. Messages are small frozen dataclasses sent with mpi4py's
pickling ``send``/``recv``; the evaluation function travels as bytes pickled once on
rank 0 and unpickled on the worker inside the worker's error handling, so that a
function a worker cannot import becomes a failed trial, not a dead worker loop.

Rank 0 sends each rank of a group a :class:`Task` (tag :data:`TASK`); every rank of the
group answers with a :class:`Done` (tag :data:`DONE`) when it has finished, the group's
first rank with the result in it. An empty message with tag :data:`STOP` ends a worker's
loop. A rank that trained alone also says which checkpoints' models it keeps warm, so
that rank 0 sends the next segment of one of them back to it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nas.evaluate._evaluation import ProblemSource

#: Rank 0 -> worker: evaluate a config.
TASK = 1
#: Worker -> rank 0: this rank is free again (with the result, from a group's first rank).
DONE = 2
#: Rank 0 -> worker: leave the loop.
STOP = 3

#: ``Create_group`` tags, kept apart from the message tags above. The worker ranks make
#: one communicator of their own at start-up (to find their node-local rank) ...
WORKERS_GROUP_TAG = 99
#: ... and each group of an evaluation one more, tagged by the evaluation's number.
#: MPI guarantees tags up to 32767 only.
_GROUP_TAG_BASE = 100
_GROUP_TAG_SPAN = 32767 - _GROUP_TAG_BASE


def group_tag(evaluation_id: int) -> int:
    """The ``Create_group`` tag of an evaluation's group of ranks."""
    return _GROUP_TAG_BASE + evaluation_id % _GROUP_TAG_SPAN


@dataclass(frozen=True)
class Task:
    """Evaluate ``config`` on the group of world ranks ``ranks`` (lowest first)."""

    evaluation_id: int
    ranks: tuple[int, ...]
    config: dict[str, Any]  # Config.to_dict()
    problem_source: ProblemSource
    timeout: float | None
    models_directory: Path | None
    function: bytes  # the pickled EvaluationFunction
    #: Bytes of models the rank may keep warm (None: its node's default).
    warm_memory: int | None = None


@dataclass(frozen=True)
class Done:
    """``rank`` has finished its part of evaluation ``evaluation_id`` and is free again.

    ``result`` (TrainingResult.to_dict()) comes from the group's first rank only;
    ``error`` says why this rank's part failed, if it did (for the others' reasons in
    the record of a group that overran); ``warm``, the checkpoints whose models this
    rank keeps warm (see :class:`nas.train.WarmModels`).
    """

    evaluation_id: int
    rank: int
    result: dict[str, Any] | None
    error: str | None
    warm: tuple[str, ...] = ()


def describe_ranks(ranks: Iterable[int]) -> str:
    """``"rank 3"``, ``"ranks 3-4"``, ``"ranks 3,5"``, ``"ranks 1-3,6"``: a trial's worker."""
    ordered = sorted(ranks)
    if len(ordered) == 1:
        return f"rank {ordered[0]}"
    runs: list[list[int]] = []
    for rank in ordered:
        if runs and rank == runs[-1][-1] + 1:
            runs[-1].append(rank)
        else:
            runs.append([rank])
    parts = [str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs]
    return "ranks " + ",".join(parts)


class Backoff:
    """Sleeps between polls: a tenth of the time waited so far, from 0.1 ms to 5 ms.

    MPI has no receive with a timeout, and a blocking receive spins a core in Open MPI,
    so both sides poll (``improbe``) and sleep in between. Sleeping a fraction of the
    time already waited bounds the delay a poll adds to about that fraction of the wait
    (10%: a message that comes after 2 ms is seen within about 0.2 ms), while a rank that
    waits long polls only ``1 / longest`` times a second and costs next to no CPU.
    """

    def __init__(self, first: float = 1e-4, longest: float = 5e-3, fraction: float = 0.1) -> None:
        self.first = first
        self.longest = longest
        self.fraction = fraction
        self._since = time.monotonic()

    def reset(self) -> None:
        """Something arrived: poll fast again."""
        self._since = time.monotonic()

    @property
    def interval(self) -> float:
        """The next sleep, in seconds."""
        waited = time.monotonic() - self._since
        return min(self.longest, max(self.first, self.fraction * waited))

    def sleep(self, limit: float | None = None) -> None:
        """Sleep the current interval (at most ``limit`` seconds)."""
        pause = self.interval if limit is None else max(0.0, min(self.interval, limit))
        time.sleep(pause)
