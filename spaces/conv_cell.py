"""Convolutional cells for images, in the spirit of NASNet and DARTS.

A stem convolution feeds ``num_cells`` cells. Each cell is a chain of
``nodes_per_cell`` nodes; a node chooses an operation (convolution 3x3 or 5x5,
separable convolution 3x3, max or average pooling 3x3 at stride 1, identity) on the
previous node's output, and adds any of the earlier outputs of its cell (the cell
input included), each a Zero/Connect decision. Between two cells, while the
feature map is at least 2x2, a reduction halves it (a strided convolution or a 2x2
pooling, a decision) and doubles the filters. Global average pooling and a Dense layer
make the output. Every output inside a cell has the cell's number of filters, so the
merges add without projecting.

A pooling reduction cannot change the number of channels, so each reduction is followed
by a :class:`~nas.space.MimeNode` that follows its choice: a 1x1 convolution to the new
width after a pooling, an identity after a strided convolution (which is already there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from nas.space import (
    AddByProjecting,
    ConstantNode,
    Identity,
    Layer,
    MimeNode,
    Node,
    Operation,
    SearchSpace,
    VariableNode,
)

# Every candidate keeps the spatial size (stride 1, "same" padding) so that the outputs
# of a cell can be added; convolutions produce the cell's number of filters.
CELL_OPERATIONS: dict[str, Callable[[int], Operation]] = {
    "conv3x3": lambda filters: Layer(
        "Conv2D", filters=filters, kernel_size=3, padding="same", activation="relu"
    ),
    "conv5x5": lambda filters: Layer(
        "Conv2D", filters=filters, kernel_size=5, padding="same", activation="relu"
    ),
    "separable_conv3x3": lambda filters: Layer(
        "SeparableConv2D", filters=filters, kernel_size=3, padding="same", activation="relu"
    ),
    "max_pool3x3": lambda filters: Layer("MaxPooling2D", pool_size=3, strides=1, padding="same"),
    "average_pool3x3": lambda filters: Layer(
        "AveragePooling2D", pool_size=3, strides=1, padding="same"
    ),
    "identity": lambda filters: Identity(),
}

# Each reduction halves the feature map; the second item says whether the operation
# itself sets the new number of filters (else a 1x1 convolution follows it).
REDUCTION_OPERATIONS: dict[str, tuple[Callable[[int], Operation], bool]] = {
    "conv3x3": (
        lambda filters: Layer(
            "Conv2D", filters=filters, kernel_size=3, strides=2, padding="same", activation="relu"
        ),
        True,
    ),
    "separable_conv3x3": (
        lambda filters: Layer(
            "SeparableConv2D",
            filters=filters,
            kernel_size=3,
            strides=2,
            padding="same",
            activation="relu",
        ),
        True,
    ),
    "max_pool": (lambda filters: Layer("MaxPooling2D", pool_size=2, padding="same"), False),
    "average_pool": (
        lambda filters: Layer("AveragePooling2D", pool_size=2, padding="same"),
        False,
    ),
}


def conv_cell_space(
    input_shape: Sequence[int],
    output_units: int,
    num_cells: int = 3,
    nodes_per_cell: int = 3,
    filters: int = 16,
    operations: Sequence[str] = tuple(CELL_OPERATIONS),
    reduction_operations: Sequence[str] = tuple(REDUCTION_OPERATIONS),
    output_activation: str | None = "softmax",
) -> SearchSpace:
    """The convolutional cell space.

    Args:
        input_shape: shape of one image, ``(height, width, channels)``, e.g. ``(8, 8, 1)``.
        output_units: width of the output layer (classes, or regression targets).
        num_cells: number of cells.
        nodes_per_cell: number of variable nodes in each cell.
        filters: filters of the stem and the first cell; doubled at each reduction.
        operations: candidate operations of a cell node, names from
            :data:`CELL_OPERATIONS`.
        reduction_operations: candidate reductions between cells, names from
            :data:`REDUCTION_OPERATIONS`.
        output_activation: activation of the output layer (``None`` for regression).

    Returns:
        A space with ``num_cells * nodes_per_cell * (nodes_per_cell + 3) / 2`` cell
        decisions (an operation per node, a skip connection from each earlier output of
        the cell), plus one per reduction (there are ``num_cells - 1`` reductions, fewer
        when the image becomes 1x1 first). An operation or reduction list of a single
        name makes no decision.

    Example:
        >>> space = conv_cell_space((8, 8, 1), 10, num_cells=2, nodes_per_cell=2)
        >>> space.choices
        [6, 2, 6, 2, 2, 4, 6, 2, 6, 2, 2]
        >>> model = space.build(space.sample(0))
    """
    _check_positive(
        num_cells=num_cells,
        nodes_per_cell=nodes_per_cell,
        filters=filters,
        output_units=output_units,
    )
    height, width = _check_image_shape(input_shape)
    _check_names("operations", operations, CELL_OPERATIONS)
    _check_names("reduction_operations", reduction_operations, REDUCTION_OPERATIONS)
    space = SearchSpace({"input": tuple(input_shape)}, name="conv_cell")
    stem = Layer("Conv2D", filters=filters, kernel_size=3, padding="same", activation="relu")
    previous: Node = space.add(ConstantNode(stem, name="stem"), space.input())
    cell_filters = filters
    for cell in range(num_cells):
        if cell > 0 and min(height, width) >= 2:
            cell_filters *= 2
            previous = _add_reduction(space, previous, cell, cell_filters, reduction_operations)
            # "same" padding rounds up, so an odd side still ends at 1, never 0.
            height, width = (height + 1) // 2, (width + 1) // 2
        candidates = [CELL_OPERATIONS[name](cell_filters) for name in operations]
        previous = _add_cell(space, previous, cell, nodes_per_cell, candidates)
    pooling = space.add(ConstantNode(Layer("GlobalAveragePooling2D"), "pooling"), previous)
    output = space.add(
        ConstantNode(Layer("Dense", units=output_units, activation=output_activation), "output"),
        pooling,
    )
    space.set_outputs(output)
    return space


def _add_cell(
    space: SearchSpace,
    cell_input: Node,
    cell: int,
    nodes_per_cell: int,
    candidates: list[Operation],
) -> Node:
    """Add one cell after ``cell_input`` and return its output (the last merge)."""
    previous = cell_input
    anchors: list[Node] = [cell_input]
    for index in range(nodes_per_cell):
        prefix = f"cell{cell}_node{index}"
        operation = space.add(VariableNode(candidates, name=prefix), previous)
        merge = space.add(ConstantNode(AddByProjecting(), name=f"{prefix}_merge"), operation)
        # A skip from the node's own input makes a residual around its operation.
        space.add_skip_connections(merge, anchors, prefix=f"{prefix}_skip")
        previous = merge
        anchors.append(merge)
    return previous


def _add_reduction(
    space: SearchSpace, previous: Node, cell: int, filters: int, names: Sequence[str]
) -> Node:
    """Halve the feature map before ``cell`` and bring it to ``filters`` channels."""
    reduction = space.add(
        VariableNode(
            [REDUCTION_OPERATIONS[name][0](filters) for name in names],
            name=f"reduction{cell}",
        ),
        previous,
    )
    channels = [
        Identity()
        if REDUCTION_OPERATIONS[name][1]
        else Layer("Conv2D", filters=filters, kernel_size=1, activation="relu")
        for name in names
    ]
    return space.add(MimeNode(reduction, channels, name=f"reduction{cell}_channels"), reduction)


def _check_image_shape(input_shape: Sequence[int]) -> tuple[int, int]:
    """Return (height, width); the reductions are planned from them, so they must be known."""
    shape = tuple(input_shape) if isinstance(input_shape, Sequence) else ()
    if len(shape) != 3 or not all(
        isinstance(dim, int) and not isinstance(dim, bool) and dim > 0 for dim in shape
    ):
        raise ValueError(
            f"input_shape must be (height, width, channels) of positive ints, got "
            f"{input_shape!r}; add a channel axis to grey images, e.g. (8, 8, 1)"
        )
    return shape[0], shape[1]


def _check_names(argument: str, names: Sequence[str], known: Mapping[str, object]) -> None:
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise ValueError(f"{argument} must be a non-empty list of names, got {names!r}")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown {argument} {unknown}: expected names from {sorted(known)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{argument} {list(names)!r} has duplicate names")


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
