"""Schedulers by the name ``nas-search --scheduler`` takes, and how to make one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nas.registry import Registry
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
        widths: the data-parallel widths the problem declares (its ``num_ranks``
            values), for a scheduler that chooses the width itself (RASDA).
        direction: the problem's direction (``"max"`` or ``"min"``): scores are always
            oriented so that larger is better; this only serves to report values in the
            problem's units.
    """

    max_epochs: int
    max_width: int
    num_workers: int
    seed: int | None
    direction: str = "max"
    widths: tuple[int, ...] = (1,)


#: A factory: (search, context, **parameters) -> scheduler. Parameters come from the
#: command line or ``run_search(scheduler_kwargs=...)`` and are recorded for resume.
SchedulerFactory = Callable[..., Scheduler]


def full_training(search: Search, context: SchedulingContext) -> Scheduler:
    """Each proposal trains once, fully."""
    return FullTraining(search)


#: Scheduler factories by name, as ``"module:function"`` imported when used, so that
#: choosing one never imports the others. An entry may also be a :class:`Scheduler`
#: subclass, made as ``cls(search, **parameters)``: how a scheduler given to a study as
#: an object is made again on resume.
SCHEDULERS: Registry[SchedulerFactory | type[Scheduler]] = Registry(
    "scheduler",
    {
        "none": "nas.schedule._registry:full_training",
        "asha": "nas.schedule._asha:make_asha",
        "rasda": "nas.schedule._rasda:make_rasda",
        "sha": "nas.schedule._successive_halving:make_successive_halving",
        "lcm": "nas.schedule._lcm:make_lcm",
        "pbt": "nas.schedule._pbt:make_pbt",
    },
)

#: Schedulers that choose each evaluation's ``num_ranks`` themselves: the search does
#: not search it (``run_search`` holds it at the problem's smallest width), so that a
#: search's proposals, and a model-based search's surrogate, are the same as under any
#: other scheduler.
WIDTH_SETTING_SCHEDULERS = frozenset({"rasda"})
#: Schedulers that rank configurations by one objective (their class's
#: ``ranks_by_front`` is False): refused for a problem of several objectives or
#: constraints, before the search's folder is touched.
ONE_OBJECTIVE_SCHEDULERS = frozenset({"lcm", "pbt"})


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
    entry = SCHEDULERS.get(name)
    if isinstance(entry, type) and issubclass(entry, Scheduler):
        return entry(search, **dict(kwargs or {}))
    return entry(search, context, **dict(kwargs or {}))
