"""The library of search spaces in spaces/: they build, round-trip as JSON, validate
their arguments, and their parameters shape the space as documented."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import pytest

from nas.space import Architecture, SearchSpace, load_space
from spaces.conv_cell import conv_cell_space
from spaces.dense_skip import dense_skip_space
from spaces.recurrent import recurrent_space


@dataclass(frozen=True)
class SpaceCase:
    """A space factory with the arguments each test uses."""

    factory: str
    required: dict[str, Any]  # input_shape and output_units
    small: dict[str, Any]  # shallower, for the many-builds test
    tiny: dict[str, Any]  # smallest models, for the training test
    loss: str

    def load(self, **kwargs: Any) -> SearchSpace:
        return load_space(self.factory, **{**self.required, **kwargs})

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.required["input_shape"])

    @property
    def output_units(self) -> int:
        return self.required["output_units"]


CASES = {
    "dense_skip": SpaceCase(
        "spaces.dense_skip:dense_skip_space",
        {"input_shape": (30,), "output_units": 3},
        small={"num_layers": 4},
        tiny={"num_layers": 2, "units": (8,)},
        loss="sparse_categorical_crossentropy",
    ),
    "conv_cell": SpaceCase(
        "spaces.conv_cell:conv_cell_space",
        {"input_shape": (8, 8, 1), "output_units": 10},
        small={"num_cells": 2, "nodes_per_cell": 2, "filters": 8},
        tiny={"num_cells": 2, "nodes_per_cell": 1, "filters": 4},
        loss="sparse_categorical_crossentropy",
    ),
    "recurrent": SpaceCase(
        "spaces.recurrent:recurrent_space",
        {"input_shape": (12, 2), "output_units": 4},
        small={"num_layers": 2},
        tiny={"num_layers": 1, "units": (8,)},
        loss="mse",
    ),
}
space_names = pytest.mark.parametrize("name", sorted(CASES))


def structure(model: Any) -> tuple[Any, ...]:
    """What must survive a JSON round trip: layers in order, weights count, output."""
    return (
        [type(layer).__name__ for layer in model.layers],
        [layer.name for layer in model.layers],
        model.count_params(),
        tuple(model.output.shape),
    )


@space_names
def test_many_random_architectures_build_with_the_right_output(name):
    case = CASES[name]
    space = case.load(**case.small)
    rng = np.random.default_rng(0)
    parameter_counts = []
    for _ in range(50):
        model = space.build(space.sample(rng))
        assert tuple(model.output.shape) == (None, case.output_units)
        parameter_counts.append(model.count_params())
        # Keras keeps every model of the session alive otherwise; its default full
        # garbage collection costs ~0.3 s per call with TensorFlow loaded, more than a build.
        keras.backend.clear_session(free_memory=False)
    assert len(set(parameter_counts)) >= 10


@space_names
def test_default_depth_builds_with_the_right_output(name):
    case = CASES[name]
    space = case.load()
    rng = np.random.default_rng(1)
    for arch_seq in [[0] * len(space.choices), [c - 1 for c in space.choices]] + [
        space.sample(rng) for _ in range(3)
    ]:
        model = space.build(arch_seq)
        assert tuple(model.output.shape) == (None, case.output_units)
        keras.backend.clear_session(free_memory=False)


@space_names
def test_size_is_the_exact_product_of_choices(name):
    space = CASES[name].load()
    assert type(space.size) is int
    assert space.size == int(np.prod(np.array(space.choices, dtype=object)))
    assert all(count >= 2 for count in space.choices)


@space_names
def test_json_round_trip_rebuilds_the_same_structure(name):
    case = CASES[name]
    space = case.load()
    rng = np.random.default_rng(2)
    for _ in range(3):
        arch_seq = space.sample(rng)
        text = space.architecture(arch_seq).to_json()
        expected = structure(space.build(arch_seq))
        assert structure(Architecture.from_json(text).build()) == expected
        keras.backend.clear_session(free_memory=False)


@pytest.mark.slow
@space_names
def test_a_tiny_model_trains(name):
    case = CASES[name]
    space = case.load(**case.tiny)
    rng = np.random.default_rng(3)
    model = space.build(space.sample(rng))
    inputs = rng.normal(size=(16, *case.input_shape)).astype("float32")
    if case.loss == "mse":
        targets = rng.normal(size=(16, case.output_units)).astype("float32")
    else:
        targets = rng.integers(case.output_units, size=16)
    model.compile(optimizer="adam", loss=case.loss)
    history = model.fit(inputs, targets, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


@pytest.mark.parametrize(
    "factory, kwargs, message",
    [
        (dense_skip_space, {"num_layers": 0}, "num_layers.*0"),
        (dense_skip_space, {"units": ()}, r"units \(\)"),
        (dense_skip_space, {"activations": []}, r"activations \[\]"),
        (conv_cell_space, {"num_cells": 0}, "num_cells.*0"),
        (conv_cell_space, {"nodes_per_cell": -1}, "nodes_per_cell.*-1"),
        (conv_cell_space, {"filters": 2.5}, "filters.*2.5"),
        (conv_cell_space, {"operations": ()}, r"operations.*\(\)"),
        (conv_cell_space, {"operations": ["conv7x7"]}, "operations.*conv7x7"),
        (conv_cell_space, {"reduction_operations": []}, r"reduction_operations.*\[\]"),
        (conv_cell_space, {"input_shape": (8, 8)}, r"input_shape.*\(8, 8\)"),
        (recurrent_space, {"num_layers": 0}, "num_layers.*0"),
        (recurrent_space, {"units": ()}, r"units.*\(\)"),
        (recurrent_space, {"units": (16, 0)}, r"units.*\[0\]"),
        (recurrent_space, {"layer_types": []}, r"layer_types.*\[\]"),
        (recurrent_space, {"layer_types": ["Transformer"]}, "layer_types.*Transformer"),
        (recurrent_space, {"readouts": ()}, r"readouts.*\(\)"),
        (recurrent_space, {"num_anchors": 0}, "num_anchors.*0"),
        (recurrent_space, {"input_shape": (24,)}, r"input_shape.*\(24,\)"),
    ],
)
def test_bad_factory_arguments_name_the_value(factory, kwargs, message):
    case = CASES[factory.__module__.removeprefix("spaces.")]
    with pytest.raises(ValueError, match=message):
        factory(**{**case.required, **kwargs})


def test_dense_skip_decisions_follow_depth_widths_and_anchors():
    for num_layers in range(1, 6):
        space = dense_skip_space((30,), 2, num_layers=num_layers, num_anchors=2)
        skips = sum(min(index + 1, 2) for index in range(num_layers))
        assert len(space.choices) == num_layers + skips
    space = dense_skip_space((30,), 2, units=(8, 16), activations=("relu",))
    assert space.choices[0] == 1 + 2


@pytest.mark.parametrize(
    "input_shape, num_cells, num_reductions",
    [
        ((8, 8, 1), 1, 0),
        ((8, 8, 1), 3, 2),
        ((8, 8, 1), 6, 3),
        ((1, 1, 3), 3, 0),
        ((5, 7, 3), 5, 3),
    ],
)
def test_conv_cell_reduces_while_the_image_allows_and_grows_filters(
    input_shape, num_cells, num_reductions
):
    space = conv_cell_space(input_shape, 10, num_cells=num_cells, nodes_per_cell=2, filters=4)
    # Two nodes make five decisions per cell: two operations and 1 + 2 skips.
    assert len(space.choices) == num_cells * 5 + num_reductions
    assert sum(node.name.startswith("reduction") for node in space.decisions) == num_reductions
    model = space.build(space.sample(0))
    feature_map = model.get_layer("pooling").input.shape
    assert min(feature_map[1:3]) >= 1
    assert feature_map[3] == 4 * 2**num_reductions


def test_conv_cell_decisions_follow_cells_nodes_and_candidates():
    for nodes_per_cell in range(1, 5):
        space = conv_cell_space((8, 8, 1), 10, num_cells=1, nodes_per_cell=nodes_per_cell)
        assert len(space.choices) == nodes_per_cell * (nodes_per_cell + 3) // 2
    space = conv_cell_space(
        (8, 8, 1),
        10,
        num_cells=2,
        operations=["conv3x3", "identity"],
        reduction_operations=["max_pool"],
    )
    assert set(space.choices) == {2}  # the single reduction candidate is no decision
    assert len(space.choices) == 2 * 9


def test_conv_cell_pooling_reduction_is_followed_by_a_projection_to_the_new_width():
    space = conv_cell_space((8, 8, 1), 10, num_cells=2, nodes_per_cell=1, filters=4)
    reduction = [node.name for node in space.decisions].index("reduction1")
    for choice, layers in [(0, {"Conv2D"}), (2, {"MaxPooling2D", "Conv2D"})]:
        arch_seq = [0] * len(space.choices)
        arch_seq[reduction] = choice
        model = space.build(arch_seq)
        names = {layer.name: type(layer).__name__ for layer in model.layers}
        found = {names[key] for key in ("reduction1", "reduction1_channels") if key in names}
        assert found == layers
        assert model.get_layer("pooling").input.shape[-1] == 8


def test_recurrent_decisions_follow_depth_units_types_and_readouts():
    for num_layers in range(1, 5):
        space = recurrent_space((12, 2), 4, num_layers=num_layers, num_anchors=1)
        assert len(space.choices) == 2 * num_layers + 1
    space = recurrent_space((12, 2), 4, num_layers=1, units=(8, 16), layer_types=["GRU"])
    assert space.choices == [1 + 2, 2, 2 + 2]
    space = recurrent_space((12, 2), 4, num_layers=1, readouts=["average"])
    assert space.choices == [7, 2]  # a single readout is no decision


@pytest.mark.parametrize(
    "readout, layer, width",
    [(0, "LSTM", 8), (5, "GRU", 32), (6, "GlobalAveragePooling1D", 16), (7, "Flatten", 12 * 16)],
)
def test_recurrent_readout_turns_the_sequence_into_a_forecast(readout, layer, width):
    space = recurrent_space((12, 2), 4, num_layers=1, units=(8, 16, 32))
    model = space.build([2, 1, readout])  # layer0 is an LSTM of 16 units
    assert type(model.get_layer("readout")).__name__ == layer
    assert tuple(model.get_layer("readout").output.shape) == (None, width)
    assert tuple(model.output.shape) == (None, 4)
