"""``arch_hash`` identifies what is built: factories are known by the layer they make."""

from __future__ import annotations

import functools
import json

import keras
import pytest

from nas.exceptions import SpaceError
from nas.space import Architecture, ConstantNode, Layer, SearchSpace, VariableNode, load_space


def one_layer_space(op) -> SearchSpace:
    """input(3) -> [Dense(2) | op] -> Dense(1): the hash of [1] depends on ``op`` alone."""
    space = SearchSpace({"x": (3,)})
    hidden = space.add(VariableNode([Layer("Dense", units=2), op], "hidden"), space.input())
    space.add(ConstantNode(Layer("Dense", units=1), "out"), hidden)
    return space


def hash_of(op) -> str:
    return one_layer_space(op).arch_hash([1])


def test_lambda_factories_of_different_layers_hash_apart():
    # Both lambdas have the qualified name "...<lambda>": they used to hash equal.
    assert hash_of(lambda: keras.layers.Dense(4)) != hash_of(lambda: keras.layers.Dense(64))
    assert hash_of(lambda: keras.layers.Dense(4)) != hash_of(
        lambda: keras.layers.Dense(4, activation="relu")
    )


def test_factories_and_instances_of_the_same_layer_hash_alike():
    def make_dense():
        return keras.layers.Dense(units=4)

    same = {
        hash_of(lambda: keras.layers.Dense(4)),
        hash_of(functools.partial(keras.layers.Dense, units=4)),
        hash_of(functools.partial(keras.layers.Dense, 4)),
        hash_of(make_dense),
        hash_of(keras.layers.Dense(4)),  # an instance, used as a template
    }
    assert len(same) == 1


def test_a_factory_is_labelled_by_its_layer():
    assert Layer(lambda: keras.layers.Dense(4, activation="relu")).label == "Dense(4, relu)"


class Unrecorded(keras.layers.Layer):
    """A custom layer whose argument Keras cannot record (no get_config of its own)."""

    def __init__(self, table):
        super().__init__()
        self.table = table

    def call(self, inputs):
        return inputs


def test_a_factory_of_a_layer_without_config_falls_back_to_the_factory_name():
    def first():
        return Unrecorded(object())

    def second():
        return Unrecorded(object())

    with pytest.raises(NotImplementedError):
        first().get_config()
    assert Layer(first).signature() != Layer(second).signature()
    assert Layer(first).signature().startswith("Unrecorded[")


def factory_space(units: int) -> SearchSpace:
    """A load_space factory whose layer comes from a lambda (for the JSON check)."""
    return one_layer_space(lambda: keras.layers.Dense(units))


def test_architecture_json_notices_a_lambda_factory_that_now_builds_another_layer():
    space = load_space(f"{__name__}:factory_space", units=4)
    document = json.loads(space.architecture([1]).to_json())
    assert Architecture.from_json(json.dumps(document)).load_space().arch_hash([1])
    document["space"]["kwargs"]["units"] = 64
    with pytest.raises(SpaceError, match="now builds another model"):
        Architecture.from_json(json.dumps(document)).load_space()
