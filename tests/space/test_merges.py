"""Merges combine tensors of any rank along the last axis."""

from __future__ import annotations

import numpy as np
import pytest

from nas.space import (
    AddByPadding,
    AddByProjecting,
    Concatenate,
    ConstantNode,
    Layer,
    MirrorNode,
    SearchSpace,
    VariableNode,
    Zero,
)

SHAPES = {"dense": (5,), "sequence": (7, 5), "image": (6, 6, 5)}


def merge_space(shape: tuple[int, ...], merge) -> SearchSpace:
    """Two branches of widths 4 and 6 over the same input, merged."""
    space = SearchSpace({"x": shape})
    narrow = space.add(ConstantNode(Layer("Dense", units=4), "narrow"), space.input())
    wide = space.add(VariableNode([Layer("Dense", units=6), Zero()], "wide"), space.input())
    merged = space.add(ConstantNode(merge, "merged"), narrow, wide)
    space.set_outputs(merged)
    return space


@pytest.mark.parametrize("kind", sorted(SHAPES))
@pytest.mark.parametrize(
    ("merge", "width"), [(AddByProjecting(), 4), (AddByPadding(), 6), (Concatenate(), 10)]
)
def test_merges_work_on_every_rank(kind, merge, width):
    shape = SHAPES[kind]
    model = merge_space(shape, merge).build([0])
    assert model.output_shape == (None, *shape[:-1], width)
    output = model(np.ones((2, *shape), dtype="float32"))
    assert output.shape == (2, *shape[:-1], width)


@pytest.mark.parametrize("merge", [AddByProjecting("relu"), AddByPadding(), Concatenate()])
def test_a_merge_with_one_live_input_passes_it_through(merge):
    model = merge_space((5,), merge).build([1])
    assert model.output_shape == (None, 4)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Dense"]


def test_add_by_padding_pads_with_zeros():
    space = merge_space((3,), AddByPadding())
    model = space.build([0])
    narrow, wide = model.get_layer("narrow"), model.get_layer("wide")
    x = np.arange(6, dtype="float32").reshape(2, 3)
    expected = np.pad(narrow(x).numpy(), [(0, 0), (0, 2)]) + wide(x).numpy()
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-6)


def test_merge_activation_is_applied_after_adding():
    model = merge_space((5,), AddByProjecting("relu")).build([0])
    output = model(np.random.default_rng(0).normal(size=(16, 5)).astype("float32")).numpy()
    assert output.min() >= 0.0 and output.max() > 0.0


def test_a_mirrored_add_by_padding_pads_to_each_width():
    # Found by test_fuzzed_spaces.py: the mirror reused the pad layer made for the
    # target's width (6) on inputs padded to 7, and the Add failed. Padding has no weights,
    # so a mirror must work at any width.
    space = SearchSpace({"x": (3,)})
    widths = {"a": 2, "b": 6, "c": 3, "d": 7}
    branch = {
        name: space.add(ConstantNode(Layer("Dense", units=units), name), space.input())
        for name, units in widths.items()
    }
    merged = space.add(ConstantNode(AddByPadding(), "merged"), branch["a"], branch["b"])
    mirror = space.add(MirrorNode(merged, "mirror"), branch["c"], branch["d"])
    space.set_outputs(merged, mirror)
    model = space.build([])
    assert model.output_shape == [(None, 6), (None, 7)]
    x = np.arange(6, dtype="float32").reshape(2, 3)
    c, d = (model.get_layer(name)(x).numpy() for name in "cd")
    np.testing.assert_allclose(model(x)[1].numpy(), np.pad(c, [(0, 0), (0, 4)]) + d, rtol=1e-6)


def test_a_relu_merge_computes_what_an_activation_relu_does_with_the_same_gradient():
    # The merge builds relu as LeakyReLU(negative_slope=0), which TensorFlow's oneDNN
    # rewrite leaves alone (Activation("relu") after Dense + Add makes it log an error).
    import keras
    import tensorflow as tf

    model = merge_space((5,), AddByProjecting("relu")).build([0])
    assert type(model.layers[-1]).__name__ == "LeakyReLU"
    # The same layers, with the activation Keras would use.
    reference = keras.Model(model.inputs, keras.layers.Activation("relu")(model.layers[-1].input))
    # Unit 0 sums to exactly 0, where relu's gradient is 0 (max(x, 0)'s would be 1).
    narrow, projection = model.get_layer("narrow"), model.get_layer("merged_projection1")
    kernel, bias = narrow.get_weights()
    kernel[:, 0], bias[0] = 0.0, 0.0
    narrow.set_weights([kernel, bias])
    [kernel] = projection.get_weights()
    kernel[:, 0] = 0.0
    projection.set_weights([kernel])
    x = tf.constant(np.random.default_rng(0).normal(size=(16, 5)).astype("float32"))
    outputs, gradients = [], []
    for built in (model, reference):
        with tf.GradientTape() as tape:
            output = built(x)
            loss = tf.reduce_sum(output * tf.range(1.0, 5.0))
        outputs.append(output.numpy())
        gradients.append([g.numpy() for g in tape.gradient(loss, built.trainable_weights)])
    assert (outputs[0][:, 0] == 0).all() and (outputs[0] < 0).sum() == 0 and outputs[0].max() > 0
    np.testing.assert_array_equal(outputs[0], outputs[1])
    for ours, keras_relu in zip(*gradients):
        np.testing.assert_array_equal(ours, keras_relu)
