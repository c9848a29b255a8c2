"""Whole-graph checks of a search space, run once before its first use.

Local mistakes (a cycle, a duplicate name, two inputs into an Identity, a Dense or a
mirror of one, a mirror of a skip connection) are caught as the space is built; what
needs the whole graph (outputs, reachability) is checked here.

Two kinds of mistakes depend on the choices of one architecture, so they are found per
``arch_seq``, not here:

* an output that the architecture switches off (every path to it is Zero): found from
  the graph alone by ``space.why_invalid(arch_seq)`` (so a search can avoid it), and
  refused by ``resolve`` and ``build``;
* shapes that do not fit a layer (a mirror applying its target's weights to inputs of
  another width, or a layer given tensors it cannot take), which ``build(arch_seq)``
  reports with a SpaceError naming the node, the operation and the input shapes. The
  widths that meet at a node depend on every choice upstream, so checking them here
  would mean resolving all ``space.size`` architectures, or reimplementing Keras' shape
  rules for every layer (convolutions, custom layers), or rejecting spaces where only
  some architectures fail (a search records those as failed evaluations with the
  message).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import networkx as nx

from nas.exceptions import SpaceError
from nas.space._operations import Connect

if TYPE_CHECKING:
    from nas.space._search_space import SearchSpace


def check_space(space: SearchSpace) -> dict[str, Any]:
    """Validate ``space`` and return its build order and output names."""
    graph = space.graph
    outputs = list(space._outputs) or _single_sink(space)
    inputs = set(space.input_names)
    orphans = [name for name in space._nodes if name not in inputs and _has_no_input(space, name)]
    for name in outputs:
        if not inputs & (nx.ancestors(graph, name) | {name}):
            cut_off = [orphan for orphan in orphans if orphan in nx.ancestors(graph, name)]
            raise SpaceError(
                f"output {name!r} of space {space.name!r} is unreachable from the inputs "
                f"{sorted(inputs)}: the nodes it comes from, {cut_off or [name]}, have no input"
            )
    for name in orphans:
        node = space._nodes[name]
        raise SpaceError(
            f"node {name!r} ({', '.join(map(str, node.candidates)) or type(node).__name__}) "
            "has no input: feed it with space.add(node, *inputs) or space.connect(source, node)"
        )
    useful = set(outputs).union(*(nx.ancestors(graph, name) for name in outputs))
    useless = [name for name in space._nodes if name not in useful and name not in inputs]
    if useless:
        raise SpaceError(
            f"nodes {useless} of space {space.name!r} lead to no output {outputs}: connect "
            "them or leave them out"
        )
    order = list(nx.lexicographical_topological_sort(graph, key=list(space._nodes).index))
    return {"order": order, "outputs": outputs}


def _has_no_input(space: SearchSpace, name: str) -> bool:
    """A node needs a data input, unless it is a skip connection (its source is chosen)."""
    node = space._nodes[name]
    if space._inputs_of[name]:
        return False
    # Skip-connection nodes hold only Zero and Connect (checked when they are made).
    return not any(isinstance(op, Connect) for op in node.candidates)


def _single_sink(space: SearchSpace) -> list[str]:
    sinks = [name for name in space._nodes if space.graph.out_degree(name) == 0]
    if len(sinks) != 1:
        raise SpaceError(
            f"space {space.name!r} has {len(sinks)} nodes with no successor {sinks}: declare "
            "the outputs with space.set_outputs(...)"
        )
    return sinks
