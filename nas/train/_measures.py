"""Measured properties of a built Keras model: FLOPs, inference latency, saved size.

Second objectives and constraints for multi-objective search (see :mod:`nas.pareto`).
Keras is imported inside the functions, never when this module is.

FLOPs are counted from the model's graph, per layer call, at batch size 1, with these
conventions (most papers'):

* one multiply-add is 2 FLOPs: a Dense layer of ``u`` units on ``i`` inputs costs
  ``2*i*u``, plus ``u`` for its bias (one add per output; none without a bias);
* an activation costs 1 FLOP per element it outputs, whatever the function (ReLU,
  sigmoid, softmax alike), both as a layer and fused into Dense, Conv or an RNN; a
  linear activation costs 0;
* convolutions cost ``2 * kernel volume * input channels / groups`` per output element
  (strides and padding enter through the output shape); depthwise ones
  ``2 * kernel volume`` per output element; separable ones their depthwise then their
  pointwise part; transposed ones ``2 * kernel volume * output channels`` per input
  element;
* pooling costs the pool's volume per output element (comparisons or additions, the
  average's division included), global pooling 1 per input element;
* batch normalisation at inference, ``Normalization`` and ``Rescaling`` cost 2 per
  element (a multiply and an add once the statistics are folded);
* merges of ``k`` inputs cost ``k - 1`` per output element (``Add``, ``Subtract``,
  ``Multiply``, ``Maximum``, ``Minimum``), ``k`` for ``Average``; ``Concatenate`` 0;
* recurrent layers cost their per-step count times the number of steps, see
  :func:`_recurrent_flops`; ``Bidirectional`` both directions, plus its merge;
* layers that move or drop data cost 0: ``InputLayer``, ``Reshape``, ``Flatten``,
  ``Permute``, ``RepeatVector``, padding, cropping, ``Embedding`` (a lookup), and the
  dropout and noise layers (identities at inference).

Any other layer (a custom layer, one of the Keras layers not listed) counts 0 and is
reported in :attr:`FlopReport.uncounted`, so a caller knows the total is a lower bound.
Nested models (Functional or Sequential) are walked recursively; a subclassed model
has no graph to walk, and is reported as uncounted.
"""

from __future__ import annotations

import functools
import logging
import math
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas._imports import import_keras, import_tensorflow

logger = logging.getLogger("nas.train")

Shape = tuple[int, ...]


@dataclass(frozen=True)
class FlopReport:
    """The FLOPs of one forward pass at batch size 1, and what could not be counted.

    Attributes:
        total: the FLOPs counted (see the module's conventions).
        by_layer: FLOPs per layer name (``outer/inner`` for layers of nested models;
            a shared layer sums its calls).
        uncounted: ``"name (ClassName)"`` of each layer call counted as 0 because its
            type or its input shape is not understood. Non-empty: ``total`` is a lower
            bound.
    """

    total: int
    by_layer: dict[str, int] = field(default_factory=dict)
    uncounted: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when every layer was counted, so ``total`` is not just a lower bound."""
        return not self.uncounted


class _UnknownShape(Exception):
    """A dimension other than the batch is unknown: the layer cannot be counted."""


def count_flops(model: Any) -> int:
    """FLOPs of one forward pass of ``model`` at batch size 1 (1 multiply-add = 2 FLOPs).

    Logs a warning naming the layer types counted as 0 when there are any (the result is
    then a lower bound); :func:`flop_report` returns them instead.

    Example:
        >>> inputs = keras.Input((5,))
        >>> count_flops(keras.Model(inputs, keras.layers.Dense(10)(inputs)))
        110
    """
    report = flop_report(model)
    if report.uncounted:
        logger.warning(
            "FLOPs of %s are a lower bound: %d layer call(s) counted as 0: %s",
            getattr(model, "name", "the model"),
            len(report.uncounted),
            ", ".join(report.uncounted),
        )
    return report.total


def flop_report(model: Any) -> FlopReport:
    """FLOPs of one forward pass at batch size 1, per layer, with the layers not counted.

    The model must be built (a Functional model, or a Sequential one given its input
    shape). Uses Keras's graph of layer calls (``Functional._nodes_by_depth``), so each
    call of a shared layer is counted.

    Example:
        >>> report = flop_report(model)
        >>> report.total, report.complete
        (110, True)
    """
    keras = import_keras()
    by_layer: dict[str, int] = {}
    uncounted: list[str] = []
    _count_model(keras, model, "", by_layer, uncounted)
    return FlopReport(sum(by_layer.values()), by_layer, tuple(uncounted))


# ---------------------------------------------------------------------------------------
# Walking the graph


def _graph_of(keras: Any, model: Any) -> Any | None:
    """The Functional model holding ``model``'s graph, None when it has none."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)  # set once the Sequential is built
    return model if hasattr(model, "_nodes_by_depth") else None


