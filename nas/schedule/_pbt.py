"""Population-based training of the learning rate (Jaderberg et al., 2017).

A population of members, each a configuration the search proposed (architecture and
hyperparameters), trains in segments of ``interval`` epochs up to the problem's largest
``epochs``. Between two segments a member either continues its own checkpoint with the
same learning rate, or, when its latest score is in the bottom ``quantile`` of the
population, it *exploits*: it continues the checkpoint of a member of the top quantile
(weights and optimizer state, and that member's hyperparameters), and *explores*: that
member's learning rate is multiplied by a factor drawn from ``factors`` (clipped to the
hyperparameter's bounds) or, with probability ``resample_probability``, drawn afresh
from the hyperparameter's prior. Only the learning rate ever changes.

Choices, and why:

* **Asynchronous**, as in the paper's implementation and Ray Tune: a member decides when
  it is handed its next segment (right after its segment finishes, once a worker is
  free), comparing its latest score with the latest scores of the others, whatever
  epoch those are at. No member waits for the population: workers stay busy.
* **A member never goes back in training time**: it copies only members at least as
  far as itself (and not finished), and only ones that scored strictly better (copying
  an equal gains nothing and loses diversity). Each segment thus moves its member
  forward, so a run ends by itself after at most ``population * ceil(max_epochs /
  interval)`` segments (fewer when members jump ahead by copying).
* **A failed segment** (an error, a NaN loss, a timeout: no usable checkpoint) replaces
  its member by a copy of a top member, explored as above, whatever its epoch. When no
  member has a usable score yet, the member restarts from a new proposal of the search;
  when every other member has finished, it is retired.
* **The search** proposes the initial population (and restarts) and is told every
  segment's observation, as other schedulers do; a model-based search thus learns from
  partial trainings too.

Defaults: ``quantile=0.25``, ``factors=(1.2, 0.8)`` and ``resample_probability=0.25``
are Ray Tune's (``PopulationBasedTraining``), close to the paper's "truncation
selection" (bottom 20% copy the top 20%, perturb by 0.8 or 1.2). ``population`` defaults
to the number of workers, at least 4 (so that a 25% quantile holds a member), and
``interval`` to a fifth of the epochs, at least 1 (four exploit/explore steps).

Every job's ``info["pbt"]`` records the lineage: the member, its step (the member's
segment count, from 0), the action (``start``, ``continue``, ``exploit``, ``restart``),
the member, trial and epoch it copied, its learning rate before and after and how it was
explored. :func:`nas.schedule.lineage` rebuilds each member's history from a journal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.problem import Float
from nas.schedule._base import Job, Scheduler, Segment
from nas.schedule._registry import SchedulingContext
from nas.search import Proposal, Search

#: The hyperparameter population-based training evolves.
LEARNING_RATE = "learning_rate"
#: The key of a job's ``info`` holding its lineage.
INFO_KEY = "pbt"
#: Ray Tune's defaults (``ray.tune.schedulers.PopulationBasedTraining``).
DEFAULT_QUANTILE = 0.25
DEFAULT_FACTORS = (1.2, 0.8)
DEFAULT_RESAMPLE_PROBABILITY = 0.25
#: The smallest default population: one member in a 25% quantile.
MIN_DEFAULT_POPULATION = 4
#: Segments per member by default: ``interval = max_epochs // DEFAULT_SEGMENTS``.
DEFAULT_SEGMENTS = 5
#: The parameters ``make_pbt`` (``--pbt-*``) takes.
PARAMETERS = ("population", "interval", "quantile", "resample_probability", "factors")


@dataclass
class _Member:
    """What the scheduler knows of a member: its latest finished segment."""

    latest: Segment | None = None
    step: int = -1  # the step of ``latest``


class PopulationBasedTraining(Scheduler):
    """Population-based training of the learning rate, over any search.

    Args:
        search: proposes the initial members (and restarts after failures).
        max_epochs: epochs every member trains to.
        population: members trained at once (at least 2).
        interval: epochs of a segment: members exploit and explore every ``interval``
            epochs (at least 1, smaller than ``max_epochs``).
        quantile: the fraction of members, ranked by their latest score, that is
            replaced (the bottom) and copied (the top), in (0, 0.5].
        resample_probability: the probability to draw the copied learning rate from its
            prior instead of multiplying it by a factor, in [0, 1].
        factors: what a copied learning rate is multiplied by (one drawn at random).
        seed: seed of the scheduler's own draws (which member to copy, how to explore).

    Raises:
        ValueError: for a parameter out of range, or a problem whose ``learning_rate``
            is not a ``Float`` range.

    Example:
        >>> search = RandomSearch(space.choices, problem.hyperparameters, seed=0)
        >>> pbt = PopulationBasedTraining(search, max_epochs=10, population=4, interval=2)
        >>> [job.epochs for job in pbt.ask(4)]
        [2, 2, 2, 2]
    """

    #: It copies the member of best score: one objective only.
    ranks_by_front = False

    def __init__(
        self,
        search: Search,
        max_epochs: int,
        population: int = MIN_DEFAULT_POPULATION,
        interval: int = 1,
        quantile: float = DEFAULT_QUANTILE,
        resample_probability: float = DEFAULT_RESAMPLE_PROBABILITY,
        factors: Sequence[float] = DEFAULT_FACTORS,
        seed: int | None = None,
    ) -> None:
        super().__init__(search)
        self.max_epochs = _check_int("max_epochs", max_epochs, 2)
        self.population = _check_int("population", population, 2)
        self.interval = _check_int("interval", interval, 1)
        if self.interval >= self.max_epochs:
            raise ValueError(
                f"pbt: interval={interval!r} must be smaller than the epochs members train "
                f"({self.max_epochs}), or no member would ever exploit and explore"
            )
        self.quantile = _check_real("quantile", quantile, 0.0, 0.5, low_open=True)
        self.resample_probability = _check_real(
            "resample_probability", resample_probability, 0.0, 1.0
        )
        self.factors = _check_factors(factors)
        self.learning_rate = _learning_rate_prior(search)
        self.seed = seed
        # Its own stream, apart from the search's (which may use the same seed).
        self.rng = np.random.default_rng(None if seed is None else [seed, 0x9B7])
        self._members = {member: _Member() for member in range(self.population)}
        self._started = 0  # members 0 .. started-1 have been given a first job
        self._ready: list[int] = []  # members waiting for their next job, first come first
        self._running: dict[int, tuple[int, int | None]] = {}  # member: (step, continue_from)

    # -- the scheduler interface ------------------------------------------------------

    def ask(self, n: int) -> list[Job]:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"ask(n) needs a positive int, got {n!r}")
        jobs: list[Job] = []
        # The population fills first; then members continue, first finished first served.
        unstarted = min(n, self.population - self._started)
        for proposal in self.search.ask(unstarted) if unstarted else []:
            jobs.append(self._start(self._started, proposal, "start", None))
            self._started += 1
        while len(jobs) < n and self._ready:
            job = self._next_job(self._ready.pop(0))
            if job is not None:
                jobs.append(job)
        return jobs

    def tell(self, segments: Sequence[Segment]) -> None:
        for segment in segments:
            member_id, step = _member_and_step(segment.job, f"trial {segment.trial_id}")
            member = self._members.setdefault(member_id, _Member())
            member.latest, member.step = segment, step
            if member_id in self._running and self._running[member_id][0] <= step:
                del self._running[member_id]
            if member_id in self._ready:
                self._ready.remove(member_id)
            if not self._finished(segment):
                self._ready.append(member_id)
        self.search.tell([segment.observation() for segment in segments])

    def running(self, jobs: Sequence[Job]) -> None:
        # On resume: the jobs the journal re-runs are the members' running ones.
        proposed = []
        for job in jobs:
            member_id, step = _member_and_step(job, "a re-run job")
            self._running[member_id] = (step, job.continue_from)
            if member_id in self._ready:
                self._ready.remove(member_id)
            if job.info[INFO_KEY]["action"] in ("start", "restart"):
                proposed.append(Proposal(job.arch_seq, job.hyperparameters))
        # The search proposed only these; it learns of the others when they are told.
        self.search.running(proposed)

    def live_checkpoints(self) -> set[int]:
        # Latest checkpoints of members that train on (their own next segment and
        # copies need them), and those that running jobs were given. Built per call,
        # and compared per call by the default released_checkpoints: that costs the
        # population (tens of members), not the checkpoints saved over the run.
        live = {self._latest(m).trial_id for m in self._members if self._can_copy(m)}
        return live | {start for _, start in self._running.values() if start is not None}

    def get_state(self) -> dict[str, Any]:
        return {
            "search": self.search.get_state(),
            "rng": self.rng.bit_generator.state,
            "started": self._started,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.search.set_state(state["search"])
        self.rng.bit_generator.state = state["rng"]
        self._started = int(state["started"])
        # What ran when the state was saved and was not told since, :meth:`running` hears.

    # -- exploit and explore ----------------------------------------------------------

    def _next_job(self, member_id: int) -> Job | None:
        """The member's next segment, decided now against the others' latest scores."""
        latest = self._latest(member_id)  # a ready member has finished a segment
        ranking = self._ranking()
        size = min(math.ceil(self.quantile * len(ranking)), len(ranking) // 2)
        if latest.failed:
            # At least one member to copy, however small the population scored so far.
            top = ranking[len(ranking) - max(size, 1) :] if ranking else []
            sources = [m for m in top if m != member_id and self._can_copy(m)]
            if sources:
                return self._exploit(member_id, self._choose(sources), "failed")
            if self._all_others_finished(member_id):
                return None  # retired: the population has finished
            return self._restart(member_id)
        if member_id in ranking[:size]:
            top = ranking[len(ranking) - size :]
            score, epoch = latest.score, latest.epochs_reached
            sources = [
                m
                for m in top
                if self._can_copy(m)
                and self._latest(m).epochs_reached >= epoch
                and self._latest(m).score > score  # type: ignore[operator]
            ]
            if sources:
                return self._exploit(member_id, self._choose(sources), "bottom quantile")
        return self._continue(member_id, latest)

    def _ranking(self) -> list[int]:
        """Members with a usable latest score, worst first (ties: the larger id first)."""
        scored = [
            (member.latest.score, -member_id, member_id)
            for member_id, member in self._members.items()
            if member.latest is not None and not member.latest.failed
        ]
        return [member_id for _, _, member_id in sorted(scored)]

    def _can_copy(self, member_id: int) -> bool:
        latest = self._members[member_id].latest
        return latest is not None and not latest.failed and not self._finished(latest)

    def _choose(self, members: list[int]) -> int:
        return members[int(self.rng.integers(len(members)))]

    def _exploit(self, member_id: int, source_id: int, reason: str) -> Job:
        """A copy of the source's latest checkpoint, with its learning rate explored."""
        source = self._latest(source_id)
        hyperparameters = dict(source.job.hyperparameters)
        copied_rate = float(hyperparameters[LEARNING_RATE])
        if self.rng.random() < self.resample_probability:
            rate, explore, factor = float(self.learning_rate.sample(self.rng)), "resample", None
        else:
            factor = float(self.factors[int(self.rng.integers(len(self.factors)))])
            bounds = (self.learning_rate.low, self.learning_rate.high)
            rate, explore = float(np.clip(copied_rate * factor, *bounds)), "perturb"
        hyperparameters[LEARNING_RATE] = rate
        own = self._latest(member_id)
        lineage = {
            "reason": reason,
            "copied_member": source_id,
            "copied_trial": source.trial_id,
            "copied_epoch": source.epochs_reached,
            "copied_learning_rate": copied_rate,
            "previous_learning_rate": float(own.job.hyperparameters[LEARNING_RATE]),
            "explore": explore,
            "factor": factor,
        }
        return self._job(
            member_id, source.job.arch_seq, hyperparameters, source, "exploit", lineage
        )

    def _continue(self, member_id: int, latest: Segment) -> Job:
        lineage = {"previous_learning_rate": float(latest.job.hyperparameters[LEARNING_RATE])}
        return self._job(
            member_id, latest.job.arch_seq, latest.job.hyperparameters, latest, "continue", lineage
        )

    def _restart(self, member_id: int) -> Job | None:
        proposals = self.search.ask(1)
        if not proposals:
            return None  # the search has nothing left to propose (a finished grid)
        return self._start(member_id, proposals[0], "restart", self._latest(member_id))

    def _start(
        self, member_id: int, proposal: Proposal, action: str, previous: Segment | None
    ) -> Job:
        lineage: dict[str, Any] = {}
        if previous is not None:
            lineage = {
                "reason": "failed",
                "previous_learning_rate": float(previous.job.hyperparameters[LEARNING_RATE]),
            }
        return self._job(
            member_id, proposal.arch_seq, proposal.hyperparameters, None, action, lineage
        )

    def _job(
        self,
        member_id: int,
        arch_seq: Sequence[int],
        hyperparameters: Mapping[str, Any],
        parent: Segment | None,
        action: str,
        lineage: Mapping[str, Any],
    ) -> Job:
        start = 0 if parent is None else parent.epochs_reached
        # The next multiple of the interval: members meet at the same epochs.
        epochs = min(self.max_epochs, (start // self.interval + 1) * self.interval)
        step = self._members[member_id].step + 1  # a member runs one job at a time
        continue_from = None if parent is None else parent.trial_id
        self._running[member_id] = (step, continue_from)
        info = {
            "member": member_id,
            "step": step,
            "action": action,
            "learning_rate": float(hyperparameters[LEARNING_RATE]),
            **lineage,
        }
        return Job(
            tuple(int(choice) for choice in arch_seq),
            dict(hyperparameters),
            epochs,
            continue_from,
            # The last segment is copied by no one: save no checkpoint.
            checkpoint=epochs < self.max_epochs,
            info={INFO_KEY: info},
        )

    # -- helpers ----------------------------------------------------------------------

    def _latest(self, member_id: int) -> Segment:
        latest = self._members[member_id].latest
        if latest is None:  # a bug, not a user's mistake
            raise RuntimeError(f"pbt: member {member_id} has no finished segment yet")
        return latest

    def _finished(self, segment: Segment) -> bool:
        return not segment.failed and segment.epochs_reached >= self.max_epochs

    def _all_others_finished(self, member_id: int) -> bool:
        """Whether every other member finished (or was retired): none is unstarted,
        running or waiting for its next job."""
        others = set(self._running) | set(self._ready)
        return self._started >= self.population and others <= {member_id}


def make_pbt(search: Search, context: SchedulingContext, **params: Any) -> Scheduler:
    """The ``pbt`` scheduler of ``nas-search --scheduler pbt``: see the module's notes.

    Parameters (``--pbt-population``, ``--pbt-interval``, ``--pbt-quantile``,
    ``--pbt-resample-probability``, ``--pbt-factors``) default to: ``population`` the
    number of workers, at least 4; ``interval`` ``max_epochs // 5``, at least 1;
    ``quantile`` 0.25; ``resample_probability`` 0.25; ``factors`` (1.2, 0.8).

    Raises:
        ValueError: naming unknown parameters (and the valid ones) or a bad value.
    """
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise ValueError(
            f"pbt: unknown parameter(s) {unknown}; the valid ones are {list(PARAMETERS)}"
        )
    population = params.get("population", max(context.num_workers, MIN_DEFAULT_POPULATION))
    interval = params.get("interval", max(1, context.max_epochs // DEFAULT_SEGMENTS))
    return PopulationBasedTraining(
        search,
        context.max_epochs,
        population=population,
        interval=interval,
        quantile=params.get("quantile", DEFAULT_QUANTILE),
        resample_probability=params.get("resample_probability", DEFAULT_RESAMPLE_PROBABILITY),
        factors=params.get("factors", DEFAULT_FACTORS),
        seed=context.seed,
    )


def _member_and_step(job: Job, what: str) -> tuple[int, int]:
    lineage = job.info.get(INFO_KEY)
    if lineage is None:
        raise ValueError(f"{what} was not scheduled by pbt (its info has no {INFO_KEY!r})")
    return int(lineage["member"]), int(lineage["step"])


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"pbt: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_real(name: str, value: Any, low: float, high: float, low_open: bool = False) -> float:
    number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    inside = number and (low < value if low_open else low <= value) and value <= high
    if not inside:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"pbt: {name} must be a number in {interval}, got {value!r}")
    return float(value)


def _check_factors(factors: Any) -> tuple[float, ...]:
    if isinstance(factors, (str, bytes)) or not isinstance(factors, Sequence) or not factors:
        raise ValueError(f"pbt: factors must be a non-empty list of numbers, got {factors!r}")
    for factor in factors:
        number = isinstance(factor, (int, float, np.number)) and not isinstance(factor, bool)
        if not number or not math.isfinite(factor) or factor <= 0:
            raise ValueError(
                f"pbt: factors must be positive numbers, got {factor!r} in {factors!r}"
            )
    return tuple(float(factor) for factor in factors)


def _learning_rate_prior(search: Search) -> Float:
    prior = search.hyperparameters.get(LEARNING_RATE)
    if not isinstance(prior, Float):
        raise ValueError(
            f"pbt evolves the learning rate, so the problem's {LEARNING_RATE!r} must be a "
            f"Float range such as Float(1e-4, 1e-1, log=True); got {prior!r}"
        )
    return prior
