"""Which configurations a search has proposed or been told of, so that none is wasted.

*The same configuration* means an equal ``arch_seq`` and equal values of the searched
hyperparameters (constants are equal in every configuration; ``True`` is not ``1``).
Continuous hyperparameters make exact repeats unlikely but not impossible (a mutation
of the architecture keeps the parent's learning rate), so the rule is the same for all.

A configuration is *taken* once it is running (proposed by the search, or declared
running on resume) or evaluated (told, successful or not); it stays taken: a result
does not make it worth evaluating again. The ledger holds no state of its own for
resume: replaying the journal's results through ``tell`` and its unfinished
evaluations through ``running`` rebuilds it, as it was when the search was stopped.

It also holds the space's validity predicate, when the search was given one (see
:meth:`~nas.search.Search.set_validity`): an architecture it refuses is never admitted.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from nas.problem import Constant, HyperparameterSpace
from nas.search._encoding import ConfigEncoder

#: Finite spaces of at most this many configurations are enumerated (in a random order)
#: when random draws find nothing new: that is how a search knows the space is
#: exhausted. Larger ones are not: a random draw misses every new configuration of them
#: only once nearly all are taken, which takes more evaluations than any budget.
MAX_ENUMERATED = 100_000
#: Validity verdicts remembered (a verdict resolves the graph: about 0.1 ms).
VALIDITY_CACHE = 2**16

Key = tuple[tuple[int, ...], tuple[Any, ...]]
Config = tuple[tuple[int, ...], dict[str, Any]]


class Ledger:
    """The configurations a search must not propose again, and the distinct ones told.

    Args:
        hyperparameters: the search's hyperparameter space (its constants are ignored).

    Example:
        >>> ledger = Ledger(HyperparameterSpace({"lr": Float(1e-3, 1e-1)}))
        >>> ledger.take((0, 1), {"lr": 0.01})
        >>> ledger.admits((0, 1), {"lr": 0.01}), ledger.admits((0, 1), {"lr": 0.02})
        (False, True)
    """

    def __init__(self, hyperparameters: HyperparameterSpace) -> None:
        self._names = [
            name for name, item in hyperparameters.items() if not isinstance(item, Constant)
        ]
        self._taken: set[Key] = set()
        self._evaluated: set[Key] = set()
        self._taken_per_arch: Counter[tuple[int, ...]] = Counter()
        self._valid: Callable[[tuple[int, ...]], bool] | None = None

    def set_validity(self, is_valid: Callable[[Sequence[int]], bool] | None) -> None:
        """Admit only architectures for which ``is_valid(arch_seq)`` is true (None: all)."""
        if is_valid is None:
            self._valid = None
            return
        if not callable(is_valid):
            raise ValueError(f"the validity predicate must be callable, got {is_valid!r}")
        self._valid = functools.lru_cache(maxsize=VALIDITY_CACHE)(
            lambda arch_seq: bool(is_valid(arch_seq))
        )

    def key(self, arch_seq: Sequence[int], hyperparameters: Mapping[str, Any]) -> Key:
        """What identifies a configuration (see the module's docstring)."""
        return (
            tuple(int(value) for value in arch_seq),
            tuple(_comparable(hyperparameters.get(name)) for name in self._names),
        )

    def take(self, arch_seq: Sequence[int], hyperparameters: Mapping[str, Any]) -> None:
        """Record a configuration as running (proposed, or re-run on resume)."""
        self._take(self.key(arch_seq, hyperparameters))

    def told(self, arch_seq: Sequence[int], hyperparameters: Mapping[str, Any]) -> None:
        """Record a configuration as evaluated (a result, or a failure, was told)."""
        key = self.key(arch_seq, hyperparameters)
        self._take(key)
        self._evaluated.add(key)

    def _take(self, key: Key) -> None:
        if key not in self._taken:
            self._taken.add(key)
            self._taken_per_arch[key[0]] += 1

    def is_valid(self, arch_seq: Sequence[int]) -> bool:
        """Whether the space can build ``arch_seq`` (always, without a predicate)."""
        return self._valid is None or self._valid(tuple(int(value) for value in arch_seq))

    def admits(self, arch_seq: Sequence[int], hyperparameters: Mapping[str, Any]) -> bool:
        """Whether proposing this configuration wastes nothing: valid and not taken."""
        return (self.key(arch_seq, hyperparameters) not in self._taken) and self.is_valid(arch_seq)

    def num_taken_with(self, arch_seq: Sequence[int]) -> int:
        """Distinct configurations taken with this architecture."""
        return self._taken_per_arch[tuple(int(value) for value in arch_seq)]

    @property
    def num_taken(self) -> int:
        """Distinct configurations running or evaluated."""
        return len(self._taken)

    @property
    def num_distinct(self) -> int:
        """Distinct configurations evaluated (told), failed ones included."""
        return len(self._evaluated)


def _comparable(value: Any) -> Any:
    """A hyperparameter value as a key: NumPy scalars as Python ones, booleans apart
    from the numbers they equal (``Categorical([0, False])`` has two choices)."""
    if isinstance(value, np.generic):
        value = value.item()
    return ("bool", value) if isinstance(value, bool) else value


def enumerable(encoder: ConfigEncoder) -> bool:
    """Whether the space ``encoder`` encodes is finite and small enough to enumerate."""
    size = encoder.grid_size
    return size is not None and size <= MAX_ENUMERATED


def in_random_order(
    encoder: ConfigEncoder, rng: np.random.Generator, chunk: int = 256
) -> Iterator[Config]:
    """Every configuration of an :func:`enumerable` space once, in a random order.

    Decoded a chunk at a time: a caller that stops at the first one it admits decodes
    a few, not the whole space.
    """
    size = encoder.grid_size
    if size is None or size > MAX_ENUMERATED:
        raise ValueError(f"a space of {size or 'endless'} configurations is not enumerated")
    order = rng.permutation(size)
    for start in range(0, size, chunk):
        candidates = encoder.grid(order[start : start + chunk])
        for index in range(len(candidates)):
            yield encoder.decode(candidates, index)
