"""Encoding, sampling and building of search spaces."""

from __future__ import annotations

import numpy as np
import pytest

from nas.exceptions import SpaceError
from nas.space import (
    AddByProjecting,
    Connect,
    ConstantNode,
    Identity,
    Layer,
    MimeNode,
    MirrorNode,
    SearchSpace,
    VariableNode,
    Zero,
)


def small_space() -> SearchSpace:
    """input(6) -> [Identity | Dense(4) | Dense(8)] -> merge(+ skip from input) -> Dense(2)."""
    space = SearchSpace({"x": (6,)}, name="small")
    x = space.input("x")
    hidden = space.add(
        VariableNode([Identity(), Layer("Dense", units=4), Layer("Dense", units=8)], "hidden"), x
    )
    fixed = space.add(VariableNode([Layer("Dense", units=5)], "single_choice"), hidden)
    merge = space.add(ConstantNode(AddByProjecting(), "merge"), fixed)
    space.connect(space.add(VariableNode([Zero(), Connect(x)], "skip")), merge)
    space.add(ConstantNode(Layer("Dense", units=2, activation="softmax"), "out"), merge)
    return space


def layer_types(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_choices_skip_single_candidate_nodes_and_keep_insertion_order():
    space = small_space()
    assert [node.name for node in space.decisions] == ["hidden", "skip"]
    assert space.choices == [3, 2]
    assert space.size == 6 and isinstance(space.size, int)


def test_size_is_exact_for_huge_spaces():
    space = SearchSpace((4,))
    previous = space.input()
    for index in range(40):
        ops = [Layer("Dense", units=u) for u in range(1, 8)]
        previous = space.add(VariableNode(ops, f"layer{index}"), previous)
    assert space.size == 7**40  # beyond float precision: must be a Python int


def test_sample_is_seeded_in_range_and_plain_ints():
    space = small_space()
    samples = [space.sample(np.random.default_rng(3)) for _ in range(2)]
    assert samples[0] == samples[1]
    many = [space.sample(seed) for seed in range(200)]
    assert all(type(value) is int for seq in many for value in seq)
    assert {seq[0] for seq in many} == {0, 1, 2} and {seq[1] for seq in many} == {0, 1}


@pytest.mark.parametrize(
    ("arch_seq", "message"),
    [
        ([0], "has 1 entries but space 'small' has 2 decisions"),
        ([0, 2], "arch_seq[1] = 2 is out of range for node 'skip', which has 2 candidates"),
        ([-1, 0], "arch_seq[0] = -1 is out of range for node 'hidden'"),
        ([0.5, 0], "arch_seq[0] (node 'hidden') must be an int, got 0.5"),
        ([True, 0], "must be an int, got True"),
        ("01", "arch_seq must be a list of ints"),
    ],
)
def test_bad_arch_seq_is_rejected_naming_position_and_node(arch_seq, message):
    with pytest.raises(SpaceError) as error:
        small_space().build(arch_seq)
    assert message in str(error.value)


def test_numpy_ints_are_accepted_and_normalised():
    assert small_space().validate_arch(np.array([2, 1])) == [2, 1]


def test_build_follows_choices_and_projects_skip_connections():
    space = small_space()
    plain = space.build([1, 0])
    assert layer_types(plain) == ["InputLayer", "Dense", "Dense", "Dense"]
    assert plain.output_shape == (None, 2)
    skipped = space.build([1, 1])
    # The input (width 6) is projected to the main path's width (5) before the addition.
    projection = skipped.get_layer("merge_projection1")
    assert projection.kernel.shape == (6, 5) and projection.use_bias is False
    assert "Add" in layer_types(skipped)


def test_each_build_returns_a_fresh_model():
    space = small_space()
    first, second = space.build([2, 1]), space.build([2, 1])
    assert first is not second
    assert not {id(w) for w in first.weights} & {id(w) for w in second.weights}


def test_a_skip_from_the_main_path_is_added_again_x_plus_x_is_2x():
    space = SearchSpace({"x": (6,)})
    x = space.input()
    hidden = space.add(VariableNode([Identity(), Layer("Dense", units=6)], "hidden"), x)
    merge = space.add(ConstantNode(AddByProjecting(), "merge"), hidden)
    space.connect(space.add(VariableNode([Zero(), Connect(x)], "skip")), merge)
    space.set_outputs(merge)
    # hidden = Identity: the merge takes x twice, as the graph says (it used to drop one).
    assert space.resolve([0, 1]).steps[-1].inputs == ("x", "x")
    batch = np.arange(12, dtype="float32").reshape(2, 6)
    np.testing.assert_array_equal(space.build([0, 1])(batch), 2 * batch)
    np.testing.assert_array_equal(space.build([0, 0])(batch), batch)
    assert space.arch_hash([0, 1]) != space.arch_hash([0, 0])


def test_arch_hash_is_stable_and_tells_models_apart():
    hashes = {seq: small_space().arch_hash(list(seq)) for seq in [(1, 0), (1, 1), (2, 0)]}
    assert len(set(hashes.values())) == 3
    assert small_space().arch_hash([1, 0]) == hashes[(1, 0)]
    assert len(hashes[(1, 0)]) == 16


def test_mirror_node_shares_the_chosen_layer_and_its_weights():
    space = SearchSpace({"x": (8,)})
    first = space.add(
        VariableNode([Layer("Dense", units=8), Layer("Dense", units=8, activation="relu")], "a"),
        space.input(),
    )
    mirror = space.add(MirrorNode(first, "a_again"), first)
    space.add(ConstantNode(Layer("Dense", units=1), "out"), mirror)
    assert space.choices == [2]
    model = space.build([1])
    assert model.get_layer("a").activation.__name__ == "relu"
    # One 8x8 kernel + bias shared by both applications, plus the output layer.
    assert model.count_params() == (8 * 8 + 8) + (8 + 1)
    assert len(model.get_layer("a")._inbound_nodes) == 2


def test_mime_node_follows_the_choice_index_with_its_own_layers():
    space = SearchSpace({"x": (3,)})
    encoder = space.add(
        VariableNode([Layer("Dense", units=4), Layer("Dense", units=16)], "encoder"), space.input()
    )
    decoder = space.add(
        MimeNode(encoder, [Layer("Dense", units=5), Layer("Dense", units=7)], "decoder"), encoder
    )
    space.set_outputs(decoder)
    assert space.choices == [2]
    assert space.build([0]).output_shape == (None, 5)
    assert space.build([1]).output_shape == (None, 7)


def test_mime_node_needs_one_operation_per_candidate():
    space = SearchSpace({"x": (3,)})
    encoder = space.add(VariableNode([Identity(), Layer("Dense", units=4)], "enc"), space.input())
    with pytest.raises(SpaceError, match="has 1 operations but the node it follows, 'enc', has 2"):
        MimeNode(encoder, [Identity()])


def test_several_inputs_and_outputs():
    space = SearchSpace({"numbers": (4,), "image": (6, 6, 1)})
    flat = space.add(ConstantNode(Layer("Flatten"), "flat"), space.input("image"))
    joined = space.add(ConstantNode(Layer("Concatenate"), "joined"), space.input("numbers"), flat)
    first = space.add(ConstantNode(Layer("Dense", units=1), "first"), joined)
    second = space.add(ConstantNode(Layer("Dense", units=3), "second"), joined)
    space.set_outputs(first, second)
    model = space.build([])
    assert [tuple(t.shape) for t in model.inputs] == [(None, 4), (None, 6, 6, 1)]
    assert [tuple(t.shape) for t in model.outputs] == [(None, 1), (None, 3)]


def test_keras_layer_instances_and_factories_are_operations():
    import keras

    template = keras.layers.Dense(3, activation="tanh")
    space = SearchSpace({"x": (2,)})
    node = space.add(
        VariableNode([template, lambda: keras.layers.Dense(9)], "choice"), space.input()
    )
    space.set_outputs(node)
    from_template = space.build([0]).get_layer("choice")
    assert from_template is not template and from_template.units == 3
    assert space.build([1]).output_shape == (None, 9)


def test_sample_and_build_models_of_dense_skip_space():
    from nas.space import load_space

    space = load_space(
        "spaces.dense_skip:dense_skip_space", input_shape=[10], output_units=3, num_layers=4
    )
    rng = np.random.default_rng(0)
    counts = set()
    for _ in range(8):
        model = space.build(space.sample(rng))
        assert model.output_shape == (None, 3)
        counts.add(model.count_params())
    assert len(counts) > 4