def _count_model(
    keras: Any, model: Any, prefix: str, by_layer: dict[str, int], uncounted: list[str]
) -> None:
    graph = _graph_of(keras, model)
    if graph is None:
        if prefix:  # a nested model without a graph: report it, count the rest
            uncounted.append(f"{prefix.rstrip('/')} ({type(model).__name__}: no graph)")
            return
        raise ValueError(
            f"cannot count the FLOPs of {type(model).__name__} {model.name!r}: it has no "
            f"graph of layers (build a Sequential model with its input shape; subclassed "
            f"models are not supported)"
        )
    # Deepest nodes are the inputs: walking from the deepest gives a stable input-first
    # order, so by_layer lists layers as the data flows.
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            layer = node.operation
            if isinstance(layer, keras.layers.InputLayer):
                continue  # a placeholder, not a computation: kept out of by_layer
            name = prefix + layer.name
            if _graph_of(keras, layer) is not None or isinstance(layer, keras.Model):
                _count_model(keras, layer, name + "/", by_layer, uncounted)
                continue
            inputs = [_batch_one(t.shape) for t in node.input_tensors]
            outputs = [_batch_one(t.shape) for t in node.output_tensors]
            flops = _layer_flops(keras, layer, inputs, outputs)
            if flops is None:
                uncounted.append(f"{name} ({type(layer).__name__})")
                flops = 0
            by_layer[name] = by_layer.get(name, 0) + flops


def _batch_one(shape: Sequence[int | None]) -> tuple[int | None, ...]:
    """The shape with the batch dimension set to 1 (other unknown ones stay None)."""
    return (1, *shape[1:]) if len(shape) else ()


def _size(shape: Sequence[int | None]) -> int:
    if any(d is None for d in shape):
        raise _UnknownShape
    return math.prod(shape)


def _layer_flops(
    keras: Any, layer: Any, inputs: list[tuple[int | None, ...]], outputs: list[Shape]
) -> int | None:
    """FLOPs of one call of ``layer``; None when its type or shapes are not understood."""
    try:
        for types, rule in _rules(keras):
            if isinstance(layer, types):
                return int(rule(keras, layer, inputs, outputs))
    except _UnknownShape:
        return None
    return None


# ---------------------------------------------------------------------------------------
# Rules per layer type


def _activation_flops(keras: Any, activation: Any, elements: int) -> int:
    return 0 if activation in (None, keras.activations.linear) else elements


def _bias_and_activation(keras: Any, layer: Any, output: Shape) -> int:
    elements = _size(output)
    bias = elements if getattr(layer, "use_bias", False) else 0
    return bias + _activation_flops(keras, getattr(layer, "activation", None), elements)


def _channels(layer: Any, shape: Shape) -> int:
    channels = shape[1] if getattr(layer, "data_format", None) == "channels_first" else shape[-1]
    if channels is None:
        raise _UnknownShape
    return channels


def _spatial(layer: Any, shape: Shape) -> int:
    inner = shape[2:] if getattr(layer, "data_format", None) == "channels_first" else shape[1:-1]
    return _size(inner)


