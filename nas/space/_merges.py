"""Merge operations: combine the live inputs of a node into one tensor.

Merges work on tensors of any rank (dense ``(batch, width)``, sequences
``(batch, steps, width)``, images ``(batch, height, width, channels)``): they combine
along the last axis, and every other axis must agree. A merge with a single live input
passes it through unchanged; with none, the node is dead. A tensor that reaches a merge
twice (a skip connection from the node that is already its main path) is merged twice:
an ``Add`` of ``x`` and ``skip(x)`` gives ``2x``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nas._imports import import_keras
from nas.space._operations import Operation, Realized, Tensor


class Merge(Operation):
    """Base of merges; subclasses implement :meth:`_combine` for two or more inputs."""

    def __init__(self, activation: str | None = None) -> None:
        self.activation = activation

    @property
    def label(self) -> str:  # type: ignore[override]
        suffix = f", {self.activation}" if self.activation else ""
        return f"{type(self).__name__}({suffix.lstrip(', ')})"

    def realize(self, name: str) -> Realized:
        layers: dict[str, Any] = {}  # made on first call, reused when mirrored

        def merge(inputs: Sequence[Tensor]) -> Tensor:
            if len(inputs) == 1:
                return inputs[0]
            _check_leading_axes(inputs)
            merged = self._combine(inputs, name, layers)
            if self.activation:
                if "activation" not in layers:
                    layers["activation"] = _activation_layer(self.activation, name)
                merged = layers["activation"](merged)
            return merged

        return merge

    def _combine(self, inputs: Sequence[Tensor], name: str, layers: dict[str, Any]) -> Tensor:
        raise NotImplementedError


class Concatenate(Merge):
    """Concatenate the inputs along the last axis."""

    def _combine(self, inputs: Sequence[Tensor], name: str, layers: dict[str, Any]) -> Tensor:
        if "concatenate" not in layers:
            layers["concatenate"] = import_keras().layers.Concatenate(axis=-1, name=name)
        return layers["concatenate"](list(inputs))


class AddByPadding(Merge):
    """Add the inputs after zero-padding their last axis to the widest one."""

    def _combine(self, inputs: Sequence[Tensor], name: str, layers: dict[str, Any]) -> Tensor:
        from nas.space._keras_layers import PadLastAxis

        keras = import_keras()
        width = max(_width(tensor) for tensor in inputs)
        padded = []
        for index, tensor in enumerate(inputs):
            if _width(tensor) < width:
                # A mirror reuses these layers on inputs of other widths. Padding has no
                # weights to share, so each target width gets a layer of its own.
                key = f"pad{index}_to{width}"
                if key not in layers:
                    taken = any(other.startswith(f"pad{index}_") for other in layers)
                    suffix = f"_to{width}" if taken else ""  # Keras needs unique names
                    layers[key] = PadLastAxis(width, name=f"{name}_pad{index}{suffix}")
                tensor = layers[key](tensor)
            padded.append(tensor)
        if "add" not in layers:
            layers["add"] = keras.layers.Add(name=name)
        return layers["add"](padded)


class AddByProjecting(Merge):
    """Add the inputs after projecting each to the width of the **first** live input.

    The first input is the node's main path (the node it was added after), so skip
    connections never change the width the next layer sees. An input of another width
    goes through a bias-free linear projection (``Dense(width, use_bias=False)`` on the
    last axis); inputs already of that width are added as they are.
    """

    def _combine(self, inputs: Sequence[Tensor], name: str, layers: dict[str, Any]) -> Tensor:
        keras = import_keras()
        width = _width(inputs[0])
        projected = [inputs[0]]
        for index, tensor in enumerate(inputs[1:], start=1):
            if _width(tensor) != width:
                key = f"projection{index}"
                if key not in layers:
                    layers[key] = keras.layers.Dense(
                        width, use_bias=False, name=f"{name}_projection{index}"
                    )
                tensor = layers[key](tensor)
            projected.append(tensor)
        if "add" not in layers:
            layers["add"] = keras.layers.Add(name=name)
        return layers["add"](projected)


def _activation_layer(activation: str, name: str) -> Any:
    """The layer applying a merge's ``activation`` to the sum.

    ``relu`` is built as ``LeakyReLU(negative_slope=0)``: the same values and the same
    gradient (0 at and below 0). The reason is TensorFlow 2.21's oneDNN graph rewrite,
    which fuses a Dense layer, the Add and a ``Relu`` into one op, fails on it and logs
    an error per compiled function (``tfg_optimizer_hook ... has an empty op name``),
    leaving that function unoptimised; a ``LeakyRelu`` is not fused that way. (``relu6``
    and ``elu`` trip the same rewrite; the spaces of nas do not merge with them.)
    """
    keras = import_keras()
    if activation == "relu":
        return keras.layers.LeakyReLU(negative_slope=0.0, name=f"{name}_activation")
    return keras.layers.Activation(activation, name=f"{name}_activation")


def _width(tensor: Tensor) -> int:
    return int(tensor.shape[-1])


def _check_leading_axes(inputs: Sequence[Tensor]) -> None:
    """Merging along the last axis needs the same rank and the same other axes."""
    shapes = [tuple(tensor.shape) for tensor in inputs]
    ranks = {len(shape) for shape in shapes}
    if len(ranks) > 1:
        raise ValueError(f"inputs have different ranks {sorted(ranks)}")
    leading = {shape[1:-1] for shape in shapes}
    if len(leading) > 1:
        raise ValueError(
            "inputs differ on an axis other than the last: "
            + ", ".join(str(axes) for axes in sorted(leading, key=str))
        )
