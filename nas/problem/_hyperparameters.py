"""Hyperparameter kinds: ``Int``, ``Float``, ``Categorical`` and fixed values.

Each kind checks its arguments when made, samples, validates a value, gives a default,
and maps its values to [0, 1] and back for surrogate models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Union

import numpy as np

from nas.exceptions import ProblemError

Scalar = Union[bool, int, float, str, None]
_SCALAR_TYPES = (bool, int, float, str, type(None))


class Hyperparameter:
    """Base of the hyperparameter kinds: one named dimension of a configuration."""

    kind: ClassVar[str]
    #: Number of coordinates this hyperparameter takes in :meth:`HyperparameterSpace.to_unit`.
    unit_width: ClassVar[int] = 1

    def sample(self, rng: np.random.Generator) -> Scalar:
        """Draw one value."""
        raise NotImplementedError

    def validate(self, name: str, value: Any) -> Scalar:
        """Return ``value`` as a plain Python value, or raise a ProblemError naming it."""
        raise NotImplementedError

    def default(self) -> Scalar:
        """A sensible value to use when none is given."""
        raise NotImplementedError

    def to_unit(self, value: Any) -> float:
        """Map a valid value into [0, 1]."""
        raise NotImplementedError

    def from_unit(self, unit: float) -> Scalar:
        """Map any number in [0, 1] (clipped) back to a valid value."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """A JSON-able description, read back by :func:`hyperparameter_from_config`."""
        raise NotImplementedError


def _plain(value: Any) -> Any:
    """NumPy scalars (``np.int64(3)``, ``np.str_``) as the Python values they stand for."""
    return value.item() if isinstance(value, np.generic) else value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class _Range(Hyperparameter):
    """Shared checks and unit mapping of ``Int`` and ``Float``."""

    low: Any
    high: Any
    log: bool = False
    default_value: Any = None

    def _check_bounds(self, type_check: Any, expected: str) -> None:
        for label, bound in (("low", self.low), ("high", self.high)):
            if not type_check(bound) or not math.isfinite(bound):
                raise ProblemError(f"{self!r}: {label}={bound!r} must be a finite {expected}")
        if not self.low < self.high:
            raise ProblemError(
                f"{self!r}: low={self.low!r} must be smaller than high={self.high!r} "
                "(use a plain value for a fixed hyperparameter)"
            )
        if not isinstance(self.log, bool):
            raise ProblemError(f"{self!r}: log={self.log!r} must be True or False")
        if self.log and self.low <= 0:
            raise ProblemError(f"{self!r}: a log scale needs low > 0, got low={self.low!r}")

    def _check_in_range(self, name: str, value: Any) -> None:
        if not self.low <= value <= self.high:
            raise ProblemError(
                f"hyperparameter {name!r} = {value!r} is out of range: "
                f"expected {self.low!r} <= value <= {self.high!r}"
            )

    def _check_default(self) -> None:
        if self.default_value is not None:
            _check_default_value(self, self.default_value)

    def _unit_bounds(self) -> tuple[float, float]:
        # Integers own the interval of width one around them, so each integer gets an
        # equal share of [0, 1] and rounding inverts the mapping exactly (as Optuna does).
        half = 0.5 if isinstance(self, Int) else 0.0
        low, high = self.low - half, self.high + half
        return (math.log(low), math.log(high)) if self.log else (low, high)

    def to_unit(self, value: Any) -> float:
        low, high = self._unit_bounds()
        scaled = math.log(value) if self.log else value
        return (scaled - low) / (high - low)

    def _from_unit_real(self, unit: float) -> float:
        low, high = self._unit_bounds()
        scaled = low + float(np.clip(unit, 0.0, 1.0)) * (high - low)
        return math.exp(scaled) if self.log else scaled

    def get_config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "default": self.default_value,
        }


@dataclass(frozen=True, init=False)
class Int(_Range):
    """An integer in ``[low, high]`` (both included), uniform or on a log scale.

    Args:
        low: the smallest value.
        high: the largest value, greater than ``low``.
        log: sample uniformly in log space (``low`` must then be positive).
        default: the value :meth:`HyperparameterSpace.default` uses; the (geometric,
            when ``log``) mid-point of the range, rounded, when not given.

    Example:
        >>> batch_size = Int(16, 256, log=True)
        >>> batch_size.default()
        64
    """

    kind: ClassVar[str] = "int"

    def __init__(self, low: int, high: int, log: bool = False, default: int | None = None):
        object.__setattr__(self, "low", _plain(low))
        object.__setattr__(self, "high", _plain(high))
        object.__setattr__(self, "log", log)
        object.__setattr__(self, "default_value", _plain(default))
        self._check_bounds(_is_int, "int")
        self._check_default()

    def __repr__(self) -> str:
        return f"Int({self.low!r}, {self.high!r}, log={self.log!r})"

    def sample(self, rng: np.random.Generator) -> int:
        if not self.log:
            return int(rng.integers(self.low, self.high + 1))
        return self.from_unit(float(rng.random()))

    def validate(self, name: str, value: Any) -> int:
        value = _plain(value)
        if not _is_int(value):
            raise ProblemError(
                f"hyperparameter {name!r} = {value!r} ({type(value).__name__}) must be an int"
            )
        self._check_in_range(name, value)
        return value

    def default(self) -> int:
        if self.default_value is not None:
            return self.default_value
        if self.log:
            return int(round(math.sqrt(self.low * self.high)))
        return (self.low + self.high) // 2

    def from_unit(self, unit: float) -> int:
        return int(np.clip(round(self._from_unit_real(unit)), self.low, self.high))


@dataclass(frozen=True, init=False)
class Float(_Range):
    """A real number in ``[low, high]``, uniform or on a log scale.

    Args:
        low: the lower bound.
        high: the upper bound, greater than ``low``.
        log: sample uniformly in log space (``low`` must then be positive); the usual
            choice for learning rates.
        default: the value :meth:`HyperparameterSpace.default` uses; the (geometric,
            when ``log``) mid-point of the range when not given.

    Example:
        >>> learning_rate = Float(1e-4, 1e-2, log=True)
        >>> round(learning_rate.default(), 6)
        0.001
    """

    kind: ClassVar[str] = "float"

    def __init__(
        self, low: float, high: float, log: bool = False, default: float | None = None
    ) -> None:
        object.__setattr__(self, "low", _plain(low))
        object.__setattr__(self, "high", _plain(high))
        object.__setattr__(self, "log", log)
        object.__setattr__(self, "default_value", _plain(default))
        self._check_bounds(_is_real, "number")
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))
        self._check_default()

    def __repr__(self) -> str:
        return f"Float({self.low!r}, {self.high!r}, log={self.log!r})"

    def sample(self, rng: np.random.Generator) -> float:
        return self.from_unit(float(rng.random()))

    def validate(self, name: str, value: Any) -> float:
        value = _plain(value)
        if not _is_real(value):
            raise ProblemError(
                f"hyperparameter {name!r} = {value!r} ({type(value).__name__}) must be a number"
            )
        self._check_in_range(name, value)
        return float(value)

    def default(self) -> float:
        if self.default_value is not None:
            return float(self.default_value)
        if self.log:
            return math.sqrt(self.low * self.high)
        return (self.low + self.high) / 2

    def from_unit(self, unit: float) -> float:
        # exp(log(x)) may drift out of [low, high] by one ulp.
        return float(np.clip(self._from_unit_real(unit), self.low, self.high))


@dataclass(frozen=True, init=False)
class Categorical(Hyperparameter):
    """One of a list of choices (strings, numbers, booleans or None).

    In the unit encoding a categorical takes one coordinate, the centre of its
    choice's bin: choice ``i`` of ``k`` maps to ``(i + 0.5) / k``. One coordinate per
    hyperparameter suits tree-based surrogates (random forests split on it directly)
    and keeps the encoding the same width as the configuration.

    Args:
        choices: the candidate values, non-empty and without duplicates.
        default: the value :meth:`HyperparameterSpace.default` uses; the first choice
            when not given.

    Example:
        >>> optimizer = Categorical(["adam", "sgd", "rmsprop"])
        >>> optimizer.default()
        'adam'
    """

    kind: ClassVar[str] = "categorical"
    choices: tuple[Scalar, ...]
    default_value: Scalar

    def __init__(self, choices: Sequence[Scalar], default: Scalar = None) -> None:
        if isinstance(choices, (str, bytes)) or not isinstance(choices, (Sequence, np.ndarray)):
            raise ProblemError(f"Categorical choices must be a list of values, got {choices!r}")
        values = tuple(_plain(choice) for choice in choices)
        if not values:
            raise ProblemError("Categorical choices must not be empty")
        for index, value in enumerate(values):
            if not isinstance(value, _SCALAR_TYPES):
                raise ProblemError(
                    f"Categorical choice {value!r} ({type(value).__name__}) must be a str, "
                    "number, bool or None, so that configurations can be saved as JSON"
                )
            if _index_of(values[:index], value) is not None:
                raise ProblemError(f"Categorical choices {list(values)!r} repeat {value!r}")
        object.__setattr__(self, "choices", values)
        object.__setattr__(self, "default_value", _plain(default))
        if default is not None:
            _check_default_value(self, self.default_value)

    def __repr__(self) -> str:
        return f"Categorical({list(self.choices)!r})"

    def sample(self, rng: np.random.Generator) -> Scalar:
        return self.choices[int(rng.integers(len(self.choices)))]

    def validate(self, name: str, value: Any) -> Scalar:
        index = _index_of(self.choices, _plain(value))
        if index is None:
            raise ProblemError(
                f"hyperparameter {name!r} = {value!r} is not one of {list(self.choices)!r}"
            )
        return self.choices[index]

    def default(self) -> Scalar:
        return self.choices[0] if self.default_value is None else self.default_value

    def to_unit(self, value: Any) -> float:
        index = _index_of(self.choices, _plain(value))
        if index is None:
            raise ProblemError(f"{value!r} is not one of {list(self.choices)!r}")
        return (index + 0.5) / len(self.choices)

    def from_unit(self, unit: float) -> Scalar:
        index = int(float(np.clip(unit, 0.0, 1.0)) * len(self.choices))
        return self.choices[min(index, len(self.choices) - 1)]

    def get_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "choices": list(self.choices), "default": self.default_value}


@dataclass(frozen=True)
class Constant(Hyperparameter):
    """A fixed value: never sampled, absent from the unit encoding.

    Plain values in a :class:`HyperparameterSpace` become constants; write
    ``{"epochs": 3}`` rather than ``{"epochs": Constant(3)}``.
    """

    value: Scalar
    kind: ClassVar[str] = "constant"
    unit_width: ClassVar[int] = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _plain(self.value))
        if not isinstance(self.value, _SCALAR_TYPES):
            raise ProblemError(
                f"fixed hyperparameter value {self.value!r} ({type(self.value).__name__}) must "
                "be a str, number, bool or None, or one of Int, Float, Categorical"
            )

    def sample(self, rng: np.random.Generator) -> Scalar:
        return self.value

    def validate(self, name: str, value: Any) -> Scalar:
        if _index_of((self.value,), _plain(value)) is None:
            raise ProblemError(
                f"hyperparameter {name!r} is fixed at {self.value!r} by the problem, got {value!r}"
            )
        return self.value

    def default(self) -> Scalar:
        return self.value

    def get_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value}


def _check_default_value(hyperparameter: Hyperparameter, value: Any) -> None:
    try:
        hyperparameter.validate("default", value)
    except ProblemError as error:
        raise ProblemError(f"{hyperparameter!r}: invalid default: {error}") from None


def _index_of(choices: Sequence[Scalar], value: Any) -> int | None:
    """Position of ``value`` in ``choices``, telling ``True`` apart from ``1``."""
    for index, choice in enumerate(choices):
        # Equal numbers of different types (1 and 1.0) are the same choice, True and 1 not.
        if isinstance(choice, bool) == isinstance(value, bool) and choice == value:
            return index
    return None


def hyperparameter_from_config(config: Mapping[str, Any]) -> Hyperparameter:
    """Rebuild a hyperparameter from :meth:`Hyperparameter.get_config`."""
    kind = config.get("kind") if isinstance(config, Mapping) else None
    try:
        if kind == "int":
            return Int(config["low"], config["high"], config["log"], config.get("default"))
        if kind == "float":
            return Float(config["low"], config["high"], config["log"], config.get("default"))
        if kind == "categorical":
            return Categorical(config["choices"], config.get("default"))
        if kind == "constant":
            return Constant(config["value"])
    except KeyError as error:
        raise ProblemError(f"hyperparameter config {config!r} lacks {error}") from None
    raise ProblemError(
        f"hyperparameter config {config!r} has no known 'kind' "
        "(expected 'int', 'float', 'categorical' or 'constant')"
    )
