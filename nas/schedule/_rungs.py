"""What successive-halving schedulers share: rung resources, a rung's ranking, parameters.

A configuration trained to a rung's resource (epochs) is *recorded* at that rung with its
score (its objectives and constraint violation, when there are several or constraints);
the rung ranks what it has recorded so far, best first: by score, or as MO-ASHA does by
constraint violation, Pareto front and crowding distance (:class:`Rung`). A failed
evaluation is a member of the rung ranked below every score, and is never promoted.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Mapping
from typing import Any

import numpy as np

from nas.pareto import rank_order

#: A failed evaluation's sort key: after every score.
_FAILED = math.inf


def rung_resources(min_resource: int, max_resource: int, reduction_factor: int) -> list[int]:
    """The resources (epochs) of the rungs: ``r, r·η, r·η², ...`` while below ``R``,
    then ``R``, so that the best configurations always train to the full budget.

    Example:
        >>> rung_resources(1, 27, 3)
        [1, 3, 9, 27]
        >>> rung_resources(2, 10, 3)
        [2, 6, 10]
    """
    resources = []
    resource = min_resource
    while resource < max_resource:
        resources.append(resource)
        resource *= reduction_factor
    resources.append(max_resource)
    return resources


class Rung:
    """The configurations recorded at one rung, ranked best first; failed ones last.

    **One objective, no constraint** (every member's ``scores`` is ``(score,)`` and its
    violation 0): ranked by score, ties by arrival (the earlier first). Besides the
    ranking of all members it keeps the ranking of those that may still be promoted (not
    failed, not promoted yet), so that finding the best promotable member costs a binary
    search even with thousands of members.

    **Several objectives, or a constraint broken** (a member with more than one score or
    a violation above 0; from then on for good): ranked as MO-ASHA ranks a rung
    (Schmucker et al. 2021, its NSGA-II variant), by :func:`nas.pareto.rank_order` over
    the members that did not fail, in arrival order: constraint violation ascending (a
    feasible member before every infeasible one), then non-dominated front, then crowding
    distance descending as the tie-break within a front (the extremes of a front first),
    then arrival (the earlier first). Failed members follow, in arrival order. With one
    objective this is the order above. The ranking is computed again, lazily, after each
    new member: unlike a score order, an arrival may reorder earlier members (it changes
    fronts and crowding), so a member's rank is the one it has now.
    """

    def __init__(self) -> None:
        self._keys: list[tuple[float, int]] = []  # (-score, arrival), sorted: best first
        self._waiting: list[tuple[float, int, int]] = []  # (-score, arrival, config)
        self._key_of: dict[int, tuple[float, int]] = {}
        self._arrivals = 0
        # The objectives of the members that did not fail (oriented, larger is better)
        # and their violations, in arrival order; and whether to rank by front.
        self._vectors: dict[int, tuple[tuple[float, ...], float]] = {}
        self._by_front = False
        self._front_order: list[int] | None = None  # by front: all members, best first
        self._front_rank: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, config: int) -> bool:
        return config in self._key_of

    @property
    def ranked_by_front(self) -> bool:
        """Whether the rung ranks by front and violation rather than by score."""
        return self._by_front

    def add(
        self,
        config: int,
        score: float | None,
        promotable: bool = True,
        scores: tuple[float, ...] | None = None,
        violation: float = 0.0,
    ) -> int:
        """Record ``config`` (``score`` None: failed) and return its rank, 1 for the best.

        ``scores`` (default ``(score,)``) are its objectives, each oriented so that
        larger is better, and ``violation`` its constraint violation (0: feasible); the
        members that did not fail must have as many objectives as each other. A failed
        member, or one added with ``promotable=False``, is never offered by
        :meth:`best_promotable`.
        """
        if score is not None:
            vector = (float(score),) if scores is None else tuple(map(float, scores))
            if self._vectors:
                width = len(next(iter(self._vectors.values()))[0])
                if len(vector) != width:
                    raise ValueError(
                        f"configuration {config} has {len(vector)} objective(s), the "
                        f"rung's other members {width}: a rung ranks like with like"
                    )
            violation = float(violation)
            if math.isnan(violation) or violation < 0:
                raise ValueError(f"a violation is >= 0 (0: feasible), got {violation}")
            self._vectors[config] = (vector, violation)
            if len(vector) > 1 or violation > 0:
                self._by_front = True
        key = (_FAILED if score is None else -score, self._arrivals)
        self._arrivals += 1
        insort(self._keys, key)
        self._key_of[config] = key
        if score is not None and promotable:
            insort(self._waiting, (*key, config))
        self._front_order = None
        return self.rank(config)

    def rank(self, config: int) -> int:
        """The rank of a member among all members, 1 for the best."""
        if self._by_front:
            return self._front_ranks()[config]
        return bisect_left(self._keys, self._key_of[config]) + 1

    def best_promotable(self, reduction_factor: int) -> int | None:
        """The best member not promoted yet, if it is in the top ``1/η`` of the rung
        (rank at most ``len // η``); None otherwise (then no other member is either)."""
        if not self._waiting:
            return None
        if self._by_front:
            waiting = {entry[2] for entry in self._waiting}
            best = next(c for c in self._ordered() if c in waiting)
        else:
            best = self._waiting[0][2]
        return best if self.rank(best) <= len(self) // reduction_factor else None

    def promote(self, config: int) -> None:
        """Take ``config`` off the members that may be promoted (idempotent)."""
        key = self._key_of.get(config)
        if key is None:
            return
        index = bisect_left(self._waiting, (*key, config))
        if index < len(self._waiting) and self._waiting[index][2] == config:
            del self._waiting[index]

    def top(self, count: int) -> list[int]:
        """The ``count`` best members that did not fail, best first."""
        if self._by_front:
            return [c for c in self._ordered() if c in self._vectors][:count]
        by_key = {key: config for config, key in self._key_of.items()}
        return [by_key[key] for key in self._keys[:count] if key[0] != _FAILED]

    # -- ranking by front --------------------------------------------------------------

    def _ordered(self) -> list[int]:
        """By front: every member, best first (computed once per new member)."""
        if self._front_order is None:
            by_arrival = sorted(self._key_of, key=lambda c: self._key_of[c][1])
            ranked = [c for c in by_arrival if c in self._vectors]
            if ranked:
                points = -np.array([self._vectors[c][0] for c in ranked])  # minimised
                violation = [self._vectors[c][1] for c in ranked]
                ranked = [ranked[i] for i in rank_order(points, violation)]
            failed = [c for c in by_arrival if c not in self._vectors]
            self._front_order = ranked + failed
            self._front_rank = {c: i + 1 for i, c in enumerate(self._front_order)}
        return self._front_order

    def _front_ranks(self) -> dict[int, int]:
        self._ordered()
        return self._front_rank


def check_params(
    name: str, given: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """``defaults`` updated with ``given``; an unknown name is a ValueError listing the
    valid ones."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for scheduler {name!r}; valid parameters: "
            f"{sorted(defaults)}"
        )
    return {**defaults, **given}


def check_int(name: str, value: Any, minimum: int, flag: str | None = None) -> int:
    """``value`` as an int of at least ``minimum``, else a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        shown = f"{name} ({flag})" if flag else name
        raise ValueError(f"{shown} must be an int >= {minimum}, got {value!r}")
    return value


def check_budget(min_epochs: Any, max_epochs: Any, reduction_factor: Any) -> None:
    """Validate ``0 < r <= R`` and ``η >= 2`` with messages that name the flags."""
    check_int("min_epochs", min_epochs, 1, "--min-epochs, r")
    check_int("max_epochs", max_epochs, 1, "--max-epochs, R")
    check_int("reduction_factor", reduction_factor, 2, "--reduction-factor, eta")
    if min_epochs > max_epochs:
        raise ValueError(
            f"min_epochs (--min-epochs, r) = {min_epochs} exceeds max_epochs "
            f"(--max-epochs, R) = {max_epochs}: need 0 < r <= R"
        )
