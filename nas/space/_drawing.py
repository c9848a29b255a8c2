"""Drawings of a space or of one architecture, as Graphviz DOT text and images.

The whole space shows every node with its candidates: solid edges carry data, dashed
edges are possible skip connections, dotted edges link a mirror or mime node to the
node it follows. An architecture shows only its live layers, each with its chosen
operation. Images are rendered by Graphviz's ``dot`` program.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pydot

from nas.space._nodes import InputNode, MirrorNode, Node

if TYPE_CHECKING:
    from nas.space._search_space import SearchSpace

_MAX_CANDIDATES_SHOWN = 6
_EDGE_STYLES = {"data": "solid", "skip": "dashed", "mirror": "dotted", "mime": "dotted"}
_FORMATS = (".png", ".svg", ".pdf", ".dot")


def to_dot(space: SearchSpace, arch_seq: Sequence[int] | None = None) -> str:
    """Graphviz DOT text of ``space``, or of the architecture ``arch_seq``."""
    graph = _space_graph(space) if arch_seq is None else _architecture_graph(space, arch_seq)
    return str(graph.to_string())


def draw(space: SearchSpace, path: str | Path, arch_seq: Sequence[int] | None = None) -> Path:
    """Write a drawing of ``space`` (or ``arch_seq``) to ``path``; the suffix picks the format."""
    path = Path(path)
    if path.suffix not in _FORMATS:
        raise ValueError(f"cannot draw to {str(path)!r}: expected a suffix among {_FORMATS}")
    text = to_dot(space, arch_seq)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".dot":
        path.write_text(text)
        return path
    if shutil.which("dot") is None:
        raise RuntimeError(
            "drawing to an image needs Graphviz's 'dot' program: apt-get install graphviz "
            "(or conda install graphviz); writing a .dot file needs nothing"
        )
    (graph,) = pydot.graph_from_dot_data(text)
    path.write_bytes(graph.create(format=path.suffix[1:]))
    return path


def _new_graph(title: str) -> pydot.Dot:
    graph = pydot.Dot(graph_type="digraph", rankdir="TB", label=title, labelloc="t")
    graph.set_node_defaults(shape="box", style="rounded,filled", fontname="Helvetica")
    graph.set_edge_defaults(fontname="Helvetica")
    return graph


def _space_graph(space: SearchSpace) -> pydot.Dot:
    graph = _new_graph(
        f"{space.name}: {len(space.choices)} decisions, {space.size:.3g} architectures"
    )
    for node in space.nodes:
        graph.add_node(
            pydot.Node(_quote(node.name), label=_quote(_node_label(node)), fillcolor=_color(node))
        )
    for source, target, data in space.graph.edges(data=True):
        for kind in sorted(data["kinds"]):
            graph.add_edge(pydot.Edge(_quote(source), _quote(target), style=_EDGE_STYLES[kind]))
    return graph


def _architecture_graph(space: SearchSpace, arch_seq: Sequence[int]) -> pydot.Dot:
    resolved = space.resolve(arch_seq)
    graph = _new_graph(f"{space.name} {list(arch_seq)}")
    for step in resolved.steps:
        if step.op is None:
            label, color = f"{step.name}\n{space.input(step.name).shape}", "lightblue"
        else:
            shared = f"\n(shares {step.shares})" if step.shares else ""
            label, color = f"{step.name}\n{step.op.label}{shared}", "white"
        if step.name in resolved.outputs:
            color = "palegreen"
        graph.add_node(pydot.Node(_quote(step.name), label=_quote(label), fillcolor=color))
        for source in step.inputs:
            graph.add_edge(pydot.Edge(_quote(source), _quote(step.name)))
    return graph


def _node_label(node: Node) -> str:
    if isinstance(node, InputNode):
        return f"{node.name}\ninput {node.shape}"
    if isinstance(node, MirrorNode):
        return f"{node.name}\nmirror of {node.target.name}"
    labels = [op.label for op in node.candidates]
    if len(labels) > _MAX_CANDIDATES_SHOWN:
        hidden = len(labels) - _MAX_CANDIDATES_SHOWN
        labels = labels[:_MAX_CANDIDATES_SHOWN] + [f"... {hidden} more"]
    return node.name + "\n" + "\n".join(labels)


def _color(node: Node) -> str:
    if isinstance(node, InputNode):
        return "lightblue"
    return "lightyellow" if node.is_decision else "white"


def _quote(text: str) -> str:
    """DOT identifiers and labels with spaces, brackets or newlines need quoting."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
