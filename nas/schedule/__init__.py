"""Schedulers: what trains next and for how long, over any search.

* :class:`FullTraining` — every proposal trains once, fully (the default).
"""

from nas.schedule._base import FullTraining, Job, Scheduler, Segment
from nas.schedule._registry import SCHEDULERS, SchedulingContext, make_scheduler

__all__ = [
    "SCHEDULERS",
    "FullTraining",
    "Job",
    "Scheduler",
    "SchedulingContext",
    "Segment",
    "make_scheduler",
]
