"""Synchronous successive halving (Jamieson & Talwalkar 2016; Li et al. 2017), the
baseline ASHA is measured against.

A *bracket* starts ``n`` configurations at rung 0 (``r`` epochs). When every
evaluation of a rung has finished, the best ``max(1, ⌊m / η⌋)`` of its ``m``
configurations that did not fail go on to the next rung (``r·η``, ..., up to ``R``,
continuing their checkpoints); the rest stop. With ``n = 27``, ``η = 3``, ``r = 1``,
``R = 27``: rungs of 27, 9, 3 and 1 configurations at 1, 3, 9 and 27 epochs. When the
last rung has finished, the next bracket starts.

The rung is a barrier: while its last evaluations run, :meth:`ask` has nothing to give
and workers wait. That idle time is what the asynchronous form (ASHA) removes, and what
``scripts/bench_multifidelity.py`` measures. The search is told every segment, as
ASHA tells it.

With several objectives or constraints, a rung is ranked as in ASHA (MO-ASHA:
constraint violation, then non-dominated front, then crowding distance within a front,
then the earlier arrival; see :class:`nas.schedule._rungs.Rung`), a configuration's
objectives being each the best so far and its violation the smallest so far
(:func:`nas.schedule._asha.best_so_far`), and the best ``max(1, ⌊m / η⌋)`` by that
rank go on. With one objective and no constraint broken, it ranks by score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nas.schedule._asha import best_so_far
from nas.schedule._base import Job, LiveCheckpoints, Scheduler, Segment
from nas.schedule._registry import SchedulingContext
from nas.schedule._rungs import Rung, check_budget, check_int, check_params, rung_resources
from nas.search import Observation, Proposal, Search


class SuccessiveHalving(Scheduler):
    """Synchronous successive halving over ``search``, bracket after bracket.

    Args:
        search: proposes the configurations of each bracket's rung 0.
        min_epochs: ``r``; max_epochs: ``R``; reduction_factor: ``η``.
        num_configurations: ``n``, configurations per bracket (default ``η^K``, ``K``
            the number of rungs above the first: one configuration reaches ``R``).
        brackets: brackets to run (None: until the budget ends).

    Jobs carry in ``Job.info``: ``scheduler`` (``"sha"``), ``bracket``, ``rung``,
    ``config`` and ``resource`` as for ASHA.
    """

    name = "sha"

    def __init__(
        self,
        search: Search,
        min_epochs: int,
        max_epochs: int,
        reduction_factor: int = 3,
        num_configurations: int | None = None,
        brackets: int | None = None,
    ) -> None:
        super().__init__(search)
        check_budget(min_epochs, max_epochs, reduction_factor)
        self.resources = rung_resources(min_epochs, max_epochs, reduction_factor)
        self.reduction_factor = reduction_factor
        if num_configurations is None:
            num_configurations = reduction_factor ** (len(self.resources) - 1)
        self.num_configurations = check_int("num_configurations", num_configurations, 1)
        self.brackets = None if brackets is None else check_int("brackets", brackets, 1)
        self.bracket = 0
        self.rung = 0
        self.finished = False  # the last bracket ended, or the search has no more
        self._members: Rung = Rung()  # the current rung's finished configurations
        self._to_start: list[int] = []  # promoted configurations not asked yet
        self._new_left = self.num_configurations  # rung 0: configurations not started
        self._running: set[int] = set()
        self._proposals: dict[int, Proposal] = {}
        self._trial_of: dict[int, int] = {}  # configuration -> its last segment
        self._scores: dict[int, float | None] = {}
        # Each configuration's objectives (each the best so far) and violation.
        self._vectors: dict[int, tuple[tuple[float, ...], float]] = {}
        self._next_id = 0
        # The checkpoint each configuration of the current rung may continue from (its
        # last segment, if that did not fail), kept as they change: the driver asks
        # after every result, and a rung holds thousands at 4,096 ranks.
        self._checkpoints = LiveCheckpoints()

    @property
    def top_rung(self) -> int:
        return len(self.resources) - 1

    def ask(self, n: int) -> list[Job]:
        """The current rung's configurations not started yet; none at the barrier."""
        jobs: list[Job] = []
        while len(jobs) < n and not self.finished:
            if self._to_start:
                config = self._to_start.pop(0)
                jobs.append(self._job(config))
            elif self.rung == 0 and self._new_left:
                proposals = self.search.ask(min(n - len(jobs), self._new_left))
                self._new_left -= len(proposals)
                if not proposals:  # the search has no more (a finished grid)
                    self._new_left = 0
                for proposal in proposals:
                    config = self._next_id
                    self._next_id += 1
                    self._proposals[config] = proposal
                    jobs.append(self._job(config))
            else:
                break
            self._advance_if_complete()
        return jobs

    def tell(self, segments: Sequence[Segment]) -> None:
        observations = []
        for segment in segments:
            config = self._adopt(segment.job)
            self._running.discard(config)
            previous = self._scores.get(config)
            score = segment.score
            if score is not None and previous is not None:
                score = max(score, previous)
            self._scores[config] = score
            if score is None:
                self._vectors.pop(config, None)
                scores, violation = None, 0.0
            else:
                old_scores, old_violation = self._vectors.get(config, (None, 0.0))
                scores, violation = best_so_far(old_scores, old_violation, segment)
                self._vectors[config] = (scores, violation)
            self._trial_of[config] = segment.trial_id
            self._members.add(config, score, promotable=False, scores=scores, violation=violation)
            # Its previous checkpoint (the one this segment continued) is done with; the
            # new one lives until the rung is decided, if the segment did not fail.
            if score is not None:
                self._checkpoints.keep(config, segment.trial_id)
            else:
                self._checkpoints.release(config)
            proposal = self._proposals[config]
            observations.append(
                Observation(
                    proposal.arch_seq,
                    dict(proposal.hyperparameters),
                    score,
                    scores,
                    violation,
                )
            )
            self._advance_if_complete()
        self.search.tell(observations)

    def running(self, jobs: Sequence[Job]) -> None:
        """On resume: the jobs re-run count as started; the search is told of the new
        configurations among them."""
        configs = [self._adopt(job) for job in jobs]
        self.search.running(
            [self._proposals[c] for c, job in zip(configs, jobs) if job.info["rung"] == 0]
        )

    def live_checkpoints(self) -> set[int]:
        """The checkpoints that may still be continued: those of the current rung's
        configurations (running, waiting to start, or finished and waiting for the rung
        to be decided); every other configuration has stopped.

        The set is the scheduler's own, kept as it changes and returned without a copy:
        read it, do not change it."""
        return self._checkpoints.trials

    def released_checkpoints(self) -> list[int]:
        """The checkpoints that left :meth:`live_checkpoints` since the last call, as
        recorded when they did (no comparison of sets)."""
        return self._checkpoints.drain()

    def get_state(self) -> dict[str, Any]:
        return {"search": self.search.get_state(), "next_config": self._next_id}

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        self._next_id = int(state["next_config"])

    # -- the barrier -------------------------------------------------------------------

    def _advance_if_complete(self) -> None:
        """Promote when the current rung has no evaluation left to start or running."""
        waiting = self._to_start or self._running or (self.rung == 0 and self._new_left)
        if waiting or self.finished:
            return
        size = len(self._members)
        ranked = self._members.top(size)  # the members that did not fail, best first
        promoted = ranked[: max(1, size // self.reduction_factor)]
        self._members = Rung()
        going_on = self.rung < self.top_rung and bool(promoted)
        # The others stop here: their checkpoints are done with (once per rung member).
        for config in ranked[len(promoted) if going_on else 0 :]:
            self._checkpoints.release(config)
        if going_on:
            self.rung += 1
            self._to_start = promoted
            return
        if size == 0 and self.rung == 0:  # the search proposed nothing: no more brackets
            self.finished = True
            return
        self.bracket += 1
        self.rung = 0
        self._new_left = self.num_configurations
        if self.brackets is not None and self.bracket >= self.brackets:
            self.finished = True

    def _job(self, config: int) -> Job:
        self._running.add(config)
        proposal = self._proposals[config]
        info = {
            "scheduler": self.name,
            "bracket": self.bracket,
            "rung": self.rung,
            "config": config,
            "resource": self.resources[self.rung],
        }
        return Job(
            proposal.arch_seq,
            dict(proposal.hyperparameters),
            epochs=self.resources[self.rung],
            continue_from=self._trial_of.get(config) if self.rung > 0 else None,
            checkpoint=self.rung < self.top_rung,
            info=info,
        )

    def _adopt(self, job: Job) -> int:
        """The configuration of a job; on resume, one not seen yet counts as started."""
        info = job.info
        if info.get("scheduler") != self.name:
            raise ValueError(
                f"a segment not scheduled by {self.name} (its info is {dict(info)!r})"
            )
        config = int(info["config"])
        if config not in self._proposals:
            self._proposals[config] = Proposal(tuple(job.arch_seq), dict(job.hyperparameters))
            self._next_id = max(self._next_id, config + 1)
        if config not in self._running and (info["bracket"], info["rung"]) == (
            self.bracket,
            self.rung,
        ):
            # Replayed: it was started before the resume.
            if self.rung == 0 and config not in self._members:
                self._new_left -= 1
            elif config in self._to_start:
                self._to_start.remove(config)
            self._running.add(config)
        return config


#: ``make_successive_halving``'s parameters and defaults.
SUCCESSIVE_HALVING_PARAMETERS: dict[str, Any] = {
    "min_epochs": 1,
    "max_epochs": None,
    "reduction_factor": 3,
    "num_configurations": None,
    "brackets": None,
}


def make_successive_halving(
    search: Search, context: SchedulingContext, **params: Any
) -> SuccessiveHalving:
    """Synchronous successive halving over ``search`` (``--scheduler sha``), with
    ASHA's parameters plus ``num_configurations`` and ``brackets``."""
    values = check_params("sha", params, SUCCESSIVE_HALVING_PARAMETERS)
    if values["max_epochs"] is None:
        values["max_epochs"] = context.max_epochs
    return SuccessiveHalving(search, **values)
