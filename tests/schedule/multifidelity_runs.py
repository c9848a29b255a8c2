"""A pure stand-in for the driver, to test successive-halving schedulers without training.

``FakeCluster`` runs a scheduler the way the driver does (trial ids, a continued segment
starts at its parent's epoch, the scheduler's state kept at each submission), finishing
running jobs in a seeded random order, with synthetic learning curves: a configuration's
``quality`` is where its curve ends, so a rung's ranking is known in advance.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nas.problem import Categorical, Float
from nas.schedule import Job, Scheduler, Segment
from nas.search import Observation, Proposal, RandomSearch, Search


def curve(hyperparameters: dict[str, Any], epochs: int) -> list[float]:
    """Rising curves that keep their order at every epoch: ``quality · (1 - e^{-t/3})``."""
    quality = hyperparameters["quality"]
    return [quality * (1 - math.exp(-epoch / 3)) for epoch in range(1, epochs + 1)]


class ListSearch(Search):
    """Proposes the given hyperparameters in order (then nothing) and keeps what it is
    told."""

    def __init__(self, configs: Sequence[dict[str, Any]]) -> None:
        super().__init__([], {})
        self.configs = [dict(config) for config in configs]
        self.position = 0
        self.told: list[Observation] = []
        self.running_told: list[Proposal] = []

    def ask(self, n: int = 1) -> list[Proposal]:
        taken = self.configs[self.position : self.position + n]
        self.position += len(taken)
        return [Proposal((), dict(config)) for config in taken]

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "position": self.position}

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.position = state["position"]

    def _tell_one(self, observation: Observation) -> None:
        self.told.append(observation)

    def running(self, proposals: Sequence[Proposal]) -> None:
        self.running_told += proposals


def qualities(*values: float, **extra: Any) -> list[dict[str, Any]]:
    return [{"quality": value, **extra} for value in values]


def random_search(seed: int = 0, num_ranks: Sequence[int] | None = None) -> RandomSearch:
    space: dict[str, Any] = {
        "quality": Float(0.0, 1.0),
        "optimizer": Categorical(["adam", "sgd"]),
    }
    if num_ranks is not None:
        space["num_ranks"] = Categorical(list(num_ranks))
    return RandomSearch([], space, seed=seed)


class FakeCluster:
    """Runs jobs like the driver: ``workers`` at once, finished in a seeded random order.

    A job whose hyperparameters hold ``"fails": True`` fails (score None).
    """

    def __init__(
        self,
        scheduler: Scheduler,
        workers: int = 1,
        seed: int = 0,
        curve: Callable[[dict[str, Any], int], list[float]] = curve,
    ) -> None:
        self.scheduler = scheduler
        self.workers = workers
        self.rng = np.random.default_rng(seed)
        self.curve = curve
        self.next_id = 0
        self.reached: dict[int, int] = {}  # trial id -> the epoch its model reached
        self.running: list[tuple[int, Job, int]] = []  # (trial id, job, initial epoch)
        self.asked: list[tuple[int, Job, int]] = []
        self.told: list[Segment] = []
        self.state: dict[str, Any] | None = None  # as at the last submission
        self.idle_asks = 0  # asks that returned nothing while workers were free

    def fill(self) -> list[Job]:
        free = self.workers - len(self.running)
        if free <= 0:
            return []
        jobs = self.scheduler.ask(free)
        assert len(jobs) <= free
        if not jobs:
            self.idle_asks += 1
            return []
        self.state = copy.deepcopy(self.scheduler.get_state())  # what the journal keeps
        for job in jobs:
            initial = 0 if job.continue_from is None else self.reached[job.continue_from]
            entry = (self.next_id, job, initial)
            self.next_id += 1
            self.running.append(entry)
            self.asked.append(entry)
        return jobs

    def finish(self, oldest: bool = False) -> Segment:
        index = 0 if oldest else int(self.rng.integers(len(self.running)))
        trial_id, job, initial = self.running.pop(index)
        values = tuple(self.curve(dict(job.hyperparameters), job.epochs)[initial:])
        failed = bool(job.hyperparameters.get("fails"))
        self.reached[trial_id] = initial + (0 if failed else len(values))
        segment = Segment(
            trial_id,
            job,
            initial,
            0 if failed else len(values),
            None if failed else max(values),
            () if failed else values,
        )
        self.told.append(segment)
        self.scheduler.tell([segment])
        return segment

    def run(self, max_evals: int, oldest: bool = False) -> None:
        """Until ``max_evals`` segments finished, or nothing runs and nothing is asked."""
        while len(self.told) < max_evals:
            self.fill()
            if not self.running:
                return
            self.finish(oldest)

    def resumed(self, scheduler: Scheduler) -> FakeCluster:
        """A copy of this cluster driving ``scheduler``, brought to where this one is as
        ``replay`` in nas.driver does: told the finished segments, given the state of the
        last submission, told the running jobs."""
        scheduler.tell(list(self.told))
        assert self.state is not None
        scheduler.set_state(copy.deepcopy(self.state))
        scheduler.running([job for _, job, _ in self.running])
        clone = copy.copy(self)
        clone.scheduler = scheduler
        clone.rng = copy.deepcopy(self.rng)
        clone.reached = dict(self.reached)
        clone.running = list(self.running)
        clone.asked = list(self.asked)
        clone.told = list(self.told)
        return clone


def by_config(asked: Sequence[tuple[int, Job, int]]) -> dict[int, list[tuple[int, Job, int]]]:
    """The asked jobs of each configuration (``info["config"]``), in order."""
    grouped: dict[int, list[tuple[int, Job, int]]] = {}
    for entry in asked:
        grouped.setdefault(entry[1].info["config"], []).append(entry)
    return grouped
