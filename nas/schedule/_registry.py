"""Schedulers by the name ``nas-search --scheduler`` takes, and how to make one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nas.schedule._base import FullTraining, Scheduler
from nas.search import Search


@dataclass(frozen=True)
class SchedulingContext:
    """What a scheduler may need to know about the run, besides its own parameters.

    Attributes:
        max_epochs: the most epochs a configuration of the problem trains (the largest
            value of its ``epochs`` hyperparameter): the default full budget.
        max_width: the widest data-parallel evaluation the evaluator runs (1 for the
            process pool, the largest power of two of the worker ranks under MPI).
        num_workers: evaluations (or ranks) that run at once.
        seed: the search seed, for the scheduler's own random choices.
    """

    max_epochs: int
    max_width: int
    num_workers: int
    seed: int | None


#: A factory: (search, context, **parameters) -> scheduler. Parameters come from the
#: command line or ``run_search(scheduler_kwargs=...)`` and are recorded for resume.
SchedulerFactory = Callable[..., Scheduler]

SCHEDULERS: dict[str, SchedulerFactory] = {
    "none": lambda search, context: FullTraining(search),
}


def make_scheduler(
    name: str,
    search: Search,
    context: SchedulingContext,
    kwargs: Mapping[str, Any] | None = None,
) -> Scheduler:
    """The scheduler ``name`` over ``search``.

    Raises:
        ValueError: for an unknown name (listing the known ones) or bad parameters.
    """
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; expected one of {sorted(SCHEDULERS)}")
    return SCHEDULERS[name](search, context, **dict(kwargs or {}))
