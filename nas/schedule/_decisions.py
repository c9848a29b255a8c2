"""What a scheduler decided about one trial, as four plain fields.

Schedulers record their decisions in their own words: in the job's ``info`` when a
segment starts (its rung and resource; how a population member started) and in
:meth:`Scheduler.notes` once it has finished (ASHA's ``decision`` and ``reason``,
learning-curve matching's ``lcm_decision`` and ``lcm_reason``). :func:`decision_of`
reads them back into :class:`Decision`, so that ``results.csv`` and
:func:`nas.load_results` show them as columns without knowing each scheduler; the
whole record stays in the ``info`` column for what the four fields leave out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The ``info`` key under which population-based training records a member's step.
_PBT = "pbt"


@dataclass(frozen=True)
class Decision:
    """A scheduler's decision about one trial (None where it records no such thing).

    Attributes:
        rung: the rung the segment trained at (successive halving: ASHA, RASDA, SHA).
        resource: the epoch the segment trained to, as the scheduler asked; None when
            the trial trains the problem's own ``epochs`` (no scheduler).
        decision: what was decided: after the segment finished, ASHA's ``candidate``,
            ``continue``, ``stop``, ``complete`` or ``failed`` and learning-curve
            matching's ``continue``, ``stop``, ``complete``, ``ended`` or ``failed``;
            for population-based training, which decides as it starts a segment, its
            action (``start``, ``continue``, ``exploit``, ``restart``).
        reason: why, in words.

    Example:
        >>> decision_of({"rung": 1, "resource": 3}, {"decision": "stop", "reason": "rank 4"})
        Decision(rung=1, resource=3, decision='stop', reason='rank 4')
    """

    rung: int | None = None
    resource: int | None = None
    decision: str | None = None
    reason: str | None = None


def decision_of(
    info: Mapping[str, Any], notes: Mapping[str, Any], epochs: int | None = None
) -> Decision:
    """The decision recorded for a trial: its job's ``info``, the scheduler's ``notes``
    about it once finished, and the epoch its segment was asked to train to."""
    lineage = info.get(_PBT) if isinstance(info.get(_PBT), Mapping) else {}
    rung = info.get("rung")
    resource = info.get("resource", epochs)
    decision = notes.get("decision", notes.get("lcm_decision", lineage.get("action")))
    reason = notes.get("reason", notes.get("lcm_reason", lineage.get("reason")))
    return Decision(
        None if rung is None else int(rung),
        None if resource is None else int(resource),
        None if decision is None else str(decision),
        None if reason is None else str(reason),
    )
