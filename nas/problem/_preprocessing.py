"""Preprocessing that travels with the model: Keras layers between its inputs and the space.

A problem's ``preprocessing`` factory makes, from the problem's :class:`Dataset`, the
layers that turn raw inputs into what the space expects (a ``keras.layers.Normalization``
holding the training split's statistics, say). Every model built for the problem applies
them right after its ``Input``, so a trained or exported model takes raw rows, and the
data a problem returns stay raw.

The factory runs once per process (each worker, each rank), on the same data: its layers
must come out the same everywhere. :func:`normalize` computes its statistics with NumPy
in float64, block by block, in a fixed order, so they do; a ``Normalization`` adapted with
``adapt`` on the whole training split is deterministic too, but costs an adapt per process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Union

import numpy as np

from nas._imports import import_keras
from nas.exceptions import ProblemError
from nas.problem._dataset import Dataset, Split, sample_parts
from nas.problem._streams import PIPELINE, Shard, Stream, source_kind

#: ``preprocessing(dataset) -> keras layer | dict of input name -> keras layer``.
PreprocessingFactory = Callable[[Dataset], Any]
Layers = Union[Any, Mapping[str, Any]]

#: Rows read at a time when computing statistics, so that a memory-mapped training
#: split larger than memory is read block by block.
_STATISTICS_ROWS = 65_536


def normalize(inputs: Iterable[str] | None = None, *, axis: int = -1) -> Normalize:
    """A preprocessing factory that standardises numeric inputs with the training split.

    ``Problem(..., preprocessing=normalize())`` puts a ``keras.layers.Normalization``
    after each numeric input of every model built: ``(x - mean) / std``, with the mean
    and variance of the training split (``dataset.train``) per feature (the last axis,
    or ``axis``), computed with NumPy in float64, block by block (memory-mapped data are
    never read whole). A constant feature gets variance 1 (it is only centred), as
    scikit-learn's ``StandardScaler`` does, so unseen values stay finite. The statistics
    go into the layer's configuration, so the saved model carries them.

    Args:
        inputs: the names of the inputs to standardise; None: every input whose array
            is numeric (integers or floats, not booleans).
        axis: the feature axis (``keras.layers.Normalization``'s), -1 by default.

    Example:
        >>> import numpy as np
        >>> from nas.problem import Dataset
        >>> x = np.array([[1.0, 10.0], [3.0, 10.0]], dtype="float32")
        >>> data = Dataset(train=(x, np.zeros(2)), valid=(x, np.zeros(2)))
        >>> layer = normalize()(data)
        >>> layer.get_config()["mean"], layer.get_config()["variance"]
        ([2.0, 10.0], [1.0, 1.0])
    """
    return Normalize(inputs, axis=axis)


class Normalize:
    """The factory :func:`normalize` makes (a class, so that problems pickle)."""

    def __init__(self, inputs: Iterable[str] | None = None, *, axis: int = -1) -> None:
        if isinstance(inputs, str):
            inputs = [inputs]
        self.inputs = None if inputs is None else tuple(inputs)
        if self.inputs is not None and not all(isinstance(n, str) and n for n in self.inputs):
            raise ProblemError(f"normalize: inputs must be input names (str), got {inputs!r}")
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ProblemError(f"normalize: axis must be an int, got {axis!r}")
        self.axis = axis

    def __repr__(self) -> str:
        return f"normalize(inputs={self.inputs!r}, axis={self.axis})"

    def __call__(self, dataset: Dataset) -> Layers:
        inputs = sample_parts(dataset.train).x
        if list(inputs) == [""]:
            if self.inputs is not None:
                raise ProblemError(
                    f"normalize: inputs {list(self.inputs)} named, but the data's x is one "
                    "array: name no input (normalize()) or make x a dict"
                )
            return self._layer(dataset.train, "", "x")
        names = self.inputs if self.inputs is not None else sorted(inputs)
        unknown = [name for name in names if name not in inputs]
        if unknown:
            raise ProblemError(
                f"normalize: no input {unknown[0]!r} in the data; its inputs are {sorted(inputs)}"
            )
        layers = {}
        for name in names:
            if self.inputs is None and not _is_numeric(inputs[name][1]):
                continue  # a non-numeric input is left as it is unless named
            layers[name] = self._layer(dataset.train, name, name)
        return layers

    def _layer(self, split: Split, key: str, name: str) -> Any:
        shape, dtype = sample_parts(split).x[key]
        if not _is_numeric(dtype):
            raise ProblemError(f"normalize: input {name!r} holds {dtype} values, expected numbers")
        if len(shape) < 1:
            raise ProblemError(
                f"normalize: input {name!r} has samples of shape {tuple(shape)}: expected "
                "samples with at least one feature axis"
            )
        if isinstance(split, Stream):
            mean, variance = block_statistics(_streamed_blocks(split, key), self.axis)
        else:
            x = split[0]
            mean, variance = feature_statistics(x[key] if key else x, self.axis)
        keras = import_keras()
        return keras.layers.Normalization(
            axis=self.axis, mean=mean.tolist(), variance=variance.tolist()
        )


def feature_statistics(array: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) variance of ``array`` per index of ``axis``, in float64,
    over samples and every other axis, read ``_STATISTICS_ROWS`` rows at a time; a zero
    variance becomes 1."""
    blocks = (
        array[start : start + _STATISTICS_ROWS] for start in range(0, len(array), _STATISTICS_ROWS)
    )
    return block_statistics(blocks, axis)


def block_statistics(blocks: Iterable[Any], axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) variance per index of ``axis`` over ``blocks`` of samples
    (arrays with the samples first), in float64, in their order; a zero variance
    becomes 1."""
    count = 0
    mean = squares = None  # squares: the sum of squared deviations from the mean
    for values in blocks:
        block = np.asarray(values, dtype=np.float64)
        feature_axis = axis % block.ndim
        if feature_axis == 0:
            raise ProblemError("normalize: the feature axis cannot be the samples' axis (0)")
        if mean is None:
            mean = np.zeros(block.shape[feature_axis])
            squares = np.zeros(block.shape[feature_axis])
        if block.size == 0:
            continue
        reduced = tuple(a for a in range(block.ndim) if a != feature_axis)
        n = block.size // block.shape[feature_axis]
        block_mean = block.mean(axis=reduced)
        shape = [1] * block.ndim
        shape[feature_axis] = -1
        block_squares = ((block - block_mean.reshape(shape)) ** 2).sum(axis=reduced)
        delta = block_mean - mean
        total = count + n
        # Chan et al.'s pairwise update: stable, and the same order everywhere.
        mean = mean + delta * (n / total)
        squares = squares + block_squares + delta**2 * (count * n / total)
        count = total
    if mean is None or count == 0:
        raise ProblemError("normalize: the training split holds no samples")
    variance = squares / count
    variance[variance == 0] = 1.0
    return mean, variance


def _streamed_blocks(stream: Stream, key: str) -> Iterator[np.ndarray]:
    """Input ``key`` of a stream's training samples (``""``: its one input), read in
    blocks of ``_STATISTICS_ROWS`` rows, in the pipeline's order."""
    source = stream.open(batch_size=_STATISTICS_ROWS, shard=Shard(0, 1), seed=0)
    if source_kind(source) == PIPELINE:
        if not stream.batched:
            source = source.batch(_STATISTICS_ROWS)
        batches: Iterable[Any] = source.as_numpy_iterator()
    else:
        batches = (source[index] for index in range(int(source.num_batches)))
    for batch in batches:
        x = batch[0]
        yield x[key] if key else x


def _is_numeric(dtype: Any) -> bool:
    try:
        return np.issubdtype(np.dtype(dtype), np.number)
    except TypeError:  # a dtype NumPy does not know (tf.string's "string")
        return False


def checked_layers(problem_name: str, layers: Any, input_names: list[str]) -> dict[str, Any]:
    """What a preprocessing factory returned, as a dict of input name -> keras layer.

    Raises:
        ProblemError: one line naming the problem, what was returned and what was expected.
    """
    keras = import_keras()
    expected = (
        f"expected a keras.layers.Layer (for a space of one input) or a dict of input name "
        f"-> keras.layers.Layer, for inputs {input_names}"
    )
    prefix = f"preprocessing of problem {problem_name!r} returned"
    if isinstance(layers, keras.layers.Layer):
        if len(input_names) != 1:
            raise ProblemError(
                f"{prefix} one layer ({type(layers).__name__}) for a space of inputs "
                f"{input_names}: {expected}"
            )
        return {input_names[0]: layers}
    if not isinstance(layers, Mapping):
        raise ProblemError(f"{prefix} {type(layers).__name__}, {expected}")
    for name, layer in layers.items():
        if name not in input_names:
            raise ProblemError(
                f"{prefix} a layer for {name!r}, which is not an input of the space: {expected}"
            )
        if not isinstance(layer, keras.layers.Layer):
            raise ProblemError(f"{prefix} {type(layer).__name__} for input {name!r}, {expected}")
    return dict(layers)


def fresh_layer(layer: Any, name: str) -> Any:
    """A new layer like ``layer``, named ``name``, with a copy of its weights (an adapted
    layer's statistics), so that no two models share a layer or a variable."""
    clone = type(layer).from_config({**layer.get_config(), "name": name})
    weights = layer.get_weights()
    if weights:
        build_config = layer.get_build_config()
        if build_config:
            clone.build_from_config(build_config)
        clone.set_weights(weights)
        finalize = getattr(clone, "finalize_state", None)
        if callable(finalize):  # Normalization, Discretization: state from the weights
            finalize()
    return clone


def preprocessing_name(input_name: str) -> str:
    """The name of an input's preprocessing layer in built models."""
    return f"{input_name}_preprocessing"
