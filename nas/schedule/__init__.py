"""Schedulers: what trains next and for how long, over any search.

* :class:`FullTraining` — every proposal trains once, fully (the default).
* :class:`ASHA` — asynchronous successive halving (promotion or stopping form).
* :class:`RASDA` — ASHA that also widens the data-parallel width at each rung.
* :class:`SuccessiveHalving` — synchronous successive halving (the baseline of ASHA).
* :class:`LearningCurveMatching` — stops runs whose curve matches poor complete ones.
* :class:`PopulationBasedTraining` — evolves the learning rate of a population;
  :func:`lineage` rebuilds each member's history from a journal.

:func:`decision_of` reads what any of them decided about a trial (rung, resource,
decision, reason) from what it recorded: the columns of ``results.csv``.
"""

from nas.schedule._asha import ASHA
from nas.schedule._base import FullTraining, Job, Scheduler, Segment
from nas.schedule._decisions import Decision, decision_of
from nas.schedule._lcm import LearningCurveMatching
from nas.schedule._pbt import PopulationBasedTraining
from nas.schedule._pbt_lineage import LineageStep, lineage
from nas.schedule._rasda import RASDA
from nas.schedule._registry import (
    ONE_OBJECTIVE_SCHEDULERS,
    SCHEDULERS,
    WIDTH_SETTING_SCHEDULERS,
    SchedulingContext,
    make_scheduler,
)
from nas.schedule._successive_halving import SuccessiveHalving

__all__ = [
    "ASHA",
    "ONE_OBJECTIVE_SCHEDULERS",
    "RASDA",
    "SCHEDULERS",
    "WIDTH_SETTING_SCHEDULERS",
    "Decision",
    "FullTraining",
    "Job",
    "LearningCurveMatching",
    "LineageStep",
    "PopulationBasedTraining",
    "Scheduler",
    "SchedulingContext",
    "Segment",
    "SuccessiveHalving",
    "decision_of",
    "lineage",
    "make_scheduler",
]
