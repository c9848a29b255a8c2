"""The space of hyperparameter configurations of a problem."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from nas.exceptions import ProblemError
from nas.problem._hyperparameters import (
    Constant,
    Hyperparameter,
    Scalar,
    hyperparameter_from_config,
)


class HyperparameterSpace(Mapping[str, Hyperparameter]):
    """Named hyperparameters: sample, validate and encode configurations.

    A configuration is a plain ``dict`` from names to values. In the unit encoding
    (:meth:`to_unit`), every searched hyperparameter takes one coordinate in [0, 1],
    in the order of :attr:`names` with constants left out: ``Int`` and ``Float`` map
    linearly, or linearly in log space when ``log=True``; integers own equal bins so
    rounding inverts the map; a ``Categorical`` maps choice ``i`` of ``k`` to the bin
    centre ``(i + 0.5) / k``.

    Args:
        hyperparameters: names mapped to ``Int``, ``Float``, ``Categorical`` or a plain
            value (fixed).

    Example:
        >>> space = HyperparameterSpace({
        ...     "learning_rate": Float(1e-4, 1e-1, log=True),
        ...     "batch_size": Int(16, 256, log=True),
        ...     "optimizer": Categorical(["adam", "sgd"]),
        ...     "epochs": 3,
        ... })
        >>> config = space.sample(np.random.default_rng(0))
        >>> space.validate(config) == config
        True
        >>> space.from_unit(space.to_unit(config)) == config
        True
    """

    def __init__(self, hyperparameters: Mapping[str, Any] | None = None) -> None:
        hyperparameters = {} if hyperparameters is None else hyperparameters
        if not isinstance(hyperparameters, Mapping):
            raise ProblemError(
                f"hyperparameters must be a dict of name -> Int/Float/Categorical/value, "
                f"got {hyperparameters!r}"
            )
        self._items: dict[str, Hyperparameter] = {}
        for name, value in hyperparameters.items():
            if not isinstance(name, str) or not name:
                raise ProblemError(f"hyperparameter names must be non-empty str, got {name!r}")
            self._items[name] = value if isinstance(value, Hyperparameter) else Constant(value)

    def __getitem__(self, name: str) -> Hyperparameter:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{name!r}: {h.value!r}" if isinstance(h, Constant) else f"{name!r}: {h!r}"
            for name, h in self._items.items()
        )
        return f"HyperparameterSpace({{{inner}}})"

    @property
    def names(self) -> list[str]:
        """All hyperparameter names, in declaration order."""
        return list(self._items)

    @property
    def searched_names(self) -> list[str]:
        """Names of the hyperparameters that vary (not constants): the unit coordinates."""
        return [name for name, h in self._items.items() if h.unit_width]

    def sample(self, rng: np.random.Generator) -> dict[str, Scalar]:
        """A random configuration; constants keep their value."""
        return {name: h.sample(rng) for name, h in self._items.items()}

    def default(self) -> dict[str, Scalar]:
        """The configuration of every hyperparameter's default."""
        return {name: h.default() for name, h in self._items.items()}

    def validate(self, config: Mapping[str, Any]) -> dict[str, Scalar]:
        """Check ``config`` and return it complete, as plain Python values.

        Missing names take their default, so partial configurations such as
        ``{"learning_rate": 0.01}`` are accepted.

        Raises:
            ProblemError: naming an unknown name, a value of the wrong type or out of
                range, or a fixed hyperparameter given another value.
        """
        if not isinstance(config, Mapping):
            raise ProblemError(f"a configuration must be a dict, got {config!r}")
        unknown = [name for name in config if name not in self._items]
        if unknown:
            raise ProblemError(
                f"unknown hyperparameter(s) {unknown!r}: expected names among {self.names!r}"
            )
        return {
            name: h.validate(name, config[name]) if name in config else h.default()
            for name, h in self._items.items()
        }

    def to_unit(self, config: Mapping[str, Any]) -> np.ndarray:
        """Encode a configuration as a point of [0, 1]^d, d = ``len(searched_names)``."""
        config = self.validate(config)
        return np.array(
            [self._items[name].to_unit(config[name]) for name in self.searched_names],
            dtype=float,
        )

    def from_unit(self, point: Sequence[float] | np.ndarray) -> dict[str, Scalar]:
        """Decode a point of [0, 1]^d (clipped into it) into a valid configuration."""
        point = np.asarray(point, dtype=float)
        names = self.searched_names
        if point.shape != (len(names),):
            raise ProblemError(
                f"expected a point of shape ({len(names)},) for {names!r}, got {point.shape}"
            )
        decoded = dict(zip(names, (self._items[n].from_unit(u) for n, u in zip(names, point))))
        return {name: decoded.get(name, h.default()) for name, h in self._items.items()}

    def get_config(self) -> dict[str, dict[str, Any]]:
        """A JSON-able description, read back by :meth:`from_config`."""
        return {name: h.get_config() for name, h in self._items.items()}

    @classmethod
    def from_config(cls, config: Mapping[str, Mapping[str, Any]]) -> HyperparameterSpace:
        """Rebuild a space from :meth:`get_config`."""
        return cls({name: hyperparameter_from_config(item) for name, item in config.items()})
