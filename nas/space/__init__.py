"""Search spaces: graphs of nodes whose choices compile to Keras 3 models.

Example:
    >>> from nas.space import (SearchSpace, ConstantNode, VariableNode, Layer, Identity,
    ...                        Zero, Connect, AddByProjecting)
    >>> space = SearchSpace({"features": (30,)})
    >>> x = space.input("features")
    >>> h = space.add(VariableNode([Identity(), Layer("Dense", units=16, activation="relu")]), x)
    >>> merge = space.add(ConstantNode(AddByProjecting()), h)
    >>> skip = space.add(VariableNode([Zero(), Connect(x)]))
    >>> space.connect(skip, merge)
    >>> out = space.add(ConstantNode(Layer("Dense", units=2, activation="softmax")), merge)
    >>> space.choices
    [2, 2]
"""

from nas.space._architecture import Architecture, SpaceReference, import_object, load_space
from nas.space._merges import AddByPadding, AddByProjecting, Concatenate, Merge
from nas.space._nodes import (
    ConstantNode,
    InputNode,
    MimeNode,
    MirrorNode,
    Node,
    VariableNode,
)
from nas.space._operations import Connect, Identity, Layer, Operation, Zero
from nas.space._search_space import ResolvedArchitecture, SearchSpace, Step

__all__ = [
    "AddByPadding",
    "AddByProjecting",
    "Architecture",
    "Concatenate",
    "Connect",
    "ConstantNode",
    "Identity",
    "InputNode",
    "Layer",
    "Merge",
    "MimeNode",
    "MirrorNode",
    "Node",
    "Operation",
    "ResolvedArchitecture",
    "SearchSpace",
    "SpaceReference",
    "Step",
    "VariableNode",
    "Zero",
    "import_object",
    "load_space",
]