def _dense(keras, layer, inputs, outputs) -> int:
    (shape,) = inputs
    rows = _size(shape[:-1])  # Dense acts on the last axis of each leading position
    return 2 * rows * _size(shape[-1:]) * layer.units + _bias_and_activation(
        keras, layer, outputs[0]
    )


def _convolution(keras, layer, inputs, outputs) -> int:
    (shape,), (output,) = inputs, outputs
    per_output = math.prod(layer.kernel_size) * _channels(layer, shape) // layer.groups
    return 2 * _size(output) * per_output + _bias_and_activation(keras, layer, output)


def _transposed_convolution(keras, layer, inputs, outputs) -> int:
    (shape,), (output,) = inputs, outputs
    # Each input element scatters kernel volume x filters multiply-adds into the output.
    per_input = math.prod(layer.kernel_size) * layer.filters
    return 2 * _size(shape) * per_input + _bias_and_activation(keras, layer, output)


def _depthwise_convolution(keras, layer, inputs, outputs) -> int:
    (output,) = outputs
    return 2 * _size(output) * math.prod(layer.kernel_size) + _bias_and_activation(
        keras, layer, output
    )


def _separable_convolution(keras, layer, inputs, outputs) -> int:
    (shape,), (output,) = inputs, outputs
    positions = _spatial(layer, output)
    depthwise_channels = _channels(layer, shape) * layer.depth_multiplier
    depthwise = 2 * positions * depthwise_channels * math.prod(layer.kernel_size)
    pointwise = 2 * positions * depthwise_channels * layer.filters
    return depthwise + pointwise + _bias_and_activation(keras, layer, output)


def _pooling(keras, layer, inputs, outputs) -> int:
    return _size(outputs[0]) * math.prod(layer.pool_size)


def _per_input_element(factor: int):
    def rule(keras, layer, inputs, outputs) -> int:
        return factor * _size(inputs[0])

    return rule


def _activation_layer(keras, layer, inputs, outputs) -> int:
    # keras.layers.Activation holds a function; ReLU, Softmax and the others are the
    # function itself.
    if isinstance(layer, keras.layers.Activation):
        return _activation_flops(keras, layer.activation, _size(outputs[0]))
    return _size(outputs[0])


def _merge(extra: int):
    def rule(keras, layer, inputs, outputs) -> int:
        return (len(inputs) - 1 + extra) * _size(outputs[0])

    return rule


def _free(keras, layer, inputs, outputs) -> int:
    return 0


def _recurrent_flops(layer: Any, steps: int, features: int) -> int:
    """FLOPs of a SimpleRNN, GRU or LSTM over ``steps`` steps of ``features`` inputs.

    Per step, with ``g`` gates (1, 3, 4) of ``u`` units: the gates' matrix products on
    the input and the previous state, ``2*g*u*(features + u)``; their biases, ``g*u``
    (``2*g*u`` for a GRU with ``reset_after``, which has two bias vectors); their
    activations, ``g*u``; and the state update, ``5*u`` for GRU (``r*(h U)``, ``1-z``,
    two products and a sum) and LSTM (``f*c``, ``i*g``, their sum, ``tanh(c)``,
    ``o*tanh(c)``), 0 for SimpleRNN.
    """
    cell = getattr(layer, "cell", layer)
    units = cell.units
    gates, update = {"LSTMCell": (4, 5), "GRUCell": (3, 5)}.get(type(cell).__name__, (1, 0))
    biases = 0
    if getattr(cell, "use_bias", True):
        biases = gates * units * (2 if getattr(cell, "reset_after", False) else 1)
    per_step = 2 * gates * units * (features + units) + biases + gates * units + update * units
    return steps * per_step


def _recurrent(keras, layer, inputs, outputs) -> int:
    shape = inputs[0]  # (1, steps, features); further inputs are initial states
    if len(shape) != 3 or shape[1] is None or shape[2] is None:
        raise _UnknownShape
    return _recurrent_flops(layer, shape[1], shape[2])


