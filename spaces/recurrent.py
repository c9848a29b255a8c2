"""Stacked recurrent layers with skip connections, for time-series forecasting.

The input is a window of ``lookback`` steps of ``features`` values. Each of
``num_layers`` layers chooses between Identity and a recurrent layer (LSTM or GRU,
units from ``units``) that returns the whole sequence; its output is added, by
projection, to any of the outputs of the previous ``num_anchors`` layers (the input
included), each a Zero/Connect decision. A last decision turns the sequence into one
vector: a recurrent layer that returns its last step, the average over time, or the
flattened sequence. A Dense layer of ``output_units`` (the forecast horizon) follows.
"""

from __future__ import annotations

from collections.abc import Sequence

from nas.space import (
    AddByProjecting,
    ConstantNode,
    Identity,
    Layer,
    Node,
    Operation,
    SearchSpace,
    VariableNode,
)

DEFAULT_UNITS = (16, 32, 64)
LAYER_TYPES = ("LSTM", "GRU", "SimpleRNN")
READOUTS = ("last_step", "average", "flatten")


def recurrent_space(
    input_shape: Sequence[int],
    output_units: int,
    num_layers: int = 3,
    units: Sequence[int] = DEFAULT_UNITS,
    layer_types: Sequence[str] = ("LSTM", "GRU"),
    num_anchors: int = 3,
    readouts: Sequence[str] = READOUTS,
    merge_activation: str | None = None,
    output_activation: str | None = None,
) -> SearchSpace:
    """The stacked recurrent space.

    Args:
        input_shape: shape of one window, ``(lookback, features)``, e.g. ``(24, 3)``.
        output_units: width of the output layer (the forecast horizon).
        num_layers: number of variable recurrent layers.
        units: candidate numbers of units of a recurrent layer.
        layer_types: candidate recurrent layers, names from :data:`LAYER_TYPES`.
        num_anchors: how many earlier outputs a layer may take a skip connection from.
        readouts: candidate ways to turn the last sequence into a vector, names from
            :data:`READOUTS`: ``"last_step"`` (one candidate per layer type and units,
            with ``return_sequences=False``), ``"average"`` (global average pooling over
            time) and ``"flatten"``.
        merge_activation: activation applied after adding skip connections.
        output_activation: activation of the output layer (``None`` for regression).

    Returns:
        A space with ``num_layers`` layer decisions of
        ``1 + len(layer_types) * len(units)`` candidates, a skip decision from each of
        the previous ``num_anchors`` outputs of every layer, and one readout decision.

    Example:
        >>> space = recurrent_space((24, 3), 6, num_layers=2)
        >>> space.choices
        [7, 2, 7, 2, 2, 8]
        >>> model = space.build(space.sample(0))
    """
    _check_positive(num_layers=num_layers, output_units=output_units, num_anchors=num_anchors)
    _check_sequence_shape(input_shape)
    _check_list("units", units, allowed=None)
    _check_list("layer_types", layer_types, allowed=LAYER_TYPES)
    _check_list("readouts", readouts, allowed=READOUTS)
    space = SearchSpace({"input": tuple(input_shape)}, name="recurrent")
    previous: Node = space.input()
    anchors: list[Node] = [previous]
    sequence_candidates = [Identity()] + _recurrent(layer_types, units, return_sequences=True)
    for index in range(num_layers):
        layer = space.add(VariableNode(sequence_candidates, name=f"layer{index}"), previous)
        merge = space.add(
            ConstantNode(AddByProjecting(merge_activation), name=f"merge{index}"), layer
        )
        # A skip from the previous output makes a residual block around this layer.
        space.add_skip_connections(merge, anchors[-num_anchors:], prefix=f"skip{index}")
        previous = merge
        anchors.append(merge)
    readout = space.add(VariableNode(_readouts(readouts, layer_types, units), "readout"), previous)
    output = space.add(
        ConstantNode(Layer("Dense", units=output_units, activation=output_activation), "output"),
        readout,
    )
    space.set_outputs(output)
    return space


def _recurrent(
    layer_types: Sequence[str], units: Sequence[int], return_sequences: bool
) -> list[Operation]:
    return [
        Layer(layer_type, units=width, return_sequences=return_sequences)
        for layer_type in layer_types
        for width in units
    ]


def _readouts(
    names: Sequence[str], layer_types: Sequence[str], units: Sequence[int]
) -> list[Operation]:
    candidates: list[Operation] = []
    for name in names:
        if name == "last_step":
            candidates += _recurrent(layer_types, units, return_sequences=False)
        elif name == "average":
            candidates.append(Layer("GlobalAveragePooling1D"))
        else:
            candidates.append(Layer("Flatten"))
    return candidates


def _check_sequence_shape(input_shape: Sequence[int]) -> None:
    # Flatten needs a known number of steps, so the lookback must be fixed.
    shape = tuple(input_shape) if isinstance(input_shape, Sequence) else ()
    if len(shape) != 2 or not all(
        isinstance(dim, int) and not isinstance(dim, bool) and dim > 0 for dim in shape
    ):
        raise ValueError(
            f"input_shape must be (lookback, features) of positive ints, got {input_shape!r}; "
            "a univariate series has one feature, e.g. (24, 1)"
        )


def _check_list(argument: str, values: Sequence[object], allowed: Sequence[str] | None) -> None:
    """Non-empty, no duplicates, and names from ``allowed`` (positive ints when None)."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{argument} must be a non-empty list, got {values!r}")
    if allowed is None:
        bad = [v for v in values if not isinstance(v, int) or isinstance(v, bool) or v < 1]
        expected = "positive ints"
    else:
        bad = [v for v in values if v not in allowed]
        expected = f"names from {list(allowed)}"
    if bad:
        raise ValueError(
            f"{argument} {list(values)!r} has invalid entries {bad}: expected {expected}"
        )
    if len(set(values)) != len(values):
        raise ValueError(f"{argument} {list(values)!r} has duplicate entries")


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
