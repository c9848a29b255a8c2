"""Hyperparameter kinds and spaces: construction checks, sampling, validation, encoding."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nas.exceptions import ProblemError
from nas.problem import Categorical, Constant, Float, HyperparameterSpace, Int


def make_space() -> HyperparameterSpace:
    return HyperparameterSpace(
        {
            "learning_rate": Float(1e-4, 1e-1, log=True),
            "dropout": Float(0.0, 0.5),
            "batch_size": Int(16, 256, log=True),
            "units": Int(1, 10),
            "optimizer": Categorical(["adam", "sgd", "rmsprop"]),
            "epochs": 3,
        }
    )


# -- construction ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "culprit"),
    [
        (lambda: Int(5, 5), "low=5 must be smaller than high=5"),
        (lambda: Int(6, 5), "low=6 must be smaller than high=5"),
        (lambda: Float(1.0, 0.5), "low=1.0 must be smaller than high=0.5"),
        (lambda: Int(1.5, 5), "low=1.5 must be a finite int"),
        (lambda: Int(1, True), "high=True must be a finite int"),
        (lambda: Float(0.0, math.inf), "high=inf must be a finite number"),
        (lambda: Float("0", 1.0), "low='0' must be a finite number"),
        (lambda: Float(0.0, 1.0, log=True), "log scale needs low > 0, got low=0.0"),
        (lambda: Int(-3, 4, log=True), "log scale needs low > 0, got low=-3"),
        (lambda: Float(0.1, 1.0, log="yes"), "log='yes' must be True or False"),
        (lambda: Int(1, 10, default=11), "invalid default"),
        (lambda: Float(0.1, 1.0, default=2.0), "invalid default"),
        (lambda: Categorical([]), "must not be empty"),
        (lambda: Categorical("adam"), "must be a list of values"),
        (lambda: Categorical(["adam", "sgd", "adam"]), "repeat 'adam'"),
        (lambda: Categorical([1, 1.0]), "repeat 1.0"),
        (lambda: Categorical([[1, 2], 3]), "choice [1, 2] (list) must be a str"),
        (lambda: Categorical(["a", "b"], default="c"), "invalid default"),
        (lambda: Constant([1, 2]), "[1, 2] (list) must be a str, number"),
        (lambda: HyperparameterSpace({"": 1}), "names must be non-empty str"),
        (lambda: HyperparameterSpace([("lr", 1)]), "must be a dict"),
    ],
)
def test_construction_rejects_bad_arguments_naming_them(make, culprit):
    with pytest.raises(ProblemError) as caught:
        make()
    assert culprit in str(caught.value)


def test_true_and_one_are_distinct_choices():
    choices = Categorical([True, 1])
    assert choices.validate("flag", 1) == 1 and choices.validate("flag", True) is True


def test_plain_values_become_constants():
    space = make_space()
    assert space["epochs"] == Constant(3)
    assert space.searched_names == ["learning_rate", "dropout", "batch_size", "units", "optimizer"]
    assert space.names[-1] == "epochs"


# -- defaults -------------------------------------------------------------------------


def test_defaults_are_midpoints_geometric_on_log_scales_and_first_choices():
    default = make_space().default()
    assert default["learning_rate"] == pytest.approx(math.sqrt(1e-4 * 1e-1))
    assert default["dropout"] == pytest.approx(0.25)
    assert default["batch_size"] == 64
    assert default["units"] == 5
    assert default["optimizer"] == "adam"
    assert default["epochs"] == 3


def test_explicit_defaults_win():
    space = HyperparameterSpace(
        {"lr": Float(1e-4, 1e-1, log=True, default=1e-3), "opt": Categorical(["a", "b"], "b")}
    )
    assert space.default() == {"lr": 1e-3, "opt": "b"}


# -- sampling -------------------------------------------------------------------------


def test_samples_respect_bounds_and_types():
    space = make_space()
    rng = np.random.default_rng(0)
    for _ in range(500):
        config = space.sample(rng)
        assert space.validate(config) == config
        assert isinstance(config["batch_size"], int) and isinstance(config["units"], int)
        assert isinstance(config["learning_rate"], float)
    values = {space.sample(rng)["units"] for _ in range(500)}
    assert values == set(range(1, 11)), "both ends of an Int are included"


def test_log_scale_samples_are_uniform_in_log_space():
    rng = np.random.default_rng(1)
    floats = np.array([Float(1e-4, 1.0, log=True).sample(rng) for _ in range(4000)])
    ints = np.array([Int(1, 1024, log=True).sample(rng) for _ in range(4000)])
    # Half the mass lies below the geometric mid-point (1e-2 and 32), not the linear one.
    assert np.mean(floats < 1e-2) == pytest.approx(0.5, abs=0.04)
    assert np.mean(ints <= 32) == pytest.approx(0.5, abs=0.04)
    assert np.mean(np.log10(floats) < -3) == pytest.approx(0.25, abs=0.04)


def test_linear_samples_are_uniform():
    rng = np.random.default_rng(2)
    floats = np.array([Float(0.0, 10.0).sample(rng) for _ in range(4000)])
    assert np.mean(floats < 5.0) == pytest.approx(0.5, abs=0.04)
    assert floats.min() >= 0.0 and floats.max() <= 10.0


def test_sampling_is_seeded():
    space = make_space()
    first = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    second = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    assert first == second


# -- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "culprit"),
    [
        ({"learning_rat": 0.01}, "unknown hyperparameter(s) ['learning_rat']"),
        ({"learning_rate": 1.0}, "'learning_rate' = 1.0 is out of range"),
        ({"learning_rate": "0.01"}, "'learning_rate' = '0.01' (str) must be a number"),
        ({"learning_rate": math.nan}, "'learning_rate' = nan is out of range"),
        ({"batch_size": 32.0}, "'batch_size' = 32.0 (float) must be an int"),
        ({"batch_size": True}, "'batch_size' = True (bool) must be an int"),
        ({"batch_size": 512}, "expected 16 <= value <= 256"),
        ({"optimizer": "adagrad"}, "'optimizer' = 'adagrad' is not one of"),
        ({"epochs": 4}, "'epochs' is fixed at 3 by the problem, got 4"),
    ],
)
def test_validate_rejects_bad_configs_naming_the_culprit(config, culprit):
    with pytest.raises(ProblemError) as caught:
        make_space().validate(config)
    assert culprit in str(caught.value)


def test_validate_fills_missing_names_with_defaults_and_plain_types():
    space = make_space()
    config = space.validate({"batch_size": np.int64(32), "units": 2, "dropout": 0})
    assert config == {**space.default(), "batch_size": 32, "units": 2, "dropout": 0.0}
    assert type(config["dropout"]) is float
    assert type(config["batch_size"]) is int and type(config["learning_rate"]) is float
    assert list(config) == space.names


def test_validate_rejects_non_mappings():
    with pytest.raises(ProblemError, match="must be a dict"):
        make_space().validate([("epochs", 3)])


# -- unit encoding --------------------------------------------------------------------


def test_unit_encoding_round_trips_samples():
    space = make_space()
    rng = np.random.default_rng(3)
    for _ in range(300):
        config = space.sample(rng)
        point = space.to_unit(config)
        assert point.shape == (5,) and np.all((point >= 0) & (point <= 1))
        decoded = space.from_unit(point)
        assert decoded["batch_size"] == config["batch_size"]
        assert decoded["optimizer"] == config["optimizer"]
        assert decoded["learning_rate"] == pytest.approx(config["learning_rate"], rel=1e-9)
        assert decoded["epochs"] == 3


def test_unit_encoding_is_log_scaled_and_categoricals_take_bin_centres():
    space = HyperparameterSpace(
        {"lr": Float(1e-4, 1.0, log=True), "opt": Categorical(["a", "b", "c", "d"])}
    )
    point = space.to_unit({"lr": 1e-2, "opt": "c"})
    assert point.tolist() == pytest.approx([0.5, 0.625])


def test_from_unit_maps_any_point_to_a_valid_config():
    space = make_space()
    rng = np.random.default_rng(4)
    corners = [np.zeros(5), np.ones(5), np.full(5, -3.0), np.full(5, 7.0)]
    for point in corners + [rng.random(5) for _ in range(200)]:
        config = space.from_unit(point)
        assert space.validate(config) == config


def test_from_unit_rejects_a_point_of_the_wrong_width():
    with pytest.raises(ProblemError, match=r"expected a point of shape \(5,\)"):
        make_space().from_unit([0.5, 0.5])


@given(
    low=st.integers(-1000, 1000),
    width=st.integers(1, 5000),
    log=st.booleans(),
    data=st.data(),
)
def test_int_encoding_is_exact(low, width, log, data):
    low = abs(low) + 1 if log else low
    hyperparameter = Int(low, low + width, log=log)
    value = data.draw(st.integers(low, low + width))
    unit = hyperparameter.to_unit(value)
    assert 0.0 <= unit <= 1.0
    assert hyperparameter.from_unit(unit) == value


@given(
    low=st.floats(1e-6, 1e3),
    ratio=st.floats(1.001, 1e6),
    log=st.booleans(),
    fraction=st.floats(0.0, 1.0),
)
def test_float_encoding_round_trips(low, ratio, log, fraction):
    hyperparameter = Float(low, low * ratio, log=log)
    value = hyperparameter.from_unit(fraction)
    assert low <= value <= low * ratio
    assert hyperparameter.to_unit(value) == pytest.approx(fraction, abs=1e-6)


# -- configuration round trip ---------------------------------------------------------


def test_space_config_round_trips_through_json():
    space = HyperparameterSpace(
        {
            **make_space(),
            "flag": Categorical([True, False, None], default=False),
            "lr2": Float(1e-3, 1.0, log=True, default=0.01),
        }
    )
    text = json.dumps(space.get_config())
    again = HyperparameterSpace.from_config(json.loads(text))
    assert dict(again) == dict(space)
    assert again.default() == space.default()


@pytest.mark.parametrize(
    ("config", "culprit"),
    [
        ({"kind": "int", "low": 1}, "lacks 'high'"),
        ({"kind": "gaussian"}, "no known 'kind'"),
        ({"low": 1, "high": 2}, "no known 'kind'"),
    ],
)
def test_from_config_rejects_bad_configs(config, culprit):
    with pytest.raises(ProblemError, match=culprit):
        HyperparameterSpace.from_config({"x": config})
