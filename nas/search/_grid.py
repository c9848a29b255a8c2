"""Grid search: every combination of a few values per hyperparameter, and of architectures.

The grid is the Cartesian product of one list of values per hyperparameter (in the
problem's declaration order) and a list of architectures, with the architecture varying
slowest and the last hyperparameter fastest. It is never materialised: a point is
decoded from its index by mixed-radix arithmetic, so a grid of 10^12 points costs no
more memory than one of 10 (only a random subset of such a grid can be evaluated).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from nas.exceptions import ProblemError
from nas.problem import Categorical, Constant, Float, HyperparameterSpace, Int
from nas.problem._hyperparameters import Hyperparameter, Scalar
from nas.search._base import Proposal, Search

#: ``architectures="all"`` refuses spaces with more architectures than this: a grid
#: over millions of architectures is a random search in disguise, and a slow one.
MAX_ENUMERATED_ARCHITECTURES = 10**6
SUBSETS = ("random",)


class GridSearch(Search):
    """Evaluate every point of a grid once, in a fixed order (or a random subset of it).

    Values per hyperparameter: all the choices of a ``Categorical``, the value of a
    constant, and ``points`` evenly spaced values of an ``Int`` or ``Float`` range, both
    ends included (geometrically spaced when ``log=True``; ints rounded to the nearest
    and repeats dropped, so ``Int(1, 3)`` gives at most 3 values; with ``points=1``, the
    hyperparameter's default). ``values`` replaces them with values of your own.

    Architectures: a list of ``arch_seq``, or ``"all"`` (every architecture of the space,
    refused above :data:`MAX_ENUMERATED_ARCHITECTURES`). The default, ``None``, is
    ``"all"``: a grid search searches everything the problem leaves open and never fixes
    decisions silently. Pass ``architectures=[arch_seq]`` to tune the hyperparameters of
    one architecture. A space without decisions has one architecture, ``()``.

    :attr:`size` is known at construction. A grid larger than ``max_evals`` is refused,
    unless ``subset="random"``: then the points come in a random order drawn from the
    seed (a lazily shuffled index, never a list of the grid), and the first ``max_evals``
    of them are a random subset of distinct points. Raising ``max_evals`` on resume
    extends that subset with the next points of the same order. When every point has
    been proposed, :meth:`ask` returns fewer proposals than asked (possibly none), which
    ends the driver's loop.

    Args:
        choices: candidates per decision (``space.choices``).
        hyperparameters: the problem's hyperparameters; each is one dimension.
        seed: seed of the random order of ``subset="random"`` (unused otherwise).
        points: values per ``Int`` or ``Float`` range, >= 1.
        values: explicit values for some hyperparameters, e.g.
            ``{"learning_rate": [1e-3, 1e-2]}``, each checked against its hyperparameter.
        architectures: a list of arch_seqs, ``"all"``, or ``None`` (= ``"all"``).
        subset: ``None`` (the whole grid, in order) or ``"random"``.
        max_evals: the evaluation budget; ``None`` skips the check (the driver passes it).

    Raises:
        ValueError: naming the bad argument: values out of a hyperparameter's range or
            repeated, an arch_seq of the wrong length or out of range, too many
            architectures for ``"all"``, or a grid larger than ``max_evals`` without
            ``subset="random"`` (the message gives both numbers and the ways out).

    Example:
        >>> search = GridSearch([2], {"lr": Float(1e-3, 1e-1, log=True), "epochs": 5})
        >>> search.size, search.describe()
        (6, 'grid of 6 points (3 lr x 2 architectures)')
        >>> [(p.arch_seq, p.hyperparameters["lr"]) for p in search.ask(2)]
        [((0,), 0.001), ((0,), 0.01)]
    """

    def __init__(
        self,
        choices: Sequence[int],
        hyperparameters: HyperparameterSpace | Mapping[str, Any] | None = None,
        seed: int | None = None,
        *,
        points: int = 3,
        values: Mapping[str, Sequence[Any]] | None = None,
        architectures: Sequence[Sequence[int]] | str | None = None,
        subset: str | None = None,
        max_evals: int | None = None,
    ) -> None:
        super().__init__(choices, hyperparameters, seed)
        if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 1:
            raise ValueError(f"points must be a positive int, got {points!r}")
        if subset is not None and subset not in SUBSETS:
            raise ValueError(f"subset must be None or 'random', got {subset!r}")
        if max_evals is not None and (
            isinstance(max_evals, bool) or not isinstance(max_evals, (int, np.integer))
        ):
            raise ValueError(f"max_evals must be an int or None, got {max_evals!r}")
        self.points = int(points)
        self.subset = subset
        self.max_evals = None if max_evals is None else int(max_evals)
        self.values = self._grid_values(dict(values or {}))
        self.architectures = self._architectures(architectures)
        self._sizes = [len(self.architectures)] + [len(v) for v in self.values.values()]
        #: The number of points of the grid (an exact, possibly huge, int).
        self.size = math.prod(self._sizes)
        self._check_budget()
        # Recorded by get_state: with seed=None, a resumed search must replay the same order.
        self._subset_seed = int(self.rng.integers(2**63))
        self._reset(0)

    # -- the ask/tell interface ----------------------------------------------------

    def ask(self, n: int = 1) -> list[Proposal]:
        """The next ``n`` points, or fewer (possibly none) when the grid is exhausted."""
        wanted = self._check_count(n)
        proposals = [self.point(self._next_index()) for _ in range(min(wanted, self.remaining))]
        self.exhausted = len(proposals) < wanted
        return proposals

    @property
    def remaining(self) -> int:
        """How many more points :meth:`ask` will propose."""
        total = self.size
        if self.subset == "random" and self.max_evals is not None:
            total = min(total, self.max_evals)
        return max(0, total - self.position)

    def get_state(self) -> dict[str, Any]:
        # The position counts every point proposed, told or not: points that were running
        # when a search stopped are re-run from the journal, never proposed again here.
        return {
            **super().get_state(),
            "position": self.position,
            "subset_seed": self._subset_seed,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        position = state["position"]
        if (
            isinstance(position, bool)
            or not isinstance(position, int)
            or not (0 <= position <= self.size)
        ):
            raise ValueError(
                f"the recorded grid position {position!r} does not fit this grid of "
                f"{self.size} points: was the problem or the grid changed?"
            )
        self._subset_seed = int(state["subset_seed"])
        self._reset(position)

    # -- the grid ---------------------------------------------------------------------

    def point(self, index: int) -> Proposal:
        """The grid point at ``index`` (0 <= index < size), in the grid's fixed order."""
        if not 0 <= index < self.size:
            raise IndexError(f"grid index {index} out of range for {self.size} points")
        digits = []
        for size in reversed(self._sizes):  # the last dimension varies fastest
            index, digit = divmod(index, size)
            digits.append(digit)
        arch_digit, *value_digits = reversed(digits)
        hyperparameters = {
            name: options[digit]
            for (name, options), digit in zip(self.values.items(), value_digits)
        }
        return Proposal(self.architectures[arch_digit], hyperparameters)

    def __iter__(self) -> Iterator[Proposal]:
        """Every point of the grid in its fixed order (the subset and position aside)."""
        return (self.point(index) for index in range(self.size))

    def describe(self) -> str:
        """The grid in one line, for the log.

        For example ``grid of 36 points (3 lr x 4 batch_size x 3 architectures)``;
        dimensions of one value are left out.
        """
        factors = [
            f"{len(options)} {name}" for name, options in self.values.items() if len(options) > 1
        ]
        if len(self.architectures) > 1:
            factors.append(f"{len(self.architectures)} architectures")
        text = f"grid of {self.size} point{'s' if self.size != 1 else ''}"
        if factors:
            text += f" ({' x '.join(factors)})"
        if self.subset == "random":
            if self.max_evals is not None and self.max_evals < self.size:
                text += f"; evaluating a random subset of {self.max_evals}"
            else:
                text += "; in a random order"
        return text

    def _reset(self, position: int) -> None:
        self.position = 0
        self._order = (
            _LazyPermutation(self.size, self._subset_seed) if self.subset == "random" else None
        )
        for _ in range(position):
            self._next_index()

    def _next_index(self) -> int:
        index = self.position if self._order is None else self._order.next()
        self.position += 1
        return index

    def _grid_values(self, given: dict[str, Sequence[Any]]) -> dict[str, tuple[Scalar, ...]]:
        unknown = [name for name in given if name not in self.hyperparameters]
        if unknown:
            raise ValueError(
                f"grid values for unknown hyperparameter(s) {unknown!r}: expected names "
                f"among {self.hyperparameters.names!r}"
            )
        return {
            name: (
                _checked_values(name, hyperparameter, given[name])
                if name in given
                else default_values(hyperparameter, self.points)
            )
            for name, hyperparameter in self.hyperparameters.items()
        }

    def _architectures(
        self, architectures: Sequence[Sequence[int]] | str | None
    ) -> Sequence[tuple[int, ...]]:
        if architectures is None or (isinstance(architectures, str) and architectures == "all"):
            count = math.prod(self.choices)
            if count > MAX_ENUMERATED_ARCHITECTURES:
                raise ValueError(
                    f"a grid over every architecture of the space would enumerate {count} "
                    f"architectures (more than {MAX_ENUMERATED_ARCHITECTURES}); give a list "
                    "of arch_seqs (architectures=[...], --grid-architectures FILE), or use a "
                    "search made for large spaces (regevo, agebo)"
                )
            return _AllArchitectures(self.choices)
        if isinstance(architectures, (str, bytes)) or not isinstance(
            architectures, (Sequence, np.ndarray)
        ):
            raise ValueError(
                f"architectures must be a list of arch_seqs, 'all' or None, got {architectures!r}"
            )
        if len(architectures) == 0:
            raise ValueError("architectures must not be empty (None means every architecture)")
        checked = [self._checked_arch_seq(position, a) for position, a in enumerate(architectures)]
        seen: dict[tuple[int, ...], int] = {}
        for position, arch_seq in enumerate(checked):
            if arch_seq in seen:
                raise ValueError(
                    f"architectures[{position}] = {list(arch_seq)} repeats "
                    f"architectures[{seen[arch_seq]}]: each grid point is evaluated once"
                )
            seen[arch_seq] = position
        return checked

    def _checked_arch_seq(self, position: int, arch_seq: Any) -> tuple[int, ...]:
        label = f"architectures[{position}] = {arch_seq!r}"
        if isinstance(arch_seq, (str, bytes)) or not isinstance(arch_seq, (Sequence, np.ndarray)):
            raise ValueError(f"{label} must be a list of ints (an arch_seq)")
        if len(arch_seq) != len(self.choices):
            raise ValueError(
                f"{label} has {len(arch_seq)} decisions; the space has {len(self.choices)} "
                f"(candidates per decision: {self.choices})"
            )
        for decision, (value, count) in enumerate(zip(arch_seq, self.choices)):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{label}: decision {decision} = {value!r} must be an int")
            if not 0 <= value < count:
                raise ValueError(
                    f"{label}: decision {decision} = {value} is out of range: it has {count} "
                    f"candidate(s), 0 to {count - 1}"
                )
        return tuple(int(value) for value in arch_seq)

    def _check_budget(self) -> None:
        if self.max_evals is None or self.subset == "random" or self.size <= self.max_evals:
            return
        ways = [
            f"raise max_evals (--max-evals) to {self.size}",
            "use fewer values per range (points, --grid-points)",
        ]
        if len(self.architectures) > 1:
            ways.append("grid fewer architectures (architectures, --grid-architectures FILE)")
        ways.append(
            f"or evaluate a random subset of {self.max_evals} distinct points "
            "(subset='random', --grid-subset random)"
        )
        raise ValueError(
            f"the {self.describe()} is larger than the budget of max_evals={self.max_evals} "
            f"evaluations: {', '.join(ways)}"
        )


def default_values(hyperparameter: Hyperparameter, points: int) -> tuple[Scalar, ...]:
    """The grid values of one hyperparameter with ``points`` per range (see GridSearch)."""
    if isinstance(hyperparameter, Constant):
        return (hyperparameter.value,)
    if isinstance(hyperparameter, Categorical):
        return hyperparameter.choices
    if not isinstance(hyperparameter, (Int, Float)):
        raise ValueError(f"cannot make grid values for {hyperparameter!r}")
    if points == 1:
        return (hyperparameter.default(),)
    spaced = (np.geomspace if hyperparameter.log else np.linspace)(
        hyperparameter.low, hyperparameter.high, points
    )
    if isinstance(hyperparameter, Float):
        # 12 significant digits, so the results read 0.01 rather than 0.010000000000000002.
        rounded = (float(f"{value:.12g}") for value in spaced)
        return tuple(min(max(v, hyperparameter.low), hyperparameter.high) for v in rounded)
    # Round half up (not to even) and clip, then drop repeats: a narrow range of ints
    # has fewer distinct values than points.
    ints = (int(math.floor(value + 0.5)) for value in spaced)
    clipped = (min(max(v, hyperparameter.low), hyperparameter.high) for v in ints)
    return tuple(dict.fromkeys(clipped))


def _checked_values(
    name: str, hyperparameter: Hyperparameter, given: Sequence[Any]
) -> tuple[Scalar, ...]:
    if isinstance(given, (str, bytes)) or not isinstance(given, (Sequence, np.ndarray)):
        raise ValueError(f"grid values for {name!r} must be a list of values, got {given!r}")
    if len(given) == 0:
        raise ValueError(f"grid values for {name!r} must not be empty")
    checked: list[Scalar] = []
    for value in given:
        try:
            value = hyperparameter.validate(name, value)
        except ProblemError as error:
            raise ValueError(f"grid values: {error}") from None
        # Categorical.validate tells True from 1; a plain == would not.
        if any(type(value) is type(seen) and value == seen for seen in checked):
            raise ValueError(
                f"grid values for {name!r} repeat {value!r}: each grid point is evaluated once"
            )
        checked.append(value)
    return tuple(checked)


class _AllArchitectures(Sequence[tuple[int, ...]]):
    """Every arch_seq of a space, decoded from its index (the last decision fastest)."""

    def __init__(self, choices: Sequence[int]) -> None:
        self._choices = list(choices)
        self._count = math.prod(self._choices)

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> tuple[int, ...]:  # type: ignore[override]
        if not 0 <= index < self._count:
            raise IndexError(index)
        digits = []
        for count in reversed(self._choices):
            index, digit = divmod(index, count)
            digits.append(digit)
        return tuple(reversed(digits))


class _LazyPermutation:
    """A seeded random permutation of ``range(size)``, drawn one element at a time.

    A Fisher-Yates shuffle that keeps only the swapped positions in a dict: O(1) time per
    element and O(k) memory for the first k, whatever the size. Its first k elements do
    not depend on how many are drawn later, so a larger budget extends a random subset
    instead of drawing another. Python's ``random`` draws below sizes beyond 2^64.
    """

    def __init__(self, size: int, seed: int) -> None:
        self._size = size
        self._rng = random.Random(seed)
        self._swapped: dict[int, int] = {}
        self._drawn = 0

    def next(self) -> int:
        i = self._drawn
        j = i + self._rng.randrange(self._size - i)
        value = self._swapped.get(j, j)
        head = self._swapped.pop(i, i)  # position i is never read again
        if j != i:
            self._swapped[j] = head
        self._drawn += 1
        return value
