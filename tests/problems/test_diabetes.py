"""The regression example: scikit-learn's diabetes set, offline, with a linear output."""

from __future__ import annotations

import numpy as np
import pytest

from nas.problem import load_problem


@pytest.fixture(scope="module")
def problem():
    return load_problem("problems.diabetes:problem")


def mean_predictor_mae(data) -> float:
    """What predicting the training mean for every patient scores on the validation set."""
    (_, y_train), (_, y_valid) = data.train, data.valid
    return float(np.mean(np.abs(y_valid - np.mean(y_train))))


def test_data_are_offline_split_raw_and_standardised_by_the_model(problem):
    data = problem.load_data()
    assert data.train[0].shape == (353, 10) and data.valid[0].shape == (89, 10)
    assert data.train[1].shape == (353,) and data.train[1].dtype == np.float32
    assert abs(data.train[1].mean()) < 1e-5 and abs(data.train[1].std() - 1) < 1e-5
    assert data.baselines["mean"] == pytest.approx(mean_predictor_mae(data))
    # The features are raw (ages in years, sex 1 or 2): the model standardises them.
    assert data.train[0][:, 0].max() > 50 and set(np.unique(data.train[0][:, 1])) == {1, 2}
    layer = problem.preprocessing_layers()["input"]
    standardised = np.asarray(layer(data.train[0]))
    assert np.allclose(standardised.mean(axis=0), 0, atol=1e-3)
    assert np.allclose(standardised.std(axis=0), 1, atol=1e-3)


def test_the_output_is_linear_because_the_loss_is_mse(problem):
    assert dict(problem.space_defaults) == {"output_activation": None}
    problem.check()
    space = problem.build_space()
    model = space.build(space.sample(np.random.default_rng(0)), problem.preprocessing_layers())
    assert model.get_layer("output").get_config()["activation"] == "linear"
    assert type(model.get_layer("input_preprocessing")).__name__ == "Normalization"
    assert "dropout" in problem.space_hyperparameters


@pytest.mark.slow
def test_a_short_search_beats_the_mean_predictor_clearly(problem, tmp_path):
    from nas import Study

    results = Study(
        problem,
        tmp_path,
        "random",
        3,
        evaluator="serial",
        seed=0,
        keep_models=0,
        progress=False,
    ).run()
    assert all(trial.result.ok for trial in results.trials)
    best = results.best(1)[0].result.objective
    baseline = mean_predictor_mae(problem.load_data())
    # A flat or saturated output would sit at the baseline (or above); a model that
    # learnt the features is well below it (about 0.5 of it here).
    assert best < 0.75 * baseline, (best, baseline)
