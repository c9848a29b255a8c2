"""Mistakes in a space are reported as SpaceError naming the node, the op and the shapes."""

from __future__ import annotations

import pytest

from nas.exceptions import SpaceError
from nas.space import (
    AddByProjecting,
    Concatenate,
    Connect,
    ConstantNode,
    Identity,
    Layer,
    MirrorNode,
    SearchSpace,
    VariableNode,
    Zero,
)


def dense(units: int) -> Layer:
    return Layer("Dense", units=units)


def test_a_cycle_is_refused_when_the_edge_is_added():
    space = SearchSpace({"x": (4,)})
    a = space.add(ConstantNode(dense(4), "a"), space.input())
    b = space.add(ConstantNode(AddByProjecting(), "b"), a)
    with pytest.raises(SpaceError, match=r"'b' -> 'a' \(data\) would make a cycle through a -> b"):
        space.connect(b, a)


def test_a_skip_connection_to_a_later_node_is_a_cycle():
    space = SearchSpace({"x": (4,)})
    merge = space.add(ConstantNode(AddByProjecting(), "merge"), space.input())
    later = space.add(ConstantNode(dense(4), "later"), merge)
    skip = space.add(VariableNode([Zero(), Connect(later)], "skip"))
    with pytest.raises(SpaceError, match="would make a cycle"):
        space.connect(skip, merge)


def test_a_node_with_no_input():
    space = SearchSpace({"x": (4,)})
    a = space.add(ConstantNode(dense(4), "a"), space.input())
    floating = space.add(ConstantNode(dense(4), "floating"))
    merge = space.add(ConstantNode(Concatenate(), "merge"), a)
    space.connect(floating, merge)
    with pytest.raises(SpaceError, match=r"node 'floating' \(Dense\(4\)\) has no input"):
        space.build([])


def test_an_output_unreachable_from_the_inputs():
    space = SearchSpace({"x": (4,)})
    space.add(ConstantNode(dense(4), "used"), space.input())
    orphan = space.add(ConstantNode(dense(4), "orphan"))
    out = space.add(ConstantNode(dense(1), "out"), orphan)
    space.set_outputs(out)
    with pytest.raises(SpaceError, match=r"output 'out' .* unreachable from the inputs \['x'\]"):
        space.build([])


def test_a_node_leading_to_no_output():
    space = SearchSpace({"x": (4,)})
    out = space.add(ConstantNode(dense(1), "out"), space.input())
    space.add(ConstantNode(dense(3), "dangling"), space.input())
    space.set_outputs(out)
    with pytest.raises(SpaceError, match=r"nodes \['dangling'\] .* lead to no output"):
        space.build([])


def test_several_sinks_need_declared_outputs():
    space = SearchSpace({"x": (4,)})
    space.add(ConstantNode(dense(1), "one"), space.input())
    space.add(ConstantNode(dense(1), "two"), space.input())
    with pytest.raises(SpaceError, match=r"2 nodes with no successor \['one', 'two'\]"):
        space.choices  # noqa: B018 - the first use validates the space


def test_an_output_left_with_no_input_by_the_architecture():
    space = SearchSpace({"x": (4,)})
    gate = space.add(VariableNode([Zero(), dense(3)], "gate"), space.input())
    space.add(ConstantNode(dense(1), "out"), gate)
    space.build([1])
    with pytest.raises(SpaceError, match=r"arch_seq \[0\] leaves output 'out'"):
        space.build([0])


def test_incompatible_shapes_at_a_merge_name_node_op_and_shapes():
    space = SearchSpace({"image": (8, 8, 3)})
    pooled = space.add(
        ConstantNode(Layer("MaxPooling2D", pool_size=2), "pooled"), space.input("image")
    )
    merge = space.add(ConstantNode(Concatenate(), "merge"), pooled, space.input("image"))
    space.set_outputs(merge)
    with pytest.raises(SpaceError) as error:
        space.build([])
    message = str(error.value)
    assert "node 'merge' (Concatenate())" in message
    assert "pooled (None, 4, 4, 3)" in message and "image (None, 8, 8, 3)" in message
    assert "differ on an axis other than the last" in message


def test_incompatible_shape_at_a_layer_names_node_op_and_shape():
    space = SearchSpace({"x": (30,)})
    conv = space.add(
        VariableNode([dense(4), Layer("Conv2D", filters=4, kernel_size=3)], "conv"), space.input()
    )
    space.set_outputs(conv)
    with pytest.raises(SpaceError) as error:
        space.build([1])
    assert "node 'conv' (Conv2D(4, 3)) cannot take inputs x (None, 30)" in str(error.value)


def test_identity_takes_one_input():
    space = SearchSpace({"a": (4,), "b": (4,)})
    node = space.add(VariableNode([Identity(), dense(4)], "either"), space.input("a"))
    with pytest.raises(SpaceError, match="'either' has an Identity candidate, which takes one"):
        space.connect(space.input("b"), node)