def _bidirectional(keras, layer, inputs, outputs) -> int:
    directions = [layer.forward_layer, layer.backward_layer]
    if not all(isinstance(d, _recurrent_types(keras)) for d in directions):
        raise _UnknownShape  # a custom RNN: not understood
    flops = sum(_recurrent(keras, d, inputs[:1], outputs) for d in directions)
    merge = {"sum": 1, "mul": 1, "ave": 2}.get(layer.merge_mode, 0)  # concat, None: free
    return flops + merge * _size(outputs[0])


def _recurrent_types(keras: Any) -> tuple[type, ...]:
    return _classes(keras, "SimpleRNN GRU LSTM")


def _classes(keras: Any, names: str) -> tuple[type, ...]:
    """The ``keras.layers`` classes named (space-separated) that this Keras has."""
    return tuple(getattr(keras.layers, n) for n in names.split() if hasattr(keras.layers, n))


_FREE = """InputLayer Reshape Flatten Permute RepeatVector Identity Embedding Concatenate
    Dropout SpatialDropout1D SpatialDropout2D SpatialDropout3D GaussianDropout GaussianNoise
    AlphaDropout ActivityRegularization ZeroPadding1D ZeroPadding2D ZeroPadding3D
    Cropping1D Cropping2D Cropping3D"""
_POOLING = """MaxPooling1D MaxPooling2D MaxPooling3D
    AveragePooling1D AveragePooling2D AveragePooling3D"""
_GLOBAL_POOLING = """GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D
    GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D"""


@functools.cache
def _rules(keras: Any) -> tuple[tuple[tuple[type, ...], Any], ...]:
    """(layer types, rule) pairs, most specific first (isinstance, so subclasses match)."""
    from nas.space._keras_layers import PadLastAxis  # zero-pads merges' inputs: free

    return (
        (_classes(keras, "Dense"), _dense),
        (_classes(keras, "SeparableConv1D SeparableConv2D"), _separable_convolution),
        (_classes(keras, "DepthwiseConv1D DepthwiseConv2D"), _depthwise_convolution),
        (
            _classes(keras, "Conv1DTranspose Conv2DTranspose Conv3DTranspose"),
            _transposed_convolution,
        ),
        (_classes(keras, "Conv1D Conv2D Conv3D"), _convolution),
        (_classes(keras, _POOLING), _pooling),
        (_classes(keras, _GLOBAL_POOLING), _per_input_element(1)),
        (_classes(keras, "BatchNormalization Normalization Rescaling"), _per_input_element(2)),
        (_classes(keras, "Activation ReLU LeakyReLU ELU PReLU Softmax"), _activation_layer),
        (_classes(keras, "Add Subtract Multiply Maximum Minimum"), _merge(0)),
        (_classes(keras, "Average"), _merge(1)),
        (_recurrent_types(keras), _recurrent),
        (_classes(keras, "Bidirectional"), _bidirectional),
        ((*_classes(keras, _FREE), PadLastAxis), _free),
    )


# ---------------------------------------------------------------------------------------
# Latency


