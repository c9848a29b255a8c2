"""The data of a problem: training and validation splits, and reference scores."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from nas.exceptions import ProblemError
from nas.problem._streams import Samples, Stream

#: Model inputs: one array, or named arrays matching the space's input names.
Inputs = Union[np.ndarray, Mapping[str, np.ndarray]]
#: Targets: one array, or named arrays matching the space's output names.
Targets = Union[np.ndarray, Mapping[str, np.ndarray]]
#: A split: ``(x, y)`` arrays in memory, or a :class:`Stream` read as it trains.
Split = Union[tuple[Inputs, Targets], Stream]


@dataclass(frozen=True)
class Dataset:
    """Training and validation data: ``(x, y)`` pairs of arrays, or streams.

    ``x`` is one array (samples first) or a dict of named arrays, one per input of the
    search space; ``y`` likewise, one array or a dict of arrays keyed by output name
    (the names of the space's output nodes), with a loss per output in the problem.
    Arrays are checked when the dataset is made: both splits non-empty, ``x`` and ``y``
    of the same length, the same input and output names in both splits, and no NaN
    or infinite value in any input or target (impute or drop such rows first, for example
    with ``sklearn.impute.SimpleImputer``): a non-finite value would either train
    silently on garbage or fail every evaluation as a diverged model.

    Either split may instead be a :class:`Stream`: a function making a ``tf.data``
    pipeline or a Keras ``PyDataset`` in each process that trains, for data larger than
    memory or already in such a pipeline. A stream is checked as it is read (see
    :class:`Stream`); its names and shapes when the problem is checked.

    Args:
        train: ``(x, y)`` to fit on, or a :class:`Stream`.
        valid: ``(x, y)`` the objective is measured on, or a :class:`Stream`.
        baselines: objective values that trivial predictors reach on the validation
            data (say ``{"majority_class": 0.63}`` for accuracy, or the error of
            repeating the last value of a time series), so that "better than chance"
            can be checked and reported.

    Example:
        >>> x = np.zeros((10, 3), dtype="float32")
        >>> y = np.arange(10) % 2
        >>> data = Dataset(train=(x[:8], y[:8]), valid=(x[8:], y[8:]),
        ...                baselines={"majority_class": 0.5})
        >>> data.num_train, data.num_valid
        (8, 2)
    """

    train: Split
    valid: Split
    baselines: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "train", _checked_split("train", self.train))
        object.__setattr__(self, "valid", _checked_split("valid", self.valid))
        if not self.streamed:  # a stream's names are known once it is opened: check_names
            self.check_names()
        if not isinstance(self.baselines, Mapping):
            raise ProblemError(f"baselines must be a dict of name -> float: {self.baselines!r}")
        baselines = {}
        for name, value in self.baselines.items():
            if not isinstance(name, str) or not _is_finite_number(value):
                raise ProblemError(f"baseline {name!r} = {value!r}: expected a finite number")
            baselines[name] = float(value)
        object.__setattr__(self, "baselines", baselines)

    @property
    def streamed(self) -> bool:
        """Whether a split is a :class:`Stream`."""
        return isinstance(self.train, Stream) or isinstance(self.valid, Stream)

    @property
    def num_train(self) -> int | None:
        """Number of training samples (a stream's ``num_samples``, None if not given)."""
        return split_size(self.train)

    @property
    def num_valid(self) -> int | None:
        """Number of validation samples (a stream's ``num_samples``, None if not given)."""
        return split_size(self.valid)

    @property
    def input_names(self) -> list[str] | None:
        """Names of the inputs when ``x`` is a dict, else None."""
        return _names(sample_parts(self.train).x)

    @property
    def output_names(self) -> list[str] | None:
        """Names of the outputs when ``y`` is a dict, else None."""
        return _names(sample_parts(self.train).y)

    def check_names(self) -> None:
        """Both splits must have the same input and output names.

        Raises:
            ProblemError: naming both lists.
        """
        train, valid = sample_parts(self.train), sample_parts(self.valid)
        for what, found, other in (("inputs", train.x, valid.x), ("outputs", train.y, valid.y)):
            if sorted(found) != sorted(other):
                raise ProblemError(
                    f"train {what} {_names(found)} and valid {what} {_names(other)} differ"
                )


def num_samples(y: Targets) -> int:
    """The number of samples of targets ``y`` (one array or a dict of arrays)."""
    return len(next(iter(y.values()))) if isinstance(y, Mapping) else len(y)


def split_size(split: Split) -> int | None:
    """The samples of a split: of its arrays, or a stream's ``num_samples``."""
    return split.num_samples if isinstance(split, Stream) else num_samples(split[1])


def sample_parts(split: Split) -> Samples:
    """Names, shapes and dtypes of one sample of a split (a stream is opened for it)."""
    if isinstance(split, Stream):
        return split.samples()
    x, y = split
    return Samples(_array_parts(x), _array_parts(y))


def _array_parts(arrays: Inputs | Targets) -> dict[str, tuple[tuple[Any, ...], str]]:
    if isinstance(arrays, Mapping):
        return {name: (array.shape[1:], array.dtype.name) for name, array in arrays.items()}
    return {"": (arrays.shape[1:], arrays.dtype.name)}


def _names(parts: Mapping[str, Any]) -> list[str] | None:
    """Sorted names, None for one unnamed array."""
    return None if list(parts) == [""] else sorted(parts)


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and math.isfinite(value)


def _checked_split(label: str, split: Any) -> Split:
    if isinstance(split, Stream):
        return split
    if not isinstance(split, (tuple, list)) or len(split) != 2:
        raise ProblemError(
            f"Dataset {label} must be a pair (x, y) or a nas.problem.Stream, got "
            f"{type(split).__name__}"
        )
    x, y = split
    if isinstance(y, Mapping):
        if not y:
            raise ProblemError(f"Dataset {label} y is an empty dict: name at least one output")
        targets = {name: np.asarray(array) for name, array in y.items()}
    else:
        targets = {"y": np.asarray(y)}
    length = None
    for name, target in targets.items():
        what = f"y {name!r}" if isinstance(y, Mapping) else "y"
        if target.ndim == 0 or len(target) == 0:
            raise ProblemError(
                f"Dataset {label} {what} must be a non-empty array, got shape {target.shape}"
            )
        if length is not None and len(target) != length:
            raise ProblemError(
                f"Dataset {label} {what} has {len(target)} samples but the other outputs "
                f"have {length}: the first axis of every array counts samples"
            )
        length = len(target)
    if isinstance(x, Mapping):
        if not x:
            raise ProblemError(f"Dataset {label} x is an empty dict: name at least one input")
        arrays = {name: np.asarray(array) for name, array in x.items()}
    else:
        arrays = {"x": np.asarray(x)}
    for name, array in arrays.items():
        if array.ndim == 0 or len(array) != length:
            raise ProblemError(
                f"Dataset {label} input {name!r} has shape {array.shape} but y has "
                f"{length} samples: the first axis of every array counts samples"
            )
        what = f"input {name!r}" if isinstance(x, Mapping) else "x"
        _check_finite(array, f"Dataset {label} {what}")
    for name, target in targets.items():
        _check_finite(
            target, f"Dataset {label} y" + (f" {name!r}" if isinstance(y, Mapping) else "")
        )
    return (
        arrays if isinstance(x, Mapping) else arrays["x"],
        targets if isinstance(y, Mapping) else targets["y"],
    )


#: Rows checked at a time, so that a memory-mapped array larger than memory is read
#: block by block instead of as one boolean mask of its whole size.
_FINITE_CHECK_ROWS = 65_536


def _check_finite(array: np.ndarray, what: str) -> None:
    """Raise naming ``what``, the first row and the value if ``array`` holds NaN or inf."""
    if not np.issubdtype(array.dtype, np.inexact):
        return  # integers, booleans and strings cannot be non-finite
    for start in range(0, len(array), _FINITE_CHECK_ROWS):
        block = array[start : start + _FINITE_CHECK_ROWS]
        bad = ~np.isfinite(block)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            value = block[index]
            row, position = start + index[0], index[1:]
            where = f"row {row}" + (f", position {position}" if position else "")
            raise ProblemError(
                f"{what} holds {value} at {where}: inputs and targets must be finite; "
                "impute or drop such rows before making the Dataset"
            )
