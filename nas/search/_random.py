"""Random search: the baseline every other search must beat."""

from __future__ import annotations

from nas.search._base import Proposal, Search


class RandomSearch(Search):
    """Draw architectures and hyperparameters uniformly at random.

    Example:
        >>> search = RandomSearch([3, 2], seed=0)
        >>> [p.arch_seq for p in search.ask(2)]
        [(2, 1), (1, 0)]
    """

    def ask(self, n: int = 1) -> list[Proposal]:
        return [self.random_proposal() for _ in range(self._check_count(n))]
