"""Random search spaces for property-based tests, and what each should do.

A space is drawn as a *spec*: plain JSON (dicts, lists, strings, ints), so that it prints
readably when Hypothesis shrinks a failure, and so that :func:`space_from_spec` can be
the factory of :func:`nas.space.load_space` (``"strategies:space_from_spec"``; pytest
puts this folder on ``sys.path``), which the JSON round trip of architectures needs.

Next to the strategies is a *reference model* of the documented semantics (guide section
2 and the ``nas.space`` docstrings), written independently of ``SearchSpace.resolve`` and
of Keras: from a spec and an ``arch_seq`` it predicts whether the space is refused at
definition, whether the build fails (and at which node), the output widths, the number of
parameters and the resolved structure that ``arch_hash`` identifies. Tests compare the
library against it, so a wrong-shaped model or a spurious error is caught, not only a
crash.

Spec format::

    {"inputs": [[4], [3]],                      # shapes of inputs "in0", "in1"
     "nodes": [{"name": "n0", "kind": "variable", "target": None, "inputs": ["in0"],
                "ops": [{"op": "dense", "units": 2, "activation": "relu"}, {"op": "zero"}]},
               ...],
     "outputs": ["n3", "n1"]}                   # or None: the single sink

``kind`` is ``constant`` (one op), ``variable`` (a skip connection when its ops are
``zero``/``connect``), ``mirror`` (``target``, no ops) or ``mime`` (``target`` and ops).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from nas.space import (
    AddByPadding,
    AddByProjecting,
    Concatenate,
    Connect,
    ConstantNode,
    Identity,
    Layer,
    MimeNode,
    MirrorNode,
    Node,
    Operation,
    SearchSpace,
    VariableNode,
    Zero,
)

Spec = dict[str, Any]
OpSpec = dict[str, Any]

# Small on purpose: a Keras build costs 50-200 ms, so the widths and depths only need to
# be large enough to make every kind of mismatch possible (1..8 units vs inputs of 3..5).
MAX_UNITS = 8
INPUT_WIDTHS = (3, 5)
MAX_NODES = 7
MERGES = ("add_projecting", "add_padding", "concatenate")
# Ops that Keras refuses to call on two tensors, and says so (Dense declares one
# ``input_spec``); Identity is ours. Two inputs into them must be refused at definition.
ONE_INPUT_OPS = ("dense", "identity")


# -- specs to spaces ---------------------------------------------------------------------


def space_from_spec(spec: Spec) -> SearchSpace:
    """Build the :class:`SearchSpace` a spec describes (a ``load_space`` factory).

    Raises whatever the library raises while the space is defined (a ``SpaceError`` is
    expected for specs that :func:`definition_error` predicts as refused).
    """
    shapes = {f"in{index}": tuple(shape) for index, shape in enumerate(spec["inputs"])}
    space = SearchSpace(shapes, name="fuzzed")
    by_name: dict[str, Node] = {name: space.input(name) for name in shapes}
    for node_spec in spec["nodes"]:
        node = _make_node(node_spec, by_name)
        space.add(node, *(by_name[name] for name in node_spec["inputs"]))
        by_name[node.name] = node
    if spec["outputs"] is not None:
        space.set_outputs(*(by_name[name] for name in spec["outputs"]))
    return space


def _make_node(spec: Spec, by_name: dict[str, Node]) -> Node:
    name, kind = spec["name"], spec["kind"]
    if kind == "mirror":
        return MirrorNode(by_name[spec["target"]], name)
    ops = [_make_op(op, by_name) for op in spec["ops"]]
    if kind == "constant":
        return ConstantNode(ops[0], name)
    if kind == "mime":
        target = by_name[spec["target"]]
        assert isinstance(target, VariableNode)
        return MimeNode(target, ops, name)
    return VariableNode(ops, name)


def _make_op(spec: OpSpec, by_name: dict[str, Node]) -> Operation:
    kind = spec["op"]
    if kind == "dense":
        return Layer("Dense", units=spec["units"], activation=spec["activation"])
    if kind == "activation":
        return Layer("Activation", activation=spec["activation"])
    if kind == "identity":
        return Identity()
    if kind == "zero":
        return Zero()
    if kind == "connect":
        return Connect(by_name[spec["source"]])
    merge = {"add_projecting": AddByProjecting, "add_padding": AddByPadding}
    return merge.get(kind, Concatenate)(spec["activation"])


# -- strategies ---------------------------------------------------------------------------

_dense = st.builds(
    lambda units, activation: {"op": "dense", "units": units, "activation": activation},
    st.integers(1, MAX_UNITS),
    st.sampled_from([None, "relu", "tanh"]),
)
_merge = st.builds(
    lambda kind, activation: {"op": kind, "activation": activation},
    st.sampled_from(MERGES),
    st.sampled_from([None, "relu"]),
)
_simple = st.sampled_from(
    [{"op": "identity"}, {"op": "zero"}, {"op": "activation", "activation": "relu"}]
)
# Dense first: Hypothesis shrinks towards the first branch, the most common layer.
data_ops = st.one_of(_dense, _merge, _simple)


@st.composite
def space_specs(draw: st.DrawFn, max_nodes: int = MAX_NODES, mistakes: bool = False) -> Spec:
    """A random spec: a DAG of constant, variable, skip, mirror and mime nodes.

    Nodes only refer to earlier ones, so the graph is acyclic by construction (cycles
    are covered by example tests) and the insertion order is the build order. Every node
    that feeds no other is declared an output, so no node is useless. Now and then a node
    is given what the library must refuse: a second input into an op that takes one, a
    mirror of a skip connection; with ``mistakes``, often.

    ``max_nodes`` bounds the nodes drawn; a last bundle of skip connections into a merge
    may add two more.
    """
    # How often (out of 8) a node gets what must be refused.
    wrong = 3 if mistakes else 1
    inputs = [[draw(st.integers(*INPUT_WIDTHS))] for _ in range(draw(st.integers(1, 2)))]
    names = [f"in{index}" for index in range(len(inputs))]
    nodes: list[Spec] = []
    size = draw(st.integers(1, max_nodes))
    while len(nodes) < size:
        kinds = ["constant", "variable", "skips"]
        targets = [n["name"] for n in nodes if n["kind"] != "mirror"]
        plain = [name for name in targets if not _is_skip(_node(nodes, name))]
        followable = [n["name"] for n in nodes if n["kind"] == "variable"]
        # Mirrors twice as likely: sharing a layer is where shapes conflict.
        kinds += ["mirror"] * 2 * bool(targets) + ["mime"] * bool(followable)
        kind = draw(st.sampled_from(kinds))
        if kind == "skips":
            bundle = draw(_skips_into_a_merge(names, len(nodes)))
            nodes += bundle
            names += [node["name"] for node in bundle]
            continue
        node: Spec = {"name": f"n{len(nodes)}", "kind": kind, "target": None, "inputs": []}
        if kind == "mirror":
            # Mostly a node with a layer, often a merge (its layers are shared too); a skip
            # connection at times (to be refused).
            if plain and draw(st.integers(0, 7)) >= wrong:
                merging = [name for name in plain if _has_merge(_node(nodes, name))]
                pool = merging if merging and draw(st.booleans()) else plain
            else:
                pool = targets
            node["target"] = draw(st.sampled_from(pool))
            ops = _node(nodes, node["target"])["ops"]
        else:
            if kind == "mime":
                node["target"] = draw(st.sampled_from(followable))
                count = len(_node(nodes, node["target"])["ops"])
            else:
                count = 1 if kind == "constant" else draw(st.integers(1, 3))
            ops = node["ops"] = draw(st.lists(data_ops, min_size=count, max_size=count))
        if any(op["op"] in ONE_INPUT_OPS for op in ops):
            fan_in = 2 if draw(st.integers(0, 7)) < wrong else 1  # 2 must be refused
        elif any(op["op"] in MERGES for op in ops):
            fan_in = draw(st.sampled_from([2, 2, 3, 1]))
        else:
            fan_in = draw(st.sampled_from([1, 2]))
        fan_in = min(fan_in, len(names))
        node["inputs"] = draw(
            st.lists(st.sampled_from(names), min_size=fan_in, max_size=fan_in, unique=True)
        )
        nodes.append(node)
        names.append(node["name"])
    # Every node that feeds no other is an output, mirrored ones included: otherwise a
    # mirror's target would be pruned and its layer never applied twice.
    fed = {name for node in nodes for name in node["inputs"]}
    outputs: list[str] | None = [n["name"] for n in nodes if n["name"] not in fed]
    outputs = draw(st.permutations(outputs))
    others = [name for name in names if name not in outputs]
    if others and draw(st.booleans()):  # an inner node (or an input) may be an output too
        outputs.append(draw(st.sampled_from(others)))
    used = {name for node in nodes for name in _references(node)}
    sinks = [name for name in names if name not in used]
    if len(sinks) == 1 and sinks == outputs and draw(st.booleans()):
        outputs = None  # the single sink of the graph is the output
    return {"inputs": inputs, "nodes": nodes, "outputs": outputs}


@st.composite
def mirrored_merge_specs(draw: st.DrawFn) -> Spec:
    """A merge and a mirror of it, each over two or three Dense branches of random widths.

    The random spaces of :func:`space_specs` rarely apply a shared merge to inputs of
    other widths (most widths there come from the inputs); this pattern does it every
    time. Padding and concatenation have no weights and must work at any width; a
    projection's weights fit one width only.
    """
    inputs = [[draw(st.integers(*INPUT_WIDTHS))] for _ in range(2)]
    nodes: list[Spec] = []
    # Distinct widths: equal ones would mostly need no padding or projection at all.
    widths = draw(st.lists(st.integers(1, MAX_UNITS), min_size=4, max_size=4, unique=True))
    for index, units in enumerate(widths):
        branch = {"op": "dense", "units": units, "activation": None}
        source = draw(st.sampled_from(["in0", "in1"]))
        nodes.append(_constant(f"n{index}", branch, [source]))
    branches = [node["name"] for node in nodes]
    merge = draw(_merge)
    merged = draw(st.lists(st.sampled_from(branches), min_size=2, max_size=3, unique=True))
    again = draw(st.permutations(branches))[: len(merged)]
    nodes.append(_constant("merge", merge, merged))
    nodes.append({"name": "mirror", "kind": "mirror", "target": "merge", "inputs": again})
    unused = [name for name in branches if name not in merged + again]  # outputs too
    return {"inputs": inputs, "nodes": nodes, "outputs": ["merge", "mirror", *unused]}


def _constant(name: str, op: OpSpec, inputs: list[str]) -> Spec:
    return {"name": name, "kind": "constant", "target": None, "inputs": inputs, "ops": [op]}


@st.composite
def _skips_into_a_merge(draw: st.DrawFn, names: Sequence[str], first: int) -> list[Spec]:
    """One or two optional skip connections from earlier nodes, merged into a main path.

    The pattern of the library's dense skip-connection spaces: each skip node is
    ``[Zero(), Connect(source), ...]``, and the merge node takes the main path first.
    """
    nodes = []
    for _ in range(draw(st.integers(1, 2))):
        sources = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
        connects = [{"op": "connect", "source": source} for source in sources]
        nodes.append(
            {
                "name": f"n{first + len(nodes)}",
                "kind": "variable",
                "target": None,
                "inputs": [],
                "ops": [{"op": "zero"}, *connects],
            }
        )
    merges = draw(st.lists(_merge, min_size=1, max_size=2))
    main = draw(st.sampled_from(names))
    nodes.append(
        {
            "name": f"n{first + len(nodes)}",
            "kind": "constant" if len(merges) == 1 else "variable",
            "target": None,
            "inputs": [main, *(node["name"] for node in nodes)],
            "ops": merges,
        }
    )
    return nodes


def _has_merge(node: Spec) -> bool:
    return any(op["op"] in MERGES for op in node.get("ops", []))


def _is_skip(node: Spec) -> bool:
    return any(op["op"] == "connect" for op in node.get("ops", []))


def arch_seqs(spec: Spec, max_size: int = 3) -> st.SearchStrategy[list[list[int]]]:
    """Up to ``max_size`` valid ``arch_seq`` of the space ``spec`` describes."""
    one = st.tuples(*(st.integers(0, count - 1) for count in choices(spec))).map(list)
    return st.lists(one, min_size=1, max_size=max_size)


def all_arch_seqs(spec: Spec) -> Iterator[list[int]]:
    """Every ``arch_seq`` of the space ``spec`` describes."""
    return (list(seq) for seq in itertools.product(*(range(c) for c in choices(spec))))


def _node(nodes: Sequence[Spec], name: str) -> Spec:
    return next(node for node in nodes if node["name"] == name)


def _references(node: Spec) -> list[str]:
    """The names a node depends on: inputs, the node it mirrors or mimes, skip sources."""
    sources = [op["source"] for op in node.get("ops", []) if op["op"] == "connect"]
    return [*node["inputs"], *([node["target"]] if node["target"] else []), *sources]


# -- the reference model -----------------------------------------------------------------


def choices(spec: Spec) -> list[int]:
    """Candidates per decision: variable nodes with two or more ops, in insertion order."""
    return [len(n["ops"]) for n in spec["nodes"] if n["kind"] == "variable" and len(n["ops"]) > 1]


def definition_error(spec: Spec) -> str | None:
    """The node the library must refuse while the space is defined, or None.

    Two refusals can happen in these specs: a second input into a node with an op that
    takes one (Identity, Dense; for a mirror, the ops of the node it mirrors), and a
    mirror of a skip connection (it has no layer to share; MimeNode follows a choice).
    """
    nodes = {node["name"]: node for node in spec["nodes"]}
    for node in spec["nodes"]:
        target = nodes.get(node["target"]) if node["target"] else None
        if node["kind"] == "mirror" and any(op["op"] == "connect" for op in target["ops"]):
            return node["name"]
        ops = target["ops"] if node["kind"] == "mirror" else node["ops"]
        if len(node["inputs"]) > 1 and any(op["op"] in ONE_INPUT_OPS for op in ops):
            return node["name"]
    return None


@dataclass
class Expected:
    """What building one ``arch_seq`` must give, according to the reference model.

    ``error`` is None for a model that must build; otherwise it says why the build must
    raise a SpaceError, and :attr:`message` what that error must say.
    """

    output_widths: list[int] = field(default_factory=list)
    num_params: int = 0
    structure: str = ""  # canonical text of the live steps: equal iff same model
    error: str | None = None
    error_node: str | None = None
    resolvable: bool = True  # False: resolve() itself (and so arch_hash) must refuse it

    @property
    def message(self) -> str:
        """Text the SpaceError must hold: the failing node, named as the library names it."""
        if not self.resolvable:
            return f"leaves output {self.error_node!r}"
        return f"node {self.error_node!r} ("  # _build's "node 'x' (op) ..." and not an input


@dataclass(frozen=True)
class _Step:
    name: str
    op: OpSpec
    inputs: tuple[str, ...]  # the steps (or model inputs) whose tensors it takes
    owner: str  # whose layer it applies: itself, or the node a mirror mirrors


def expect(spec: Spec, arch_seq: Sequence[int]) -> Expected:
    """Predict, without Keras, what ``space.build(arch_seq)`` must do."""
    decisions = [n["name"] for n in spec["nodes"] if n["kind"] == "variable" and len(n["ops"]) > 1]
    chosen = dict(zip(decisions, arch_seq))
    nodes = {node["name"]: node for node in spec["nodes"]}
    width: dict[str, int] = {f"in{i}": shape[0] for i, shape in enumerate(spec["inputs"])}
    tensor: dict[str, str | None] = {name: name for name in width}  # node -> producer
    steps: list[_Step] = []
    for node in spec["nodes"]:
        name = node["name"]
        op, owner = _chosen_op(node, nodes, chosen)
        if op["op"] == "connect":
            tensor[name] = tensor[op["source"]]
            continue
        # A tensor reaching a node twice (a skip from a node that already feeds it) is
        # taken twice: x + skip(x) is 2x.
        live = tuple(t for t in map(tensor.get, node["inputs"]) if t is not None)
        merge_of_one = op["op"] in MERGES and len(live) == 1
        if op["op"] == "zero" or not live:
            tensor[name] = None
        elif op["op"] == "identity" or merge_of_one:
            assert len(live) == 1, f"{name}: refused at definition, so never resolved"
            tensor[name] = live[0]
        else:
            steps.append(_Step(name, op, live, owner))
            tensor[name] = name
            width[name] = _output_width(op, [width[t] for t in live])
    outputs = spec["outputs"] if spec["outputs"] is not None else [_single_sink(spec)]
    dead = [name for name in outputs if tensor[name] is None]
    if dead:
        return Expected(
            error="every path to the output is switched off", error_node=dead[0], resolvable=False
        )
    needed = {tensor[name] for name in outputs}
    for step in reversed(steps):
        if step.name in needed:
            needed.update(step.inputs)
    live_steps = [step for step in steps if step.name in needed]
    expected = _check_layers(live_steps, width)
    expected.output_widths = [width[tensor[name]] for name in outputs]  # type: ignore[index]
    structure = [
        [s.name, s.op, s.inputs, s.owner if s.owner != s.name else None] for s in live_steps
    ]
    used_inputs = sorted(width[f"in{i}"] for i in range(len(spec["inputs"])))
    expected.structure = json.dumps([used_inputs, structure, [tensor[n] for n in outputs]])
    return expected


def _chosen_op(node: Spec, nodes: dict[str, Spec], chosen: dict[str, int]) -> tuple[OpSpec, str]:
    """The op a node applies under ``chosen``, and whose layer (weights) it uses."""
    if node["kind"] == "mirror":
        op, _ = _chosen_op(nodes[node["target"]], nodes, chosen)
        return op, node["target"]
    follows = node["target"] if node["kind"] == "mime" else node["name"]
    return node["ops"][chosen.get(follows, 0)], node["name"]


def _output_width(op: OpSpec, widths: list[int]) -> int:
    kind = op["op"]
    if kind == "dense":
        return op["units"]
    if kind == "add_projecting":
        return widths[0]  # the main path's width; the others are projected to it
    if kind == "add_padding":
        return max(widths)
    if kind == "concatenate":
        return sum(widths)
    return widths[0]  # activation: several inputs are an error, found by _check_layers


def _check_layers(steps: Sequence[_Step], width: dict[str, int]) -> Expected:
    """Count parameters, and find the first step whose layer cannot take its inputs.

    A mirror reuses its target's layers, so a Dense (or a merge's projection) applied
    again must see the input width it was built for; layers without weights (Add,
    Concatenate, padding, activations) take any width.
    """
    kernels: dict[tuple[str, int], tuple[int, int]] = {}  # (owner, slot) -> (in, out)
    for step in steps:
        widths = [width[t] for t in step.inputs]
        kind = step.op["op"]
        if kind == "activation" and len(widths) > 1:
            return Expected(error="a layer returned several tensors", error_node=step.name)
        if kind == "dense":
            wanted = {(step.owner, 0): (widths[0], step.op["units"])}
        elif kind == "add_projecting":
            wanted = {
                (step.owner, index): (w, widths[0])
                for index, w in enumerate(widths)
                if index and w != widths[0]
            }
        else:
            wanted = {}
        for slot, shape in wanted.items():
            if kernels.setdefault(slot, shape) != shape:
                return Expected(error="a shared layer got another width", error_node=step.name)
    params = 0
    for (_, slot), (fan_in, fan_out) in kernels.items():
        params += fan_in * fan_out + (fan_out if slot == 0 else 0)  # projections: no bias
    return Expected(num_params=params)


def _single_sink(spec: Spec) -> str:
    used = {name for node in spec["nodes"] for name in _references(node)}
    return next(n["name"] for n in reversed(spec["nodes"]) if n["name"] not in used)
