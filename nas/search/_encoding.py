"""Configurations as rows of numbers for a tree-based surrogate, and back.

:meth:`HyperparameterSpace.to_unit` gives each categorical one coordinate, the centre
of its choice's bin. That order is arbitrary: to isolate the middle choice of three, a
tree needs two splits on it, and extra-trees (which draw split thresholds at random)
rarely find both. Here a categorical takes one column per choice (one-hot, as
scikit-optimize encodes categoricals for its forests: ``skopt.utils.normalize_dimensions``),
so any choice is one split away. Numbers keep the space's unit mapping: ``[0, 1]``,
measured in log space for ``log=True``, integers at their own value. Architecture
decisions (used by AMBS only) take one ordinal column each, ``index / (count - 1)``:
one-hot would give a 31-way layer choice 31 columns, and for the two-way skip
decisions both encodings are the same.

Candidates are drawn column by column with vectorised NumPy, never one configuration
at a time in Python: scoring 1,000 of them per proposal must stay cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.problem import Categorical, Constant, HyperparameterSpace, Int


@dataclass(frozen=True)
class Candidates:
    """Random configurations: ``features`` for the surrogate, ``draws`` to decode them.

    ``draws`` holds one array per searched dimension (architecture decisions first):
    the choice index of a decision or a categorical, the integer of an ``Int``, the
    unit coordinate of a ``Float``.
    """

    features: np.ndarray
    draws: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.features)


class ConfigEncoder:
    """Encodes ``(arch_seq, hyperparameters)`` as rows of floats for a forest.

    Args:
        choices: candidates per architecture decision; decisions with one candidate
            take no column. Pass ``[]`` to encode hyperparameters only.
        hyperparameters: the space; constants take no column.

    Example:
        >>> encoder = ConfigEncoder([], {"optimizer": Categorical(["adam", "sgd", "rmsprop"])})
        >>> encoder.encode((), {"optimizer": "sgd"}).tolist()
        [0.0, 1.0, 0.0]
    """

    def __init__(
        self, choices: Sequence[int], hyperparameters: HyperparameterSpace | Mapping[str, Any]
    ) -> None:
        if not isinstance(hyperparameters, HyperparameterSpace):
            hyperparameters = HyperparameterSpace(hyperparameters)
        self.space = hyperparameters
        self.choices = [int(count) for count in choices]
        self.decisions = [index for index, count in enumerate(self.choices) if count > 1]
        self.searched = [
            (name, item) for name, item in self.space.items() if not isinstance(item, Constant)
        ]
        self.width = len(self.decisions) + sum(
            len(item.choices) if isinstance(item, Categorical) else 1 for _, item in self.searched
        )

    @property
    def num_dimensions(self) -> int:
        """Searched dimensions (one per decision and hyperparameter), for designs."""
        return len(self.decisions) + len(self.searched)

    def encode(self, arch_seq: Sequence[int], hyperparameters: Mapping[str, Any]) -> np.ndarray:
        """One configuration as a row of ``width`` floats."""
        if len(arch_seq) != len(self.choices):
            raise ValueError(
                f"arch_seq {tuple(arch_seq)!r} has {len(arch_seq)} choices, "
                f"expected {len(self.choices)}"
            )
        config = self.space.validate(hyperparameters)
        row = [arch_seq[index] / (self.choices[index] - 1) for index in self.decisions]
        for name, item in self.searched:
            unit = item.to_unit(config[name])
            if isinstance(item, Categorical):
                one_hot = [0.0] * len(item.choices)
                one_hot[int(unit * len(item.choices))] = 1.0
                row += one_hot
            else:
                row.append(unit)
        return np.array(row, dtype=float)

    def sample(self, count: int, rng: np.random.Generator) -> Candidates:
        """``count`` random configurations, drawn as ``space.sample`` would draw them."""
        draws: list[np.ndarray] = []
        for index in self.decisions:
            draws.append(rng.integers(self.choices[index], size=count))
        for _, item in self.searched:
            if isinstance(item, Categorical):
                draws.append(rng.integers(len(item.choices), size=count))
            elif isinstance(item, Int):
                draws.append(_integers_from_unit(item, rng.random(count)))
            else:  # Float: ``Float.sample`` is ``from_unit`` of a uniform draw
                draws.append(rng.random(count))
        return self._candidates(draws, count)

    @property
    def grid_size(self) -> int | None:
        """How many distinct configurations there are (an exact int), or None when a
        ``Float`` is searched (then there is no end to them)."""
        size = math.prod(self.choices[index] for index in self.decisions)
        for _, item in self.searched:
            if isinstance(item, Categorical):
                size *= len(item.choices)
            elif isinstance(item, Int):
                size *= item.high - item.low + 1
            else:
                return None
        return size

    def grid(self, indices: np.ndarray) -> Candidates:
        """The configurations at ``indices`` (ints in ``[0, grid_size)``) of the grid of
        all of them: the first decision varies slowest, the last hyperparameter fastest.
        """
        if self.grid_size is None:
            raise ValueError("a space that searches a Float has no grid of configurations")
        remainder = np.asarray(indices, dtype=np.int64)
        radices = [self.choices[index] for index in self.decisions]
        radices += [
            len(item.choices) if isinstance(item, Categorical) else item.high - item.low + 1
            for _, item in self.searched
        ]
        digits = []
        for radix in reversed(radices):
            digits.append(remainder % radix)
            remainder = remainder // radix
        digits.reverse()
        offsets = [0] * len(self.decisions) + [
            item.low if isinstance(item, Int) else 0 for _, item in self.searched
        ]
        return self._candidates([d + o for d, o in zip(digits, offsets)], len(remainder))

    def _candidates(self, draws: list[np.ndarray], count: int) -> Candidates:
        """Candidates from their draws: the features are computed column by column."""
        columns: list[np.ndarray] = []
        for index, choice in zip(self.decisions, draws):
            columns.append(choice / (self.choices[index] - 1))
        for (_, item), draw in zip(self.searched, draws[len(self.decisions) :]):
            if isinstance(item, Categorical):
                columns.extend((draw == k).astype(float) for k in range(len(item.choices)))
            elif isinstance(item, Int):
                columns.append(_integers_to_unit(item, draw))
            else:
                columns.append(draw)
        features = np.column_stack(columns) if columns else np.empty((count, 0))
        return Candidates(np.ascontiguousarray(features, dtype=np.float32), draws)

    def decode(self, candidates: Candidates, index: int) -> tuple[tuple[int, ...], dict[str, Any]]:
        """The configuration of candidate ``index``."""
        arch_seq = [0] * len(self.choices)
        for position, draw in zip(self.decisions, candidates.draws):
            arch_seq[position] = int(draw[index])
        values = {}
        for (name, item), draw in zip(self.searched, candidates.draws[len(self.decisions) :]):
            if isinstance(item, Categorical):
                values[name] = item.choices[int(draw[index])]
            elif isinstance(item, Int):
                values[name] = int(draw[index])
            else:
                values[name] = item.from_unit(float(draw[index]))
        return tuple(arch_seq), self._complete(values)

    def from_unit(self, point: Sequence[float]) -> tuple[tuple[int, ...], dict[str, Any]]:
        """Decode a point of ``[0, 1]^num_dimensions`` (a design point, e.g. from LHS).

        Each dimension keeps a single coordinate here, so that a design stratified in
        it spreads a categorical's choices evenly too.
        """
        arch_seq = [0] * len(self.choices)
        for position, unit in zip(self.decisions, point):
            arch_seq[position] = min(
                int(unit * self.choices[position]), self.choices[position] - 1
            )
        units = point[len(self.decisions) :]
        values = {name: item.from_unit(float(u)) for (name, item), u in zip(self.searched, units)}
        return tuple(arch_seq), self._complete(values)

    def _complete(self, values: dict[str, Any]) -> dict[str, Any]:
        # In the space's order, constants included, like ``HyperparameterSpace.sample``.
        return {
            name: values[name] if name in values else item.default()
            for name, item in self.space.items()
        }


# ``Int`` gives each integer the interval of width one around it in unit space (see
# ``Int.to_unit``); these are the same mappings, applied to whole arrays at once.
def _integer_bounds(item: Int) -> tuple[float, float]:
    low, high = item.low - 0.5, item.high + 0.5
    return (math.log(low), math.log(high)) if item.log else (low, high)


def _integers_from_unit(item: Int, unit: np.ndarray) -> np.ndarray:
    low, high = _integer_bounds(item)
    scaled = low + unit * (high - low)
    values = np.exp(scaled) if item.log else scaled
    return np.clip(np.rint(values), item.low, item.high).astype(np.int64)


def _integers_to_unit(item: Int, values: np.ndarray) -> np.ndarray:
    low, high = _integer_bounds(item)
    scaled = np.log(values) if item.log else values.astype(float)
    return (scaled - low) / (high - low)
