"""The interface between the driver and multi-fidelity schedulers.

A search (``nas.search``) proposes configurations; a scheduler decides what trains next
and for how long: a new configuration for a few epochs, or more epochs for one that did
well (successive halving), with more ranks (RASDA), or a copy of a better member with a
perturbed learning rate (population-based training). It does so in **segments**: each
:class:`Job` trains a configuration up to an epoch, possibly continuing the checkpoint
an earlier segment saved. Like searches, schedulers are pure: they never start a
process, sleep or touch a file; the driver turns jobs into configs, runs them and tells
the scheduler how each segment went.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nas.registry import RecordsArguments
from nas.search import Observation, Proposal, Search


@dataclass(frozen=True)
class Job:
    """A segment of training the scheduler asks for.

    Attributes:
        arch_seq: the architecture.
        hyperparameters: its hyperparameters (a continued segment may change them, e.g.
            the learning rate in population-based training or ``num_ranks`` in RASDA).
        epochs: train until this epoch (a total); None: the ``epochs`` hyperparameter.
        continue_from: the trial id of the segment whose checkpoint to continue (its
            weights and optimizer state); None: a fresh model.
        checkpoint: save this segment's model and optimizer state, so that a later job
            can continue it.
        info: notes recorded with the trial (a rung, a population member, ...).
    """

    arch_seq: tuple[int, ...]
    hyperparameters: Mapping[str, Any]
    epochs: int | None = None
    continue_from: int | None = None
    checkpoint: bool = False
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Segment:
    """How one job went, as the scheduler sees it.

    Attributes:
        trial_id: the id the driver gave the job's evaluation.
        job: the job.
        initial_epoch: epochs trained before this segment.
        epochs_trained: epochs this segment completed.
        score: the segment's objective, oriented so that larger is better (the best
            epoch of the segment); None when it failed.
        curve: the oriented objective after each epoch of the segment (None: NaN).
        scores, violation: every objective oriented, and the constraint violation, as
            :class:`nas.search.Observation` has them (``(score,)`` and 0 for one
            objective without constraints).
    """

    trial_id: int
    job: Job
    initial_epoch: int
    epochs_trained: int
    score: float | None
    curve: tuple[float | None, ...] = ()
    scores: tuple[float, ...] | None = None
    violation: float = 0.0

    def __post_init__(self) -> None:
        if self.scores is None and self.score is not None:
            object.__setattr__(self, "scores", (self.score,))

    @property
    def failed(self) -> bool:
        return self.score is None

    @property
    def epochs_reached(self) -> int:
        """The epoch the model is at after this segment."""
        return self.initial_epoch + self.epochs_trained

    def observation(self) -> Observation:
        """What a search learns from this segment."""
        return Observation(
            self.job.arch_seq,
            dict(self.job.hyperparameters),
            self.score,
            self.scores,
            self.violation,
        )


class LiveCheckpoints:
    """The checkpoints a scheduler's later jobs may continue, kept as they change, with
    those released since :meth:`drain` was last called.

    Each owner (a configuration, a run) holds at most one checkpoint: :meth:`keep` a new
    one releases the owner's previous one. For schedulers with thousands of live
    checkpoints, which serve :meth:`Scheduler.live_checkpoints` (:attr:`trials`, without
    a copy) and :meth:`Scheduler.released_checkpoints` (:meth:`drain`) from it.
    """

    def __init__(self) -> None:
        #: The live checkpoints' trial ids.
        self.trials: set[int] = set()
        self._by_owner: dict[Any, int] = {}
        self._released: list[int] = []

    def keep(self, owner: Any, trial_id: int) -> None:
        """``trial_id``'s checkpoint is ``owner``'s live one (its previous one is not)."""
        self.release(owner)
        self._by_owner[owner] = trial_id
        self.trials.add(trial_id)

    def release(self, owner: Any) -> None:
        """``owner``'s checkpoint, if it has a live one, is live no more."""
        trial_id = self._by_owner.pop(owner, None)
        if trial_id is not None:
            self.trials.discard(trial_id)
            self._released.append(trial_id)

    def drain(self) -> list[int]:
        """The trial ids released since the last call."""
        released, self._released = self._released, []
        return released


class Scheduler(RecordsArguments, ABC):
    """Decides which segments of training run next, over a search that proposes.

    Attributes:
        ranks_by_front: whether it can rank configurations by several objectives and
            constraints (a Pareto front); one that cannot is refused for such a problem.
    """

    ranks_by_front = True

    def __init__(self, search: Search) -> None:
        self.search = search
        # What live_checkpoints() held at the last released_checkpoints() (its default).
        self._live_snapshot: set[int] = set()

    @abstractmethod
    def ask(self, n: int) -> list[Job]:
        """Up to ``n`` jobs to start now (fewer, or none, when it must wait for results)."""

    @abstractmethod
    def tell(self, segments: Sequence[Segment]) -> None:
        """Learn how segments went (in the order they finished)."""

    def running(self, jobs: Sequence[Job]) -> None:
        """Be told of jobs being run that this object did not just ask for: on resume,
        the evaluations the journal re-runs (a scheduler with its own bookkeeping of
        running jobs rebuilds it here)."""
        self.search.running([Proposal(job.arch_seq, job.hyperparameters) for job in jobs])

    def live_checkpoints(self) -> set[int]:
        """Trial ids whose checkpoints a later job may still continue; the driver
        deletes the others.

        The driver asks after every batch of results and only tests membership (``in``):
        a scheduler with many live checkpoints returns a set it keeps up to date, without
        a copy, rather than building one per call.
        """
        return set()

    def released_checkpoints(self) -> list[int]:
        """Trial ids that have left :meth:`live_checkpoints` since the last call (each
        at least once; an id that is live again may be among them).

        The driver deletes a checkpoint only when its status may have changed: the ones
        its finished segments saved or continued, and these; so the cost of a result
        does not grow with the number of checkpoints saved. This default compares
        :meth:`live_checkpoints` with what it was at the last call, which costs the size
        of the live set: a scheduler with many live checkpoints (ASHA, successive
        halving, LCM) keeps them in a :class:`LiveCheckpoints` and overrides this.
        """
        live = set(self.live_checkpoints())
        released = list(self._live_snapshot - live)
        self._live_snapshot = live
        return released

    def notes(self, trial_id: int) -> Mapping[str, Any]:
        """What was decided about a finished segment once it was told (for example, that
        its run stops early, why, and the final value predicted), as JSON values.

        A decision taken after a segment has nowhere else to go: no later job carries
        it. The driver writes it to the journal and to the ``info`` column of
        ``results.csv``, merged over the job's own ``info``.
        """
        return {}

    def get_state(self) -> dict[str, Any]:
        """What the journal keeps to resume exactly, besides the segments told.

        On resume, the finished segments are told again in order, then this state is
        restored (random generators and what replaying cannot rebuild).
        """
        return {"search": self.search.get_state()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.search.set_state(state["search"])


class FullTraining(Scheduler):
    """Each proposal of the search trains once, for its full number of epochs."""

    def ask(self, n: int) -> list[Job]:
        return [
            Job(proposal.arch_seq, dict(proposal.hyperparameters))
            for proposal in self.search.ask(n)
        ]

    def tell(self, segments: Sequence[Segment]) -> None:
        self.search.tell([segment.observation() for segment in segments])

    # Journals of searches without a scheduler hold the search's own state.
    def get_state(self) -> dict[str, Any]:
        return self.search.get_state()

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.search.set_state(state)
