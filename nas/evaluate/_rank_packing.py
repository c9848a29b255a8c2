"""Which waiting configs start on which worker ranks: the MPI evaluator's placement policy.

Pure bookkeeping, without MPI, so that it is unit-tested on its own and the driver's
process never initialises MPI by importing it.

The policy
----------
* **A FIFO queue.** Submitted configs wait in the order they were submitted. Each asks
  for a width ``k`` (``Config.num_ranks``): ``k`` worker ranks that train it together.
* **First fit, so narrow configs backfill.** Whenever ranks become free (and whenever a
  config is submitted), the queue is walked from its oldest entry and every config that
  fits in the ranks still free is started. A wide config that does not fit yet keeps its
  place while narrower ones behind it use the ranks it cannot.
* **A guard against starvation.** Backfilling alone could keep a wide config waiting for
  ever: free ranks rarely add up to its width before a narrow config takes them. Once
  the oldest waiting config has been passed over by more configs than there are worker
  ranks (configs queued after it that started, or were dropped, before it), backfilling
  stops: freed ranks are held for it, and nothing else starts until it has.
* **The lowest-numbered free ranks.** A group gets the ``k`` lowest-numbered free ranks.
  Open MPI maps consecutive ranks to the same node by default, so groups tend to stay on
  one node, where their allreduce is cheapest.
* **A preferred rank, when free.** A config of width 1 may name the rank it would rather
  run on (the one keeping its model warm): it gets that rank if it is free when the
  config is placed, and the lowest free one otherwise. A preference never makes a config
  wait, nor a rank idle.
* **Widths.** The widest group is the largest power of two not above the number of
  worker ranks (``max_width``); a wider config is refused when it is submitted.
* **Back-pressure.** :attr:`RankPacker.num_free`, which the driver reads as "how many
  more configs to submit now", is 0 while no rank is free (or while free ranks are held
  for a starving config); otherwise it is the number of free ranks (enough configs to fill
  them even if all are narrow), capped so that at most ``max_waiting`` configs wait
  (by default as many as there are worker ranks). The queue never grows without bound,
  yet holds configs to backfill with.
* **Quarantine.** Ranks whose evaluation overran (they did not answer in time) stay busy
  until they answer; meanwhile they are *quarantined*: not usable. A waiting config
  wider than the usable ranks does not get held ranks (they could not add up to its
  width), and once every usable rank is idle, so that nothing but a silent rank could
  ever let it start, it is dropped (:meth:`RankPacker.drop_unplaceable`) rather than
  left waiting for ever.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


def largest_power_of_two(n: int) -> int:
    """The largest power of two not above ``n`` (n >= 1)."""
    if n < 1:
        raise ValueError(f"expected a positive number of ranks, got {n}")
    return 1 << (n.bit_length() - 1)


@dataclass(frozen=True)
class _Waiting(Generic[Key]):
    key: Key
    width: int
    #: Its position in the order of submission (0 for the first config ever queued).
    sequence: int
    #: The rank it would rather run on (width 1 only), or None.
    preferred: int | None = None


class RankPacker(Generic[Key]):
    """Places waiting configs on free worker ranks (see the module's docstring).

    Args:
        ranks: the worker ranks (for the MPI evaluator, world ranks 1..N-1).
        max_waiting: how many configs may wait at most (default: one per rank).

    Example:
        >>> packer = RankPacker(range(1, 5))
        >>> for key, width in [("a", 2), ("b", 4), ("c", 1)]:
        ...     packer.enqueue(key, width)
        >>> packer.place()  # "b" does not fit in the two ranks left: "c" backfills
        [('a', (1, 2)), ('c', (3,))]
        >>> for rank in (1, 2, 3):  # "a" and "c" ended
        ...     packer.release(rank)
        >>> packer.place()
        [('b', (1, 2, 3, 4))]
    """

    def __init__(self, ranks: Iterable[int], max_waiting: int | None = None) -> None:
        self._ranks = sorted(set(ranks))
        if not self._ranks:
            raise ValueError("a RankPacker needs at least one worker rank")
        self.num_ranks = len(self._ranks)
        self.max_width = largest_power_of_two(self.num_ranks)
        max_waiting = self.num_ranks if max_waiting is None else max_waiting
        if isinstance(max_waiting, bool) or not isinstance(max_waiting, int) or max_waiting < 1:
            raise ValueError(f"max_waiting must be a positive int, got {max_waiting!r}")
        self.max_waiting = max_waiting
        self._free: list[int] = list(self._ranks)  # kept sorted: groups take the lowest
        self._quarantined: set[int] = set()
        self._queue: list[_Waiting[Key]] = []
        self._enqueued = 0  # configs ever queued: the next one's sequence number
        self._left = 0  # configs that ever left the queue (started or dropped)

    # -- queries -----------------------------------------------------------------------

    @property
    def free_ranks(self) -> tuple[int, ...]:
        """The ranks free now, lowest first."""
        return tuple(self._free)

    @property
    def quarantined(self) -> frozenset[int]:
        """Busy ranks that did not answer in time (see :meth:`quarantine`)."""
        return frozenset(self._quarantined)

    @property
    def num_usable(self) -> int:
        """Worker ranks that are not quarantined."""
        return self.num_ranks - len(self._quarantined)

    @property
    def num_waiting(self) -> int:
        """Configs queued and not started."""
        return len(self._queue)

    @property
    def waiting(self) -> list[Key]:
        """The keys of the waiting configs, oldest first."""
        return [entry.key for entry in self._queue]

    @property
    def starving(self) -> bool:
        """Whether the oldest waiting config has waited long enough to get held ranks."""
        if not self._queue or self._queue[0].width > self.num_usable:
            return False  # holding ranks would not help it while ranks are quarantined
        # Every config queued before the oldest waiting one has left the queue, so
        # those that left beyond them are exactly those that passed it over.
        passed_over = self._left - self._queue[0].sequence
        return passed_over > self.num_ranks

    @property
    def num_free(self) -> int:
        """How many more configs should be submitted now (see "Back-pressure")."""
        if not self._free or self.starving:
            return 0
        return max(0, min(len(self._free), self.max_waiting - len(self._queue)))

    def check_width(self, width: int) -> None:
        """Raise ValueError unless ``width`` ranks can ever be given to one config."""
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"num_ranks must be a positive int, got {width!r}")
        if width > self.max_width:
            raise ValueError(
                f"num_ranks={width} is wider than the widest group this evaluator runs, "
                f"{self.max_width} ranks (the largest power of two not above the "
                f"{self.num_ranks} worker ranks available)"
            )

    # -- changes -----------------------------------------------------------------------

    def enqueue(self, key: Key, width: int, preferred: int | None = None) -> None:
        """Queue a config that asks for ``width`` ranks (start it with :meth:`place`),
        on rank ``preferred`` if it is free then (width 1 only; see the policy)."""
        self.check_width(width)
        if preferred is not None and (width != 1 or preferred not in self._ranks):
            raise ValueError(
                f"only a config of width 1 may prefer a rank, and only a worker rank: "
                f"got width {width}, rank {preferred!r}"
            )
        self._queue.append(_Waiting(key, width, self._enqueued, preferred))
        self._enqueued += 1

    def place(self) -> list[tuple[Key, tuple[int, ...]]]:
        """Start every waiting config that fits now: [(key, its ranks, lowest first)]."""
        placed: list[tuple[Key, tuple[int, ...]]] = []
        index = 0
        while index < len(self._queue) and self._free:
            if index > 0 and self.starving:
                break  # hold the free ranks for the oldest config
            entry = self._queue[index]
            if entry.width > len(self._free):
                index += 1
                continue
            if entry.preferred in self._free:
                self._free.remove(entry.preferred)
                ranks = (entry.preferred,)
            else:
                ranks = tuple(self._free[: entry.width])
                del self._free[: entry.width]
            del self._queue[index]  # the next entry moves into ``index``
            self._left += 1
            placed.append((entry.key, ranks))
        return placed

    def release(self, rank: int) -> None:
        """``rank`` is free again (an evaluation on it ended, or it answered at last)."""
        if rank not in self._ranks:
            raise ValueError(f"rank {rank} is not one of the worker ranks")
        index = bisect.bisect_left(self._free, rank)
        if index < len(self._free) and self._free[index] == rank:
            raise ValueError(f"rank {rank} is released twice")
        self._free.insert(index, rank)
        self._quarantined.discard(rank)

    def quarantine(self, ranks: Iterable[int]) -> None:
        """Busy ``ranks`` did not answer in time: do not count on them until released."""
        for rank in ranks:
            if rank not in self._ranks or rank in self._free:
                raise ValueError(f"only busy worker ranks can be quarantined, not {rank}")
            self._quarantined.add(rank)

    def drop_unplaceable(self) -> list[Key]:
        """Remove and return the waiting configs that only a quarantined rank could unblock.

        That is: configs wider than the usable ranks, once all usable ranks are idle.
        """
        usable = self.num_usable
        if len(self._free) < usable:
            # Waiting costs nothing while usable ranks work (the driver waits for them
            # anyway), and a silent rank may answer meanwhile.
            return []
        dropped = [entry.key for entry in self._queue if entry.width > usable]
        if dropped:
            self._queue = [entry for entry in self._queue if entry.width <= usable]
            self._left += len(dropped)
        return dropped
