"""Measured properties of models: FLOPs by hand-computable cases, latency, saved size.

Every FLOP count below is worked out by hand from the conventions of
nas.train._measures (1 multiply-add = 2 FLOPs, a bias add 1 per output, an activation 1
per element). Latency tests check the shape of the result only, never a duration.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from nas._imports import import_keras
from nas.train import (
    FlopReport,
    count_flops,
    flop_report,
    inference_latency,
    saved_size,
)

keras = import_keras()
layers = keras.layers


def single_layer(layer, input_shape) -> keras.Model:
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, layer(inputs))


# ---------------------------------------------------------------------------------------
# Dense and convolutions


def test_dense_counts_two_flops_per_multiply_add_plus_the_bias():
    assert count_flops(single_layer(layers.Dense(10), (5,))) == 2 * 5 * 10 + 10
    assert count_flops(single_layer(layers.Dense(10, use_bias=False), (5,))) == 100
    assert count_flops(single_layer(layers.Dense(10, activation="relu"), (5,))) == 120


def test_dense_on_a_sequence_acts_at_every_position():
    assert count_flops(single_layer(layers.Dense(4), (3, 2))) == 3 * (2 * 2 * 4 + 4)


def test_conv2d_with_strides_and_valid_padding():
    model = single_layer(layers.Conv2D(4, 3, strides=2), (9, 9, 2))
    assert model.output.shape == (None, 4, 4, 4)
    outputs = 4 * 4 * 4
    assert count_flops(model) == 2 * outputs * (3 * 3 * 2) + outputs


def test_conv2d_with_same_padding_and_groups():
    outputs = 8 * 8 * 4
    model = single_layer(layers.Conv2D(4, 3, padding="same"), (8, 8, 2))
    assert count_flops(model) == 2 * outputs * (3 * 3 * 2) + outputs
    grouped = single_layer(layers.Conv2D(4, 3, padding="same", groups=2), (8, 8, 2))
    assert count_flops(grouped) == 2 * outputs * (3 * 3 * 1) + outputs


def test_conv1d_and_conv3d():
    assert count_flops(single_layer(layers.Conv1D(2, 3), (10, 3))) == 2 * 16 * 9 + 16
    conv3d = single_layer(layers.Conv3D(2, 2, use_bias=False), (3, 3, 3, 1))
    assert count_flops(conv3d) == 2 * (2 * 2 * 2 * 2) * (2 * 2 * 2 * 1)


def test_conv2d_channels_first():
    model = single_layer(layers.Conv2D(4, 3, data_format="channels_first"), (2, 5, 5))
    assert model.output.shape == (None, 4, 3, 3)
    assert count_flops(model) == 2 * 36 * (3 * 3 * 2) + 36


def test_depthwise_and_separable_convolutions():
    depthwise = single_layer(layers.DepthwiseConv2D(3, padding="same"), (5, 5, 2))
    assert count_flops(depthwise) == 2 * 50 * 9 + 50
    separable = single_layer(layers.SeparableConv2D(4, 3, padding="same"), (5, 5, 2))
    depthwise_part = 2 * 25 * 2 * 9
    pointwise_part = 2 * 25 * 2 * 4
    assert count_flops(separable) == depthwise_part + pointwise_part + 25 * 4


def test_transposed_convolution_scatters_each_input():
    model = single_layer(layers.Conv2DTranspose(2, 3, strides=2), (3, 3, 1))
    outputs = math.prod(model.output.shape[1:])
    assert count_flops(model) == 2 * 9 * (3 * 3 * 2) + outputs


# ---------------------------------------------------------------------------------------
# Pooling, normalisation, activations, merges, free layers


def test_pooling_costs_the_pool_volume_per_output():
    assert count_flops(single_layer(layers.MaxPooling2D(2), (4, 4, 3))) == 12 * 4
    assert count_flops(single_layer(layers.AveragePooling1D(3), (9, 2))) == 6 * 3
    assert count_flops(single_layer(layers.GlobalAveragePooling2D(), (4, 4, 3))) == 48


def test_batch_normalization_and_activations():
    assert count_flops(single_layer(layers.BatchNormalization(), (6,))) == 12
    assert count_flops(single_layer(layers.Activation("relu"), (6,))) == 6
    assert count_flops(single_layer(layers.Activation("linear"), (6,))) == 0
    assert count_flops(single_layer(layers.ReLU(), (2, 3))) == 6
    assert count_flops(single_layer(layers.Softmax(), (6,))) == 6


def test_a_skip_connection_adds_one_flop_per_element():
    inputs = keras.Input((4,))
    hidden = layers.Dense(4, name="hidden")(inputs)
    model = keras.Model(inputs, layers.Add(name="skip")([inputs, hidden]))
    report = flop_report(model)
    assert report.total == (2 * 4 * 4 + 4) + 4
    assert report.by_layer["hidden"] == 36
    assert report.by_layer["skip"] == 4
    assert report.complete


def test_merges_of_several_inputs():
    inputs = [keras.Input((3,)) for _ in range(3)]
    for merge, flops in [
        (layers.Multiply(), 2 * 3),
        (layers.Maximum(), 2 * 3),
        (layers.Average(), 3 * 3),
        (layers.Concatenate(), 0),
    ]:
        assert count_flops(keras.Model(inputs, merge(inputs))) == flops


def test_data_movement_and_inference_identities_are_free():
    inputs = keras.Input((4, 2))
    x = layers.Dropout(0.5)(inputs)
    x = layers.GaussianNoise(0.1)(x)
    x = layers.Reshape((2, 4))(x)
    x = layers.ZeroPadding1D(1)(x)
    x = layers.Flatten()(x)
    report = flop_report(keras.Model(inputs, x))
    assert report.total == 0
    assert report.complete


# ---------------------------------------------------------------------------------------
# Recurrent layers


def test_recurrent_layers_count_every_step():
    steps, features, units = 5, 2, 3
    matrix = 2 * units * (features + units)  # one gate's products with [x, h]
    lstm = 4 * matrix + 4 * units + 4 * units + 5 * units  # biases, activations, update
    gru = 3 * matrix + 2 * 3 * units + 3 * units + 5 * units  # reset_after: two biases
    simple = matrix + units + units
    for layer, per_step in [
        (layers.LSTM(units), lstm),
        (layers.GRU(units), gru),
        (layers.SimpleRNN(units, return_sequences=True), simple),
    ]:
        assert count_flops(single_layer(layer, (steps, features))) == steps * per_step


def test_bidirectional_counts_both_directions_and_its_merge():
    single = count_flops(single_layer(layers.LSTM(3), (5, 2)))
    concat = single_layer(layers.Bidirectional(layers.LSTM(3)), (5, 2))
    assert count_flops(concat) == 2 * single
    summed = single_layer(layers.Bidirectional(layers.LSTM(3), merge_mode="sum"), (5, 2))
    assert count_flops(summed) == 2 * single + 3


def test_an_unknown_sequence_length_is_reported_not_guessed():
    report = flop_report(single_layer(layers.LSTM(3, name="lstm"), (None, 2)))
    assert report.total == 0
    assert report.uncounted == ("lstm (LSTM)",)


# ---------------------------------------------------------------------------------------
# Model structure: nesting, sharing, Sequential, unknown layers


def test_nested_models_are_walked_and_shared_layers_counted_per_call():
    inner = keras.Sequential(
        [keras.Input((5,)), layers.Dense(10, name="inner_dense")], name="inner"
    )
    inputs = keras.Input((5,))
    shared = layers.Dense(5, name="shared")
    x = shared(shared(inputs))
    model = keras.Model(inputs, inner(x))
    report = flop_report(model)
    assert report.by_layer == {"shared": 2 * (2 * 5 * 5 + 5), "inner/inner_dense": 110}
    assert report.total == 2 * 55 + 110


def test_a_sequential_model_is_counted():
    model = keras.Sequential([keras.Input((5,)), layers.Dense(10), layers.Dense(1)])
    assert count_flops(model) == 110 + (2 * 10 + 1)


def test_unknown_layers_count_zero_and_are_reported(caplog):
    inputs = keras.Input((4,))
    x = layers.LayerNormalization(name="norm")(inputs)
    x = layers.Dense(2, name="head")(x)
    model = keras.Model(inputs, x, name="with_norm")
    report = flop_report(model)
    assert report == FlopReport(18, {"norm": 0, "head": 18}, ("norm (LayerNormalization)",))
    assert not report.complete
    with caplog.at_level(logging.WARNING, logger="nas.train"):
        assert count_flops(model) == 18
    assert "lower bound" in caplog.text and "LayerNormalization" in caplog.text


class _Doubler(keras.Model):
    def call(self, inputs):
        return inputs * 2


def test_subclassed_models_have_no_graph():
    with pytest.raises(ValueError, match="no graph"):
        flop_report(_Doubler())
    inputs = keras.Input((3,))
    report = flop_report(keras.Model(inputs, _Doubler(name="doubler")(inputs)))
    assert report.uncounted == ("doubler (_Doubler: no graph)",)


@pytest.mark.parametrize(
    ("factory", "arguments"),
    [
        ("spaces.dense_skip:dense_skip_space", {"input_shape": [6], "num_layers": 3}),
        ("spaces.conv_cell:conv_cell_space", {"input_shape": [8, 8, 1], "num_cells": 1}),
        ("spaces.recurrent:recurrent_space", {"input_shape": [5, 2], "num_layers": 2}),
    ],
)
def test_every_layer_of_the_shipped_spaces_is_counted(factory, arguments):
    from nas.space import import_object

    space = import_object(factory)(output_units=2, **arguments)
    for seed in range(3):
        report = flop_report(space.build(space.sample(seed)))
        assert report.complete, report.uncounted
        assert report.total > 0


# ---------------------------------------------------------------------------------------
# Latency and size


def tiny_model() -> keras.Model:
    inputs = keras.Input((4,))
    return keras.Model(inputs, layers.Dense(2)(layers.Dense(8, activation="relu")(inputs)))


def test_inference_latency_returns_positive_finite_statistics():
    sample = np.zeros((2, 4), dtype=np.float32)
    result = inference_latency(tiny_model(), sample, batch_size=3, warmup=1, repeats=5)
    assert set(result) == {
        "median_ms",
        "iqr_ms",
        "q1_ms",
        "q3_ms",
        "min_ms",
        "batch_size",
        "repeats",
    }
    for key in ("median_ms", "q1_ms", "q3_ms", "min_ms"):
        assert math.isfinite(result[key]) and result[key] > 0
    assert result["min_ms"] <= result["q1_ms"] <= result["median_ms"] <= result["q3_ms"]
    assert result["iqr_ms"] >= 0
    assert (result["batch_size"], result["repeats"]) == (3.0, 5.0)


def test_inference_latency_with_several_inputs_and_one_repeat():
    first, second = keras.Input((2,), name="a"), keras.Input((3,), name="b")
    model = keras.Model([first, second], layers.Concatenate()([first, second]))
    sample = [np.ones((1, 2), np.float32), np.ones((1, 3), np.float32)]
    result = inference_latency(model, sample, warmup=0, repeats=1)
    assert result["iqr_ms"] == 0 and result["median_ms"] > 0


def test_inference_latency_rejects_bad_arguments():
    with pytest.raises(ValueError, match="repeats >= 1"):
        inference_latency(tiny_model(), np.zeros((1, 4)), repeats=0)
    with pytest.raises(ValueError, match="at least one row"):
        inference_latency(tiny_model(), np.zeros((0, 4)))


def test_saved_size_is_the_size_of_the_keras_file(tmp_path):
    model = tiny_model()
    size = saved_size(model, tmp_path / "sizes")
    path = tmp_path / "sizes" / f"{model.name}.keras"
    assert size > 0
    assert path.stat().st_size == size
