"""The four offline problems: data shapes and splits, and one tiny model beats chance."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from nas.problem import Problem, load_problem
from nas.train import train
from problems import covertype, time_series

PROBLEMS = ["breast_cancer", "covertype", "digits", "time_series"]

#: (train x shape, valid x shape, train y shape) of each problem.
SHAPES = {
    "breast_cancer": ((455, 30), (114, 30), (455,)),
    "covertype": ((96_000, 54), (24_000, 54), (96_000,)),
    "digits": ((1437, 8, 8, 1), (360, 8, 8, 1), (1437,)),
    "time_series": ((2079, 48, 1), (467, 48, 1), (2079, 24)),
}


@pytest.fixture(scope="module", params=PROBLEMS)
def problem(request) -> Problem:
    return load_problem(f"problems.{request.param}:problem")


def test_data_have_the_documented_shapes_and_no_missing_values(problem):
    data = problem.load_data()
    (x_train, y_train), (x_valid, y_valid) = data.train, data.valid
    train_shape, valid_shape, target_shape = SHAPES[problem.name]
    assert x_train.shape == train_shape and x_valid.shape == valid_shape
    assert y_train.shape == target_shape and len(y_valid) == valid_shape[0]
    assert x_train.dtype == np.float32 and x_valid.dtype == np.float32
    for array in (x_train, y_train, x_valid, y_valid):
        assert np.all(np.isfinite(array))
    assert problem.load_data() is data, "data are cached per process"


def test_the_space_matches_the_data_and_builds_a_model(problem):
    data = problem.load_data()
    space = problem.build_space()
    model = space.build(space.sample(np.random.default_rng(0)))
    assert tuple(model.input_shape[1:]) == data.train[0].shape[1:]
    outputs = model.output_shape[-1]
    if problem.loss == "sparse_categorical_crossentropy":
        assert outputs == len(np.unique(data.train[1]))
    else:
        assert outputs == data.train[1].shape[1]


def test_the_default_configuration_is_valid(problem):
    config = problem.hyperparameters.default()
    assert problem.hyperparameters.validate(config) == config
    assert config["epochs"] <= 10, "one evaluation should take seconds"


@pytest.mark.parametrize("name", ["breast_cancer", "covertype", "digits"])
def test_classification_splits_are_stratified_and_disjoint(name):
    data = load_problem(f"problems.{name}").load_data()
    y_train, y_valid = data.train[1], data.valid[1]
    train_frequencies = np.bincount(y_train) / len(y_train)
    valid_frequencies = np.bincount(y_valid, minlength=len(train_frequencies)) / len(y_valid)
    assert np.allclose(train_frequencies, valid_frequencies, atol=0.01)
    train_rows = {row.tobytes() for row in data.train[0].reshape(len(y_train), -1)}
    assert not any(row.tobytes() in train_rows for row in data.valid[0].reshape(len(y_valid), -1))
    # Chance: always answer the most frequent training class.
    majority = train_frequencies.argmax()
    assert data.baselines["majority_class"] == pytest.approx(valid_frequencies[majority])


def test_breast_cancer_is_standardised_with_training_statistics():
    data = load_problem("problems.breast_cancer").load_data()
    x_train, x_valid = data.train[0], data.valid[0]
    assert np.allclose(x_train.mean(axis=0), 0, atol=1e-5)
    assert np.allclose(x_train.std(axis=0), 1, atol=1e-3)
    # Validation data use the training statistics, so they are not exactly centred.
    assert not np.allclose(x_valid.mean(axis=0), 0, atol=1e-3)


def test_digits_are_scaled_to_the_unit_interval():
    x_train = load_problem("problems.digits").load_data().train[0]
    assert x_train.min() == 0.0 and x_train.max() == 1.0


def test_covertype_is_shaped_like_covertype():
    data = covertype.problem.load_data()
    x_train, y_train = data.train
    continuous, one_hot = x_train[:, :10], x_train[:, 10:]
    assert np.allclose(continuous.mean(axis=0), 0, atol=1e-3)
    assert set(np.unique(one_hot)) == {0.0, 1.0}
    # One wilderness area and one soil type per row.
    assert np.all(one_hot[:, :4].sum(axis=1) == 1) and np.all(one_hot[:, 4:].sum(axis=1) == 1)
    frequencies = np.bincount(y_train) / len(y_train)
    assert len(frequencies) == 7
    assert frequencies.argmax() == 1 and frequencies.argmin() == 3, "Covertype's imbalance"
    assert frequencies[1] > 0.4 and frequencies[3] < 0.02


def python_steps(function, *args) -> int:
    """The lines of Python run and the functions called while ``function(*args)`` runs:
    the interpreter's work, which, unlike seconds, does not depend on the machine."""
    steps = 0

    def count(frame, event, arg):
        nonlocal steps
        steps += event in ("call", "line", "c_call")
        return count if event == "call" else None

    trace, profile = sys.gettrace(), sys.getprofile()  # a coverage tool's, say
    sys.settrace(count)
    sys.setprofile(count)
    try:
        function(*args)
    finally:
        sys.setprofile(profile)
        sys.settrace(trace)
    return steps


