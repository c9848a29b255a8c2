"""The search space: a directed acyclic graph of nodes that compiles to Keras models."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from nas.exceptions import SpaceError
from nas.space._merges import Merge
from nas.space._nodes import (
    InputNode,
    MimeNode,
    MirrorNode,
    Node,
    VariableNode,
)
from nas.space._operations import Connect, Identity, Operation, Zero

if TYPE_CHECKING:
    from nas.space._architecture import Architecture, SpaceReference


@dataclass(frozen=True)
class Step:
    """One layer or merge of a chosen architecture, after resolving choices.

    ``inputs`` name the steps whose outputs it takes; ``shares`` names the node whose
    realization (and so whose weights) it reuses, for mirror nodes.
    """

    name: str
    op: Operation | None  # None for an input
    inputs: tuple[str, ...]
    shares: str | None = None


@dataclass(frozen=True)
class ResolvedArchitecture:
    """The live steps of an architecture in build order, and its output steps."""

    steps: tuple[Step, ...]
    outputs: tuple[str, ...]


class SearchSpace:
    """A space of neural architectures, as a graph of nodes.

    Args:
        inputs: the model inputs, as ``{name: shape}`` (batch axis excluded), or a
            single shape for a model with one input named ``"input"``.
        name: the name of the models built.

    An architecture is an ``arch_seq``: a list of ints, one per decision (a variable
    node with two or more candidates), in the order the nodes were added.

    Example:
        >>> from nas.space import SearchSpace, VariableNode, ConstantNode, Layer, Identity
        >>> space = SearchSpace({"x": (8,)})
        >>> hidden = VariableNode([Identity(), Layer("Dense", units=4)])
        >>> space.add(hidden, space.input("x"))
        >>> out = space.add(ConstantNode(Layer("Dense", units=1)), hidden)
        >>> space.choices, space.size
        ([2], 2)
        >>> model = space.build([1])
    """

    def __init__(
        self,
        inputs: Mapping[str, Sequence[int | None]] | Sequence[int | None],
        name: str = "space",
    ) -> None:
        if not isinstance(inputs, Mapping):
            inputs = {"input": inputs}
        if not inputs:
            raise SpaceError("a search space needs at least one input shape")
        self.name = name
        self.reference: SpaceReference | None = None  # set by load_space
        self.graph = nx.DiGraph()  # data, skip-connection and mirror dependencies
        self._nodes: dict[str, Node] = {}
        self._inputs_of: dict[str, list[str]] = {}
        self._outputs: list[str] = []
        self._cache: dict[str, Any] = {}
        for input_name, shape in inputs.items():
            self._insert(InputNode(input_name, _check_shape(input_name, shape)))

    # -- construction ---------------------------------------------------------------

    def add(self, node: Node, *inputs: Node) -> Node:
        """Add ``node`` to the space, fed by ``inputs`` (in order), and return it."""
        if not isinstance(node, Node) or isinstance(node, InputNode):
            raise SpaceError(f"add() expects a ConstantNode, VariableNode, ... got {node!r}")
        if node.space is not None:
            raise SpaceError(f"node {node.name!r} was already added to a space")
        if not node.name:
            node.name = f"{type(node).__name__.removesuffix('Node').lower()}_{len(self._nodes)}"
        for dependency in _dependencies(node):
            self._check_member(dependency, f"a dependency of node {node.name!r}")
        self._insert(node)
        for dependency, kind in _dependencies(node).items():
            self._add_edge(dependency, node, kind)
        for source in inputs:
            self.connect(source, node)
        return node

    def connect(self, source: Node, target: Node) -> None:
        """Feed the output of ``source`` into ``target`` (appended to its inputs)."""
        self._check_member(source, "the source of a connection")
        self._check_member(target, "the target of a connection")
        if isinstance(target, InputNode):
            raise SpaceError(f"input {target.name!r} cannot take inputs")
        if any(isinstance(op, Connect) for op in target.candidates):
            raise SpaceError(
                f"node {target.name!r} is a skip connection ({target.candidates}): its source "
                f"is chosen by its Connect candidates, it takes no input from {source.name!r}"
            )
        if source.name in self._inputs_of[target.name]:
            raise SpaceError(f"node {source.name!r} already feeds node {target.name!r}")
        self._check_acyclic(source, target, "data")  # the deeper mistake is reported first
        # A mirror applies the operation chosen for its target, so its target's candidates
        # are the ones that must accept this input.
        mirrored = target.target if isinstance(target, MirrorNode) else None
        one_input = next(
            (op for op in (mirrored or target).candidates if op.takes_one_input), None
        )
        if self._inputs_of[target.name] and one_input is not None:
            article = "an" if one_input.label[:1] in "AEIOU" else "a"
            raise SpaceError(
                f"node {target.name!r}"
                + (f" (a mirror of {mirrored.name!r})" if mirrored else "")
                + f" has {article} {one_input.label} candidate, which takes one input; it "
                f"already has {self._inputs_of[target.name]} and cannot also take "
                f"{source.name!r}: feed them through a merge node (AddByProjecting, Concatenate)"
            )
        self._add_edge(source, target, "data")
        self._inputs_of[target.name].append(source.name)

    def add_skip_connections(
        self, target: Node, sources: Sequence[Node], prefix: str | None = None
    ) -> list[Node]:
        """Add one optional skip connection from each of ``sources`` into ``target``.

        Each is a decision between ``Zero()`` (no edge) and ``Connect(source)``, named
        ``<prefix>_from_<source>``; ``target`` is usually a merge node.

        Returns:
            The skip-connection nodes, in the order of ``sources``.
        """
        prefix = prefix or f"{target.name}_skip"
        skips = []
        for source in sources:
            skip = self.add(
                VariableNode([Zero(), Connect(source)], f"{prefix}_from_{source.name}")
            )
            self.connect(skip, target)
            skips.append(skip)
        return skips

    def set_outputs(self, *nodes: Node) -> None:
        """Declare the output nodes, in the order the model returns them."""
        for node in nodes:
            self._check_member(node, "an output")
        self._outputs = [node.name for node in nodes]
        self._cache.clear()

    # -- what a search sees -----------------------------------------------------------

    @property
    def inputs(self) -> list[InputNode]:
        """The input nodes, in declaration order."""
        return [node for node in self._nodes.values() if isinstance(node, InputNode)]

    @property
    def input_names(self) -> list[str]:
        """The names of the model's inputs, in order."""
        return [node.name for node in self.inputs]

    def input(self, name: str | None = None) -> InputNode:
        """The input node called ``name`` (optional when there is one input)."""
        inputs = {node.name: node for node in self.inputs}
        if name is None and len(inputs) == 1:
            return next(iter(inputs.values()))
        if name not in inputs:
            raise SpaceError(f"no input named {name!r}; the inputs are {sorted(inputs)}")
        return inputs[name]

    @property
    def nodes(self) -> list[Node]:
        """All nodes, in the order they were added."""
        return list(self._nodes.values())

    @property
    def outputs(self) -> list[Node]:
        """The output nodes (the single sink when none were declared)."""
        return [self._nodes[name] for name in self._checked()["outputs"]]

    @property
    def decisions(self) -> list[Node]:
        """The variable nodes with two or more candidates, in ``arch_seq`` order."""
        self._checked()  # a search must never see the decisions of a malformed space
        return [node for node in self._nodes.values() if node.is_decision]

    @property
    def choices(self) -> list[int]:
        """The number of candidates of each decision, in ``arch_seq`` order."""
        return [len(node.candidates) for node in self.decisions]

    @property
    def size(self) -> int:
        """The exact number of distinct ``arch_seq`` (a Python int; may be huge)."""
        return math.prod(self.choices)

    def sample(self, rng: np.random.Generator | int | None = None) -> list[int]:
        """A uniformly random ``arch_seq``."""
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return [int(generator.integers(count)) for count in self.choices]

    def validate_arch(self, arch_seq: Sequence[Any]) -> list[int]:
        """Return ``arch_seq`` as a list of ints, or raise a SpaceError naming the problem."""
        choices = self.choices
        if isinstance(arch_seq, (str, bytes)) or not isinstance(arch_seq, (Sequence, np.ndarray)):
            raise SpaceError(f"arch_seq must be a list of ints, got {arch_seq!r}")
        if len(arch_seq) != len(choices):
            raise SpaceError(
                f"arch_seq has {len(arch_seq)} entries but space {self.name!r} has "
                f"{len(choices)} decisions"
            )
        checked = []
        for position, (value, node) in enumerate(zip(arch_seq, self.decisions)):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise SpaceError(
                    f"arch_seq[{position}] (node {node.name!r}) must be an int, got {value!r}"
                )
            if not 0 <= value < len(node.candidates):
                raise SpaceError(
                    f"arch_seq[{position}] = {value} is out of range for node {node.name!r}, "
                    f"which has {len(node.candidates)} candidates (0..{len(node.candidates) - 1})"
                )
            checked.append(int(value))
        return checked

    # -- compiling an architecture ------------------------------------------------------

    def resolve(self, arch_seq: Sequence[int]) -> ResolvedArchitecture:
        """Resolve the choices of ``arch_seq`` into the live layers, in build order.

        Identity, Connect and single-input merges become aliases; Zero and everything
        fed only by dead paths disappear; steps that reach no output are pruned. A
        tensor that reaches a node more than once (a skip connection from the node that
        is already its main path, through an Identity or a Connect) is taken as many
        times: ``x + skip(x)`` is ``2x``, as the graph says.

        Raises:
            SpaceError: for an ``arch_seq`` not of this space, or one that
                :meth:`why_invalid` refuses.
        """
        alias, steps = self._trace(arch_seq)
        reason = self._switched_off(arch_seq, alias)
        if reason is not None:
            raise SpaceError(reason)
        # Every output has a producer: _switched_off found none without.
        outputs = tuple(str(alias[name]) for name in self._checked()["outputs"])
        return ResolvedArchitecture(_prune(steps, outputs), outputs)

    def why_invalid(self, arch_seq: Sequence[int]) -> str | None:
        """Why ``arch_seq`` can never be built, or None; found from the graph, without Keras.

        An architecture is invalid when it switches every path to an output off (each
        is cut by a ``Zero``), so that output has no input. Whether the layers accept
        the shapes that meet at them is not checked: that needs Keras, and
        :meth:`build` reports it.

        Raises:
            SpaceError: for an ``arch_seq`` that is not one of this space (see
                :meth:`validate_arch`): a wrong list is a mistake, not an architecture.

        Example:
            >>> space.why_invalid([0])  # the only path to the output is Zero
            "arch_seq [0] leaves output 'out' of space 'space' with no input: ..."
        """
        alias, _ = self._trace(arch_seq)
        return self._switched_off(arch_seq, alias)

    def is_valid(self, arch_seq: Sequence[int]) -> bool:
        """Whether ``arch_seq`` leaves every output an input (see :meth:`why_invalid`).

        A search given it (``search.set_validity(space.is_valid)``) never proposes an
        architecture that could not be built.
        """
        return self.why_invalid(arch_seq) is None

    def _trace(self, arch_seq: Sequence[int]) -> tuple[dict[str, str | None], dict[str, Step]]:
        """For each node, the step producing its tensor (None: dead); and the steps."""
        chosen = dict(zip((node.name for node in self.decisions), self.validate_arch(arch_seq)))
        alias: dict[str, str | None] = {}  # node -> the step producing its tensor, or None
        steps: dict[str, Step] = {}
        for name in self._checked()["order"]:
            node = self._nodes[name]
            if isinstance(node, InputNode):
                steps[name] = Step(name, None, ())
                alias[name] = name
                continue
            op, shares = self._chosen_operation(node, chosen)
            live = tuple(a for a in map(alias.get, self._inputs_of[name]) if a)
            if isinstance(op, Connect):
                alias[name] = alias[op.source.name]
            elif isinstance(op, Zero) or not live:
                alias[name] = None
            elif isinstance(op, Identity) or (isinstance(op, Merge) and len(live) == 1):
                alias[name] = live[0]
            else:
                steps[name] = Step(name, op, live, shares)
                alias[name] = name
        return alias, steps

    def _switched_off(
        self, arch_seq: Sequence[int], alias: Mapping[str, str | None]
    ) -> str | None:
        """The message of an output with no input under ``alias``, or None."""
        for name in self._checked()["outputs"]:
            if alias[name] is None:
                return (
                    f"arch_seq {list(arch_seq)} leaves output {name!r} of space {self.name!r} "
                    "with no input: every path to it is switched off (Zero)"
                )
        return None

    def build(
        self, arch_seq: Sequence[int], preprocessing: Mapping[str, Any] | None = None
    ) -> Any:
        """Build a fresh ``keras.Model`` for ``arch_seq`` (new layers and weights).

        Args:
            arch_seq: one choice index per decision.
            preprocessing: input name -> a Keras layer applied between that ``Input``
                and the space's graph (a problem's preprocessing, see
                :meth:`nas.problem.Problem.preprocessing_layers`): the model then takes
                raw inputs. The layers are used as given, so pass fresh ones per model.
                It does not change :meth:`arch_hash`.
        """
        from nas.space._build import build_model

        return build_model(self, self.resolve(arch_seq), preprocessing)

    def arch_hash(self, arch_seq: Sequence[int]) -> str:
        """A stable hash of the model ``arch_seq`` builds (same structure, same hash).

        It hashes the resolved structure, so two ``arch_seq`` that build the same model
        (say, a skip connection from a switched-off node) share a hash.
        """
        resolved = self.resolve(arch_seq)
        shapes = {node.name: node.shape for node in self.inputs}
        structure = [
            [s.name, s.op.signature() if s.op else shapes[s.name], s.inputs, s.shares]
            for s in resolved.steps
        ]
        text = json.dumps([structure, resolved.outputs], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def architecture(self, arch_seq: Sequence[int]) -> Architecture:
        """The JSON-able :class:`Architecture` of ``arch_seq`` (needs ``load_space``)."""
        from nas.space._architecture import Architecture

        return Architecture.of(self, arch_seq)

    # -- drawing ------------------------------------------------------------------------

    def to_dot(self, arch_seq: Sequence[int] | None = None) -> str:
        """Graphviz DOT text of the whole space, or of the architecture ``arch_seq``."""
        from nas.space._drawing import to_dot

        return to_dot(self, arch_seq)

    def draw(self, path: str | Path, arch_seq: Sequence[int] | None = None) -> Path:
        """Draw the space (or ``arch_seq``) to ``path``: .png, .svg, .pdf or .dot."""
        from nas.space._drawing import draw

        return draw(self, path, arch_seq)

    # -- internals ------------------------------------------------------------------------

    def _insert(self, node: Node) -> None:
        if node.name in self._nodes:
            raise SpaceError(f"space {self.name!r} already has a node named {node.name!r}")
        node.space = self
        self._nodes[node.name] = node
        self._inputs_of[node.name] = []
        self.graph.add_node(node.name, node=node)
        self._cache.clear()

    def _check_member(self, node: Node, role: str) -> None:
        if not isinstance(node, Node) or self._nodes.get(node.name) is not node:
            raise SpaceError(f"{role} ({node!r}) is not a node of space {self.name!r}")

    def _check_acyclic(self, source: Node, target: Node, kind: str) -> None:
        if nx.has_path(self.graph, target.name, source.name):
            cycle = nx.shortest_path(self.graph, target.name, source.name)
            raise SpaceError(
                f"connecting {source.name!r} -> {target.name!r} ({kind}) would make a cycle "
                f"through {' -> '.join(cycle)}"
            )

    def _add_edge(self, source: Node, target: Node, kind: str) -> None:
        self._check_acyclic(source, target, kind)
        kinds = (
            self.graph.edges[source.name, target.name]["kinds"]
            if self.graph.has_edge(source.name, target.name)
            else set()
        )
        self.graph.add_edge(source.name, target.name, kinds=kinds | {kind})
        self._cache.clear()

    def _chosen_operation(
        self, node: Node, chosen: Mapping[str, int]
    ) -> tuple[Operation, str | None]:
        if isinstance(node, MirrorNode):
            op, _ = self._chosen_operation(node.target, chosen)
            return op, node.target.name
        if isinstance(node, MimeNode):
            return node.ops[chosen.get(node.target.name, 0)], None
        return node.candidates[chosen.get(node.name, 0)], None

    def _checked(self) -> dict[str, Any]:
        """Validate the whole graph once (cached until the next change)."""
        if not self._cache:
            from nas.space._validation import check_space

            self._cache.update(check_space(self))
        return self._cache


def _dependencies(node: Node) -> dict[Node, str]:
    """Nodes that must be built before ``node`` besides its inputs, with the reason."""
    dependencies: dict[Node, str] = {}
    if isinstance(node, (MirrorNode, MimeNode)):
        dependencies[node.target] = "mirror" if isinstance(node, MirrorNode) else "mime"
    for op in node.candidates:
        if isinstance(op, Connect):
            dependencies[op.source] = "skip"
    return dependencies


def _check_shape(name: str, shape: Sequence[int | None]) -> tuple[int | None, ...]:
    if isinstance(shape, int):
        shape = (shape,)
    if (
        isinstance(shape, (str, bytes))
        or not isinstance(shape, Sequence)
        or not all(
            dim is None or (isinstance(dim, (int, np.integer)) and dim > 0) for dim in shape
        )
    ):
        raise SpaceError(
            f"input {name!r} has shape {shape!r}; expected a tuple of positive ints or None "
            "(batch axis excluded), e.g. (30,) or (8, 8, 1)"
        )
    return tuple(None if dim is None else int(dim) for dim in shape)


def _prune(steps: Mapping[str, Step], outputs: Sequence[str]) -> tuple[Step, ...]:
    """Keep the steps that some output needs (and every input), in build order."""
    needed = set(outputs)
    for name in reversed(list(steps)):
        if name in needed:
            needed.update(steps[name].inputs)
    return tuple(step for name, step in steps.items() if name in needed or step.op is None)
