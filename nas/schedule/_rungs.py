"""What successive-halving schedulers share: rung resources, a rung's ranking, parameters.

A configuration trained to a rung's resource (epochs) is *recorded* at that rung with its
score; the rung ranks what it has recorded so far, best first. A failed evaluation is a
member of the rung ranked below every score, and is never promoted.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Mapping
from typing import Any

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
    """The configurations recorded at one rung, ranked by score (ties: the earlier first).

    It keeps, besides the ranking of all members, the ranking of those that may still be
    promoted (not failed, not promoted yet), so that finding the best promotable member
    costs a binary search even with thousands of members.
    """

    def __init__(self) -> None:
        self._keys: list[tuple[float, int]] = []  # (-score, arrival), sorted: best first
        self._waiting: list[tuple[float, int, int]] = []  # (-score, arrival, config)
        self._key_of: dict[int, tuple[float, int]] = {}
        self._arrivals = 0

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, config: int) -> bool:
        return config in self._key_of

    def add(self, config: int, score: float | None, promotable: bool = True) -> int:
        """Record ``config`` (None: failed) and return its rank, 1 for the best.

        A failed member, or one added with ``promotable=False``, is never offered by
        :meth:`best_promotable`.
        """
        key = (_FAILED if score is None else -score, self._arrivals)
        self._arrivals += 1
        insort(self._keys, key)
        self._key_of[config] = key
        if score is not None and promotable:
            insort(self._waiting, (*key, config))
        return self.rank(config)

    def rank(self, config: int) -> int:
        """The rank of a member among all members, 1 for the best."""
        return bisect_left(self._keys, self._key_of[config]) + 1

    def best_promotable(self, reduction_factor: int) -> int | None:
        """The best member not promoted yet, if it is in the top ``1/η`` of the rung
        (rank at most ``len // η``); None otherwise (then no other member is either)."""
        if not self._waiting:
            return None
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
        by_key = {key: config for config, key in self._key_of.items()}
        return [by_key[key] for key in self._keys[:count] if key[0] != _FAILED]


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