def test_skip_connection_nodes_take_no_inputs_and_hold_only_zero_and_connect():
    space = SearchSpace({"x": (4,)})
    skip = space.add(VariableNode([Zero(), Connect(space.input())], "skip"))
    with pytest.raises(SpaceError, match="'skip' is a skip connection"):
        space.connect(space.input(), skip)
    with pytest.raises(SpaceError, match="mixes Connect with other operations"):
        VariableNode([Connect(space.input()), dense(3)])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Layer("Dence", units=3), "unknown Keras layer 'Dence'"),
        (lambda: Layer("Dense", unit=3), r"cannot create layer Dense\(unit=3\)"),
        (lambda: Layer(42), "must be a Keras layer, a layer class or a factory"),
        (lambda: Layer(lambda: "not a layer"), "returned 'not a layer', expected a Keras layer"),
        (lambda: VariableNode([]), "needs a non-empty list of operations"),
        (lambda: SearchSpace({"x": (0, 3)}), r"input 'x' has shape \(0, 3\)"),
        (lambda: SearchSpace({}), "needs at least one input"),
        (lambda: MirrorNode("a"), "must mirror a constant, variable or mime node"),
        (lambda: Connect("a"), "Connect expects a node of the space"),
    ],
)
def test_bad_definitions_are_refused_at_once(make, message):
    with pytest.raises(SpaceError, match=message):
        make()


def test_nodes_belong_to_one_space_and_have_unique_names():
    first, second = SearchSpace({"x": (4,)}), SearchSpace({"x": (4,)})
    node = first.add(ConstantNode(dense(3), "a"), first.input())
    with pytest.raises(SpaceError, match="already added to a space"):
        second.add(node, second.input())
    with pytest.raises(SpaceError, match="already has a node named 'a'"):
        first.add(ConstantNode(dense(3), "a"), first.input())
    with pytest.raises(SpaceError, match="is not a node of space"):
        second.add(ConstantNode(dense(3), "b"), first.input())


# -- found by the property-based tests (test_fuzzed_spaces.py) ------------------------------


def test_a_layer_that_takes_one_input_refuses_a_second_at_definition():
    # Dense declares one input (its input_spec): two live inputs could never build, and
    # used to fail only at build time, for the architectures where both were live.
    space = SearchSpace({"a": (4,), "b": (3,)})
    gated = space.add(VariableNode([Zero(), dense(2)], "gated"), space.input("a"))
    with pytest.raises(SpaceError, match=r"'gated' has a Dense\(2\) candidate, which takes one"):
        space.connect(space.input("b"), gated)
    # A Keras merge layer takes a list of tensors: still fine.
    joined = space.add(ConstantNode(Layer("Concatenate"), "joined"), space.input("a"))
    space.connect(space.input("b"), joined)


def test_a_mirror_takes_one_input_when_the_node_it_mirrors_does():
    # The mirror applies its target's Identity: a second input used to be dropped silently.
    space = SearchSpace({"a": (4,), "b": (3,)})
    target = space.add(VariableNode([Identity(), dense(2)], "target"), space.input("a"))
    mirror = space.add(MirrorNode(target, "mirror"), space.input("a"))
    with pytest.raises(SpaceError, match=r"'mirror' \(a mirror of 'target'\) has an Identity"):
        space.connect(space.input("b"), mirror)


def test_a_skip_connection_cannot_be_mirrored():
    # It has no layer to share; its mirror's inputs used to be ignored without a word.
    space = SearchSpace({"x": (4,)})
    skip = space.add(VariableNode([Zero(), Connect(space.input())], "skip"))
    with pytest.raises(SpaceError, match="cannot mirror skip connection 'skip'.*MimeNode"):
        MirrorNode(skip, "again")


def test_a_layer_that_returns_several_tensors_is_refused_naming_it():
    # Activation maps over a list instead of refusing it: the model used to get a list
    # of tensors where the space promised one.
    space = SearchSpace({"a": (4,), "b": (3,)})
    act = space.add(ConstantNode(Layer("Activation", activation="relu"), "act"))
    space.connect(space.input("a"), act)
    space.connect(space.input("b"), act)
    with pytest.raises(SpaceError) as error:
        space.build([])
    assert "node 'act' (Activation(relu)) returned 2 tensors for inputs a (None, 4)" in str(
        error.value
    )


def test_a_mirror_given_other_widths_names_the_layer_it_shares():
    space = SearchSpace({"a": (4,), "b": (3,)})
    target = space.add(ConstantNode(dense(2), "target"), space.input("a"))
    mirror = space.add(MirrorNode(target, "mirror"), space.input("b"))
    space.set_outputs(target, mirror)
    with pytest.raises(SpaceError) as error:
        space.build([])
    assert (
        "node 'mirror' (Dense(2), a mirror of 'target' reusing its layers and weights) cannot "
        "take inputs b (None, 3)"
    ) in str(error.value)
