"""Compile a resolved architecture into a Keras functional model.

This is the one place where a space meets Keras layers; errors raised by Keras while
wiring a layer become a SpaceError naming the node, the operation and the shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nas._imports import import_keras
from nas.exceptions import SpaceError

if TYPE_CHECKING:
    from nas.space._search_space import ResolvedArchitecture, SearchSpace


def build_model(
    space: SearchSpace,
    resolved: ResolvedArchitecture,
    preprocessing: Mapping[str, Any] | None = None,
) -> Any:
    """Return a fresh ``keras.Model`` for ``resolved`` (new layers, new weights).

    ``preprocessing``: input name -> a layer applied to that input before the space's
    graph; the model's inputs stay the raw ``Input`` tensors.
    """
    keras = import_keras()
    shapes = {node.name: node.shape for node in space.inputs}
    preprocessing = dict(preprocessing or {})
    unknown = sorted(set(preprocessing) - set(shapes))
    if unknown:
        raise SpaceError(
            f"preprocessing for {unknown}, which are not inputs of space {space.name!r} "
            f"(its inputs: {space.input_names})"
        )
    raw: dict[str, Any] = {}  # input name -> the model's Input tensor
    tensors: dict[str, Any] = {}
    realized: dict[str, Any] = {}  # node name -> callable; mirrors look up their target's
    for step in resolved.steps:
        if step.op is None:
            raw[step.name] = keras.Input(shape=shapes[step.name], name=step.name)
            tensors[step.name] = _preprocessed(raw[step.name], step.name, preprocessing)
            continue
        owner = step.shares or step.name
        if owner not in realized:
            realized[owner] = step.op.realize(owner)
        inputs = [tensors[name] for name in step.inputs]
        shown = ", ".join(f"{n} {_shape(t)}" for n, t in zip(step.inputs, inputs))
        # A mirror fails when its inputs differ from those its target's layers were built
        # for; which widths meet there depends on every choice upstream, so this is found
        # here, per architecture, not when the space is defined.
        shared = (
            f", a mirror of {step.shares!r} reusing its layers and weights" if step.shares else ""
        )
        try:
            output = realized[owner](inputs)
        except SpaceError:
            raise
        except Exception as error:
            raise SpaceError(
                f"node {step.name!r} ({step.op.label}{shared}) cannot take inputs {shown}: "
                f"{_first_line(error)}"
            ) from error
        # Some layers (Activation, Dropout) map over a list of tensors instead of refusing
        # it; the model would silently get a list where one tensor was promised.
        if isinstance(output, (list, tuple, dict)):
            raise SpaceError(
                f"node {step.name!r} ({step.op.label}) returned {len(output)} tensors for "
                f"inputs {shown}; a node must give one tensor: merge its inputs first "
                "(AddByProjecting, AddByPadding, Concatenate)"
            )
        tensors[step.name] = output
    model_inputs = [raw[name] for name in space.input_names]
    model_outputs = [tensors[name] for name in resolved.outputs]
    return keras.Model(
        inputs=model_inputs[0] if len(model_inputs) == 1 else model_inputs,
        outputs=model_outputs[0] if len(model_outputs) == 1 else model_outputs,
        name=space.name,
    )


def _preprocessed(tensor: Any, name: str, preprocessing: Mapping[str, Any]) -> Any:
    """``tensor`` through input ``name``'s preprocessing layer, which must keep its shape
    (the space's layers were made for the input's shape)."""
    layer = preprocessing.get(name)
    if layer is None:
        return tensor
    try:
        output = layer(tensor)
    except Exception as error:
        raise SpaceError(
            f"preprocessing layer {layer.name!r} ({type(layer).__name__}) of input {name!r} "
            f"cannot take {_shape(tensor)}: {_first_line(error)}"
        ) from error
    if isinstance(output, (list, tuple, dict)) or _shape(output) != _shape(tensor):
        shown = type(output).__name__ if isinstance(output, (list, tuple, dict)) else None
        raise SpaceError(
            f"preprocessing layer {layer.name!r} ({type(layer).__name__}) of input {name!r} "
            f"turns {_shape(tensor)} into {shown or _shape(output)}: a preprocessing layer "
            "must keep its input's shape, which the space's layers were made for"
        )
    return output


def _shape(tensor: Any) -> tuple[Any, ...]:
    return tuple(tensor.shape)


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"
