"""Whole-graph checks of a search space, run once before its first use.

Local mistakes (a cycle, a duplicate name, two inputs into an Identity) are caught as
the space is built; what needs the whole graph (outputs, reachability) is checked here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import networkx as nx

from nas.exceptions import SpaceError
from nas.space._nodes import InputNode
from nas.space._operations import Connect, Zero

if TYPE_CHECKING:
    from nas.space._search_space import SearchSpace


def check_space(space: SearchSpace) -> dict[str, Any]:
    """Validate ``space`` and return its build order and output names."""
    graph = space.graph
    outputs = list(space._outputs) or _single_sink(space)
    inputs = set(space.input_names)
    for name, node in space._nodes.items():
        if isinstance(node, InputNode):
            continue
        feeds_itself = all(isinstance(op, (Connect, Zero)) for op in node.candidates)
        if not space._inputs_of[name] and not (feeds_itself and graph.in_degree(name)):
            raise SpaceError(
                f"node {name!r} ({', '.join(map(str, node.candidates)) or type(node).__name__})"
                " has no input: connect a node to it with space.add(node, *inputs) or "
                "space.connect(source, node)"
            )
    for name in outputs:
        if not inputs & nx.ancestors(graph, name):
            raise SpaceError(f"output {name!r} of space {space.name!r} is unreachable from inputs")
    useful = set(outputs).union(*(nx.ancestors(graph, name) for name in outputs))
    useless = [name for name in space._nodes if name not in useful and name not in inputs]
    if useless:
        raise SpaceError(
            f"nodes {useless} of space {space.name!r} lead to no output {outputs}: connect "
            "them or leave them out"
        )
    order = list(nx.lexicographical_topological_sort(graph, key=list(space._nodes).index))
    return {"order": order, "outputs": outputs}


def _single_sink(space: SearchSpace) -> list[str]:
    sinks = [name for name in space._nodes if space.graph.out_degree(name) == 0]
    if len(sinks) != 1:
        raise SpaceError(
            f"space {space.name!r} has {len(sinks)} nodes with no successor {sinks}: declare "
            "the outputs with space.set_outputs(...)"
        )
    return sinks