def test_covertype_generation_is_seeded_and_fast():
    first = covertype.generate(2000, seed=1)
    second = covertype.generate(2000, seed=1)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert not np.array_equal(first[0], covertype.generate(2000, seed=2)[0])
    # Fast: vectorised, with no Python work per row (a loop over the rows runs at least
    # a line per row), so the problem's 120,000 rows take a moment.
    small = python_steps(covertype.generate, 2_000, 3)
    large = python_steps(covertype.generate, 40_000, 3)
    assert large - small < (40_000 - 2_000) / 100, (small, large)


def test_time_series_windows_never_cross_the_train_valid_boundary():
    # Windows of a series of time indices show which time steps each one holds.
    hours = np.arange(time_series.NUM_STEPS, dtype=np.float64)
    train_part, valid_part = time_series.split_series(hours, time_series.VALID_FRACTION)
    x_train, y_train = time_series.make_windows(train_part, 48, 24)
    x_valid, y_valid = time_series.make_windows(valid_part, 48, 24)
    last_seen_in_training = max(x_train.max(), y_train.max())
    assert last_seen_in_training < min(x_valid.min(), y_valid.min())
    # Chronological: targets follow their inputs directly.
    assert np.all(y_train[:, 0] == x_train[:, -1, 0] + 1)
    assert len(x_train) + len(x_valid) == time_series.NUM_STEPS - 2 * (48 + 24 - 1)


def test_time_series_is_standardised_with_training_statistics():
    data = time_series.problem.load_data()
    signal = time_series.generate_signal(time_series.NUM_STEPS, time_series.SEED)
    train_part, _ = time_series.split_series(signal, time_series.VALID_FRACTION)
    first_window = (signal[: time_series.LOOKBACK] - train_part.mean()) / train_part.std()
    assert np.allclose(data.train[0][0, :, 0], first_window, atol=1e-5)
    assert set(data.baselines) == {"mean", "persistence", "seasonal_naive"}
    assert data.baselines["seasonal_naive"] < data.baselines["mean"]


#: A small architecture per problem: the first candidate of every decision.
def tiny_architecture(problem: Problem) -> list[int]:
    return [0] * len(problem.build_space().choices)


@pytest.mark.slow
def test_a_tiny_architecture_beats_chance(problem):
    result = train(problem, tiny_architecture(problem), seed=0)
    assert result.ok, result.error
    baselines = problem.load_data().baselines
    if problem.direction == "max":
        assert result.objective > max(baselines.values()) + 0.1, (result.objective, baselines)
    else:
        naive = min(baselines["mean"], baselines["persistence"])
        assert result.objective < 0.5 * naive, (result.objective, baselines)
