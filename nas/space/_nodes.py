"""Nodes of a search space: what sits at each vertex of the graph.

* :class:`InputNode` — one named input of the model (made by the space).
* :class:`ConstantNode` — one fixed operation.
* :class:`VariableNode` — a categorical choice among operations (a decision, when it
  has two or more candidates).
* :class:`MirrorNode` — applies the very layer chosen for another node (shared weights).
* :class:`MimeNode` — follows another variable node's choice *index* with its own
  operations and weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nas.exceptions import SpaceError
from nas.space._operations import Connect, Operation, Zero, as_operation


class Node:
    """Base class of nodes. ``name`` is unique in its space (given or generated)."""

    def __init__(self, name: str | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise SpaceError(f"a node name must be a non-empty string, got {name!r}")
        self.name: str = name or ""
        self.space: Any = None  # set when the node is added to a space

    @property
    def candidates(self) -> list[Operation]:
        """The operations this node may take (empty for inputs and mirrors)."""
        return []

    @property
    def is_decision(self) -> bool:
        """Whether the node contributes one entry to ``arch_seq``."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class InputNode(Node):
    """A named input of the model, of a given shape (batch axis excluded)."""

    def __init__(self, name: str, shape: tuple[int | None, ...]) -> None:
        super().__init__(name)
        self.shape = shape


class ConstantNode(Node):
    """A node with one fixed operation.

    Example:
        >>> from nas.space import ConstantNode, Layer
        >>> node = ConstantNode(Layer("Dense", units=8), name="hidden")
    """

    def __init__(self, op: Any, name: str | None = None) -> None:
        super().__init__(name)
        self.op = as_operation(op)

    @property
    def candidates(self) -> list[Operation]:
        return [self.op]


class VariableNode(Node):
    """A categorical choice among candidate operations.

    With a single candidate it is not a decision: it is left out of ``arch_seq`` and
    never mutated.

    Example:
        >>> from nas.space import Identity, Layer, VariableNode
        >>> node = VariableNode([Identity(), Layer("Dense", units=16, activation="relu")])
    """

    def __init__(self, ops: Sequence[Any], name: str | None = None) -> None:
        super().__init__(name)
        if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence) or not ops:
            raise SpaceError(
                f"VariableNode {_shown(name)} needs a non-empty list of operations, got {ops!r}"
            )
        self.ops = _candidate_operations(ops, name)

    @property
    def candidates(self) -> list[Operation]:
        return self.ops

    @property
    def is_decision(self) -> bool:
        return len(self.ops) > 1


class MirrorNode(Node):
    """Reuse the layer chosen for another node, with its weights, on this node's input."""

    def __init__(self, node: Node, name: str | None = None) -> None:
        super().__init__(name)
        if not isinstance(node, (ConstantNode, VariableNode, MimeNode)):
            raise SpaceError(
                f"MirrorNode {_shown(name)} must mirror a constant, variable or mime node, "
                f"got {node!r}"
            )
        # A skip connection has no layer to share and no input of its own; a mirror of one
        # would silently ignore the mirror's inputs.
        if any(isinstance(op, Connect) for op in node.candidates):
            raise SpaceError(
                f"MirrorNode {_shown(name)} cannot mirror skip connection {_shown(node.name)} "
                f"({node.candidates}): it has no layer to share; to follow its choice, use "
                "MimeNode(node, [Zero(), Connect(...), ...])"
            )
        self.target = node


class MimeNode(Node):
    """Follow the choice index of a variable node, with operations of its own.

    Example: a decoder layer whose width follows the encoder's choice.
    """

    def __init__(self, node: VariableNode, ops: Sequence[Any], name: str | None = None) -> None:
        super().__init__(name)
        if not isinstance(node, VariableNode):
            raise SpaceError(f"MimeNode {_shown(name)} must follow a VariableNode, got {node!r}")
        if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence) or not ops:
            raise SpaceError(f"MimeNode {_shown(name)} needs a list of operations, got {ops!r}")
        if len(ops) != len(node.ops):
            raise SpaceError(
                f"MimeNode {_shown(name)} has {len(ops)} operations but the node it follows, "
                f"{_shown(node.name)}, has {len(node.ops)}: they must match one to one"
            )
        self.target = node
        self.ops = _candidate_operations(ops, name)

    @property
    def candidates(self) -> list[Operation]:
        return self.ops


def _candidate_operations(ops: Sequence[Any], name: str | None) -> list[Operation]:
    """Wrap the candidates; a skip-connection node holds only Zero and Connect."""
    operations = [as_operation(op) for op in ops]
    kinds = {isinstance(op, Connect) for op in operations if not isinstance(op, Zero)}
    if len(kinds) > 1:
        raise SpaceError(
            f"node {_shown(name)} mixes Connect with other operations {operations}: "
            "a skip-connection node holds only Zero and Connect candidates"
        )
    return operations


def _shown(name: str | None) -> str:
    """A node's name for messages; nodes get generated names only once added."""
    return repr(name) if name else "(unnamed)"
