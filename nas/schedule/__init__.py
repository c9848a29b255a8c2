"""Schedulers: what trains next and for how long, over any search.

* :class:`FullTraining` — every proposal trains once, fully (the default).
"""

from nas.schedule._base import FullTraining, Job, Scheduler, Segment

__all__ = ["FullTraining", "Job", "Scheduler", "Segment"]
