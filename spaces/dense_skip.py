"""Dense layers with skip connections, for tabular data (the AgEBO-Tabular space).

Each of ``num_layers`` layers chooses between Identity and a Dense layer (units from
``units``, activation from ``activations``); its output is added, by projection, to any
of the outputs of the previous ``num_anchors`` layers (the input included), each a
Zero/Connect decision. Egele et al., "AgEBO-Tabular", SC21, used 10 layers, 16..96
units in steps of 16, five activations and three anchors: the defaults here.
"""

from __future__ import annotations

from collections.abc import Sequence

from nas.space import (
    AddByProjecting,
    ConstantNode,
    Identity,
    Layer,
    Node,
    SearchSpace,
    VariableNode,
)

DEFAULT_UNITS = (16, 32, 48, 64, 80, 96)
DEFAULT_ACTIVATIONS = (None, "relu", "swish", "tanh", "sigmoid")


def dense_skip_space(
    input_shape: Sequence[int],
    output_units: int,
    num_layers: int = 10,
    units: int | Sequence[int] = DEFAULT_UNITS,
    activations: Sequence[str | None] = DEFAULT_ACTIVATIONS,
    num_anchors: int = 3,
    merge_activation: str | None = "relu",
    output_activation: str | None = "softmax",
    dropout: float = 0.0,
) -> SearchSpace:
    """The dense skip-connection space.

    Args:
        input_shape: shape of one sample, e.g. ``(54,)``.
        output_units: width of the output layer (classes, or regression targets).
        num_layers: number of variable layers.
        units: candidate widths of a Dense layer, or one width (an int: a
            hyperparameter of the problem may set it).
        activations: candidate activations (``None`` for linear).
        num_anchors: how many earlier outputs a layer may take a skip connection from.
        merge_activation: activation applied after adding skip connections.
        output_activation: activation of the output layer (``None`` for regression). A
            :class:`~nas.problem.Problem` whose ``space_kwargs`` leave it out sets the
            activation its loss expects (softmax, sigmoid or linear).
        dropout: rate of a Dropout layer after each layer's merge (0: none); a
            hyperparameter of the problem may set it.

    Returns:
        A space with ``num_layers * (1 + up to num_anchors)`` decisions.

    Example:
        >>> space = dense_skip_space((30,), 2, num_layers=3)
        >>> space.choices
        [31, 2, 31, 2, 2, 31, 2, 2, 2]
    """
    _check_positive(num_layers=num_layers, output_units=output_units, num_anchors=num_anchors)
    units = [units] if isinstance(units, int) and not isinstance(units, bool) else units
    if output_activation == "softmax" and output_units == 1:
        raise ValueError(
            "output_activation 'softmax' on output_units=1 predicts 1.0 whatever the input: "
            "use None (linear) for regression, 'sigmoid' for a binary label"
        )
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
    if not units or not activations:
        raise ValueError(f"units {units!r} and activations {activations!r} must be non-empty")
    space = SearchSpace({"input": tuple(input_shape)}, name="dense_skip")
    previous: Node = space.input()
    anchors: list[Node] = [previous]
    dense_candidates = [Identity()] + [
        Layer("Dense", units=width, activation=activation)
        for width in units
        for activation in activations
    ]
    for index in range(num_layers):
        layer = space.add(VariableNode(dense_candidates, name=f"layer{index}"), previous)
        merge = space.add(
            ConstantNode(AddByProjecting(merge_activation), name=f"merge{index}"), layer
        )
        # A skip from the previous output makes a residual block around this layer.
        space.add_skip_connections(merge, anchors[-num_anchors:], prefix=f"skip{index}")
        if dropout:
            merge = space.add(
                ConstantNode(Layer("Dropout", rate=dropout), name=f"dropout{index}"), merge
            )
        previous = merge
        anchors.append(merge)
    output = space.add(
        ConstantNode(Layer("Dense", units=output_units, activation=output_activation), "output"),
        previous,
    )
    space.set_outputs(output)
    return space


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