def inference_latency(
    model: Any,
    sample: Any,
    batch_size: int = 1,
    warmup: int = 5,
    repeats: int = 30,
) -> dict[str, float]:
    """Milliseconds of one inference call on a batch of ``batch_size`` rows.

    The batch is made of the rows of ``sample`` (an array, or a list or dict of arrays
    for several inputs), cycled as needed, converted to tensors once before timing.
    Each repeat times ``model(x, training=False)`` through a ``tf.function`` compiled in
    the warm-up, until its outputs are on the host (``.numpy()``: a GPU's queued kernels
    must finish). Why not ``predict_on_batch``: timed interleaved, 1000 times each, on a
    busy 2-core CPU (a Dense 32-64-10 and a small two-Conv2D model, batch 1), both had the
    same relative spread (IQR about 0.15-0.19 of the median), but ``predict_on_batch`` was
    0.2 ms slower at the median: its data adapter and output conversion in Python, a
    fixed cost of the framework, not of the architecture, that would compress the
    differences between small models. An eager ``model(x)`` was 4-8 times slower and far
    noisier (IQR about the median).

    Returns:
        ``median_ms``, ``iqr_ms`` (interquartile range: the spread, robust to the odd slow
        repeat), ``q1_ms``, ``q3_ms``, ``min_ms``, and ``batch_size`` and ``repeats`` as
        floats.

    Example:
        >>> inference_latency(model, x_test[:1], repeats=50)["median_ms"]
        0.41...
    """
    if batch_size < 1 or warmup < 0 or repeats < 1:
        raise ValueError(
            f"need batch_size >= 1, warmup >= 0 and repeats >= 1, got {batch_size}, "
            f"{warmup}, {repeats}"
        )
    keras = import_keras()
    tf = import_tensorflow()

    batch = keras.tree.map_structure(
        lambda array: tf.constant(_cycled_rows(array, batch_size)), sample
    )
    forward = tf.function(lambda x: model(x, training=False))

    def run_once() -> None:
        keras.tree.map_structure(lambda tensor: tensor.numpy(), forward(batch))

    for _ in range(max(1, warmup)):  # at least once: the first call traces and compiles
        run_once()
    times_ms = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        run_once()
        times_ms.append((time.perf_counter_ns() - start) / 1e6)
    return _summary(times_ms, batch_size)


def _cycled_rows(array: Any, batch_size: int) -> Any:
    import numpy as np

    array = np.asarray(array)
    if array.ndim == 0 or array.shape[0] == 0:
        raise ValueError(f"a sample needs at least one row, got shape {array.shape}")
    return array[np.arange(batch_size) % array.shape[0]]


def _summary(times_ms: list[float], batch_size: int) -> dict[str, float]:
    if len(times_ms) == 1:
        q1 = median = q3 = times_ms[0]
    else:
        q1, median, q3 = statistics.quantiles(times_ms, n=4, method="inclusive")
    return {
        "median_ms": median,
        "iqr_ms": q3 - q1,
        "q1_ms": q1,
        "q3_ms": q3,
        "min_ms": min(times_ms),
        "batch_size": float(batch_size),
        "repeats": float(len(times_ms)),
    }


# ---------------------------------------------------------------------------------------
# Size on disk


def saved_size(model: Any, folder: str | Path) -> int:
    """Bytes of ``model`` saved as ``folder/<model name>.keras`` (the file is kept).

    The ``.keras`` archive holds the weights, the configuration and the optimizer's state
    if compiled with one: the size a user downloads, not just ``4 * num_parameters``.

    Example:
        >>> saved_size(model, tmp_path)
        20542
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model.name}.keras"
    model.save(path)
    return path.stat().st_size


# ---------------------------------------------------------------------------------------
# What a problem asks for


def measure(model: Any, names: Sequence[str], sample: Any) -> dict[str, float]:
    """The measured properties ``names`` of a trained ``model`` (see
    :mod:`nas.problem._objectives`): ``num_parameters``, ``flops``, ``latency_ms``,
    ``latency_ms@N`` (the median of :func:`inference_latency` at batch size 1 or N) and
    ``saved_size`` (bytes of the ``.keras`` file, saved in a temporary folder).

    Args:
        sample: rows of the model's inputs to time inference on (cycled to fill a batch).
    """
    from nas.problem._objectives import latency_batch_size

    values: dict[str, float] = {}
    for name in names:
        if name == "num_parameters":
            values[name] = float(model.count_params())
        elif name == "flops":
            values[name] = float(count_flops(model))
        elif name == "saved_size":
            with tempfile.TemporaryDirectory(prefix="nas-size-") as folder:
                values[name] = float(saved_size(model, folder))
        else:
            batch_size = latency_batch_size(name)
            if batch_size is None:
                raise ValueError(f"{name!r} is not a measured property of a model")
            values[name] = inference_latency(model, sample, batch_size)["median_ms"]
    return values
