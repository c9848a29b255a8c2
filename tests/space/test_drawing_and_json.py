"""Drawings (DOT, PNG) and the JSON round trip of architectures."""

from __future__ import annotations

import json

import pydot
import pytest

from nas.exceptions import SpaceError
from nas.space import Architecture, load_space

FACTORY = "spaces.dense_skip:dense_skip_space"
KWARGS = {"input_shape": (12,), "output_units": 3, "num_layers": 3}


@pytest.fixture(scope="module")
def space():
    return load_space(FACTORY, **KWARGS)


def arch_with_skips(space) -> list[int]:
    """Dense(16, relu) layers everywhere, every skip connection on."""
    dense = 2  # Identity, Dense(16, None), Dense(16, relu), ...
    return [dense if len(node.candidates) > 2 else 1 for node in space.decisions]


def test_space_dot_shows_every_node_and_edge_kind(space):
    (graph,) = pydot.graph_from_dot_data(space.to_dot())
    names = {node.get_name().strip('"') for node in graph.get_nodes()} - {"node", "edge"}
    assert names == {node.name for node in space.nodes}
    styles = {edge.get("style") for edge in graph.get_edges()}
    assert styles == {"solid", "dashed"}  # data edges and possible skip connections


def test_architecture_dot_shows_live_layers_with_their_choice(space):
    seq = arch_with_skips(space)
    dot = space.to_dot(seq)
    (graph,) = pydot.graph_from_dot_data(dot)
    names = {node.get_name().strip('"') for node in graph.get_nodes()} - {"node", "edge"}
    assert names == {step.name for step in space.resolve(seq).steps}
    assert "Dense(16, relu)" in dot and "skip0_from_input" not in names
    assert not any(name.startswith("skip") for name in names)  # resolved into edges


@pytest.mark.parametrize("suffix", [".png", ".svg", ".dot"])
def test_draw_writes_a_valid_file(space, tmp_path, suffix):
    path = space.draw(tmp_path / f"arch{suffix}", arch_with_skips(space))
    content = path.read_bytes()
    if suffix == ".png":
        assert content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) > 1000
    elif suffix == ".svg":
        assert b"<svg" in content and b"merge2" in content
    else:
        assert pydot.graph_from_dot_data(content.decode())


def test_draw_refuses_unknown_formats(space, tmp_path):
    with pytest.raises(ValueError, match="expected a suffix among"):
        space.draw(tmp_path / "arch.jpeg")


def test_json_round_trip_rebuilds_the_same_structure(space):
    seq = space.sample(7)
    text = space.architecture(seq).to_json()
    assert json.loads(text)["space"] == {
        "factory": FACTORY,
        "kwargs": {"input_shape": [12], "output_units": 3, "num_layers": 3},
    }
    restored = Architecture.from_json(text)
    assert list(restored.arch_seq) == seq
    original, rebuilt = space.build(seq), restored.build()
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in original.layers]
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in original.weights]
    assert rebuilt.to_json() == original.to_json()


def test_json_detects_a_space_that_changed(space):
    document = json.loads(space.architecture(space.sample(1)).to_json())
    document["space"]["kwargs"]["output_units"] = 4
    with pytest.raises(SpaceError, match="now builds another model"):
        Architecture.from_json(json.dumps(document)).build()


def test_json_needs_a_space_made_by_load_space():
    from spaces.dense_skip import dense_skip_space

    with pytest.raises(SpaceError, match="was not made by nas.space.load_space"):
        dense_skip_space(**KWARGS).architecture([0] * 9)


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ('{"arch_seq": [1]}', SpaceError, "not an architecture JSON document"),
        ("not json", SpaceError, "not an architecture JSON document"),
    ],
)
def test_bad_json_documents(text, error, message):
    with pytest.raises(error, match=message):
        Architecture.from_json(text)


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("spaces.dense_skip", "expected an import string 'module:attribute'"),
        ("spaces.no_such_module:space", "cannot import module 'spaces.no_such_module'"),
        ("spaces.dense_skip:no_such_factory", "has no attribute 'no_such_factory'"),
        ("spaces.dense_skip:DEFAULT_UNITS", "is not callable"),
        ("json:dumps", "returned .* not a SearchSpace"),
    ],
)
def test_load_space_errors_name_the_reference(reference, message):
    with pytest.raises(ValueError, match=message):
        load_space(reference, obj=1) if reference == "json:dumps" else load_space(reference)
