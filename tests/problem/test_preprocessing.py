"""Preprocessing travels with the model: raw rows in, the space's inputs out."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from nas.exceptions import ProblemError, SpaceError
from nas.problem import Dataset, Problem, _preprocessing, normalize

SPACE = "spaces.dense_skip:dense_skip_space"
SPACE_KWARGS = {"input_shape": [4], "output_units": 2, "num_layers": 2}
#: Raw features far from standardised: offsets and scales of very different sizes,
#: and a constant column.
SCALE = np.array([1.0, 100.0, 0.01, 1.0])
OFFSET = np.array([0.0, 500.0, -3.0, 7.0])


def raw_rows(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(count, 4))
    z[:, 3] = 0.0
    x = (z * SCALE + OFFSET).astype(np.float32)
    y = (z[:, 0] + z[:, 1] > 0).astype(np.int64)
    return x, y


def raw_dataset() -> Dataset:
    return Dataset(train=raw_rows(64, 0), valid=raw_rows(32, 1))


def make_problem(**changes) -> Problem:
    arguments = {
        "name": "raw",
        "load_data": raw_dataset,
        "space": SPACE,
        "space_kwargs": SPACE_KWARGS,
        "hyperparameters": {"epochs": 1, "batch_size": 16},
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
        "objective": "val_accuracy",
        "direction": "max",
        "preprocessing": normalize(),
    }
    arguments.update(changes)
    return Problem(**arguments)


def a_model(problem: Problem):
    space = problem.build_space()
    return space.build(space.sample(np.random.default_rng(0)), problem.preprocessing_layers())


def test_a_built_model_standardises_raw_inputs_with_the_training_statistics():
    problem = make_problem()
    problem.check()
    model = a_model(problem)
    layer = model.get_layer("input_preprocessing")
    assert type(layer).__name__ == "Normalization"
    assert model.inputs[0].name == "input" and tuple(model.inputs[0].shape) == (None, 4)
    x_train = problem.load_data().train[0]
    config = layer.get_config()
    assert np.allclose(config["mean"], x_train.mean(axis=0, dtype=np.float64))
    variance = x_train.var(axis=0, dtype=np.float64)
    assert np.allclose(config["variance"][:3], variance[:3], rtol=1e-6)
    assert config["variance"][3] == 1.0  # constant: centred only, never divided by zero
    standardised = np.asarray(layer(x_train))
    assert np.allclose(standardised[:, :3].mean(axis=0), 0, atol=1e-4)
    assert np.allclose(standardised[:, :3].std(axis=0), 1, atol=1e-3)
    assert np.all(standardised[:, 3] == 0)


def test_each_model_gets_its_own_copy_and_the_factory_runs_once():
    calls = []

    def counted(dataset):
        calls.append(dataset)
        return normalize()(dataset)

    problem = make_problem(preprocessing=counted)
    first, second = a_model(problem), a_model(problem)
    assert len(calls) == 1 and calls[0] is problem.load_data()
    assert first.get_layer("input_preprocessing") is not second.get_layer("input_preprocessing")


def test_statistics_are_computed_block_by_block_on_memory_mapped_data(monkeypatch, tmp_path):
    monkeypatch.setattr(_preprocessing, "_STATISTICS_ROWS", 7)
    x = np.random.default_rng(3).normal(5.0, 3.0, size=(100, 3, 2))
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    mean, variance = _preprocessing.feature_statistics(mapped)
    assert np.allclose(mean, x.reshape(-1, 2).mean(axis=0))
    assert np.allclose(variance, x.reshape(-1, 2).var(axis=0))


def test_an_adapted_layer_is_copied_with_its_statistics():
    import keras

    def adapted(dataset):
        layer = keras.layers.Normalization()
        layer.adapt(dataset.train[0])
        return {"input": layer}

    problem = make_problem(preprocessing=adapted)
    x_train = problem.load_data().train[0]
    layer = a_model(problem).get_layer("input_preprocessing")
    standardised = np.asarray(layer(x_train))
    assert np.allclose(standardised[:, :3].mean(axis=0), 0, atol=1e-3)


def test_problems_without_preprocessing_build_and_hash_as_before():
    problem = make_problem(preprocessing=None)
    assert problem.preprocessing_layers() == {}
    space = problem.build_space()
    arch_seq = space.sample(np.random.default_rng(0))
    plain, preprocessed = space.build(arch_seq), a_model(make_problem())
    assert "input_preprocessing" not in [layer.name for layer in plain.layers]
    assert "input_preprocessing" in [layer.name for layer in preprocessed.layers]
    # The hash is of the space's structure; preprocessing leaves it alone.
    assert space.arch_hash(arch_seq) == make_problem().build_space().arch_hash(arch_seq)


def test_a_problem_with_preprocessing_pickles_without_its_layers():
    problem = make_problem()
    a_model(problem)
    copy = pickle.loads(pickle.dumps(problem))
    assert copy._preprocessing_layers is None and copy.preprocessing is not None
    assert "input_preprocessing" in [layer.name for layer in a_model(copy).layers]


@pytest.mark.parametrize(
    ("factory", "returned"),
    [
        (lambda dataset: dataset.train[0].mean(axis=0), "returned ndarray"),
        (lambda dataset: {"input": "scale"}, "returned str for input 'input'"),
        (lambda dataset: {"pixels": normalize()(dataset)}, "a layer for 'pixels'"),
    ],
)
def test_a_factory_returning_the_wrong_thing_is_named_in_one_line(factory, returned):
    problem = make_problem(preprocessing=factory)
    with pytest.raises(ProblemError) as caught:
        problem.check()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("preprocessing of problem 'raw' returned")
    assert returned in message
    assert "expected a keras.layers.Layer" in message and "['input']" in message


def test_a_layer_that_changes_the_shape_is_refused():
    import keras

    problem = make_problem(preprocessing=lambda dataset: keras.layers.Dense(3))
    with pytest.raises(ProblemError, match=r"turns samples of shape \(4,\) into \(3,\)"):
        problem.check()
    space = problem.build_space()
    with pytest.raises(SpaceError, match="must keep its input's shape"):
        space.build(space.sample(np.random.default_rng(0)), {"input": keras.layers.Dense(3)})


def test_preprocessing_must_be_callable_and_normalize_checks_its_inputs():
    with pytest.raises(ProblemError, match="preprocessing must be a function"):
        make_problem(preprocessing="standardise")
    with pytest.raises(ProblemError, match="no input 'age'"):
        normalize(["age"])(Dataset(**_named()))
    layers = normalize()(Dataset(**_named()))
    assert sorted(layers) == ["a", "b"]  # the boolean input is left as it is


def _named() -> dict:
    x = {
        "a": np.ones((4, 2), dtype=np.float32),
        "b": np.arange(4).reshape(4, 1),
        "flag": np.zeros((4, 1), dtype=bool),
    }
    return {"train": (x, np.zeros(4)), "valid": (x, np.zeros(4))}


@pytest.mark.slow
def test_a_saved_model_predicts_on_raw_rows_as_the_trained_one_did(tmp_path):
    import keras

    from nas.train import train

    trained = []

    def keep(model, hyperparameters):
        trained.append(model)
        return model

    problem = make_problem(build_model=keep)
    arch_seq = problem.build_space().sample(np.random.default_rng(0))
    path = tmp_path / "model.keras"
    result = train(problem, arch_seq, seed=0, model_path=path)
    assert result.ok, result.error
    rows, _ = raw_rows(16, 7)  # new raw rows, never standardised by anyone
    loaded = keras.saving.load_model(path)
    expected = trained[0].predict(rows, verbose=0)
    assert np.allclose(loaded.predict(rows, verbose=0), expected, atol=1e-6)
    assert "input_preprocessing" in [layer.name for layer in loaded.layers]


@pytest.mark.slow
def test_an_exported_model_of_a_study_predicts_on_raw_rows(tmp_path):
    import keras

    from nas import Study
    from nas.export import export_best

    problem = make_problem()
    Study(
        problem, tmp_path / "search", "random", 1, evaluator="serial", seed=0, progress=False
    ).run()
    (exported,) = export_best(tmp_path / "search", top=1, problem=problem)
    model = keras.saving.load_model(exported.folder / "model.keras")
    rows, _ = raw_rows(16, 7)
    # The same model built and given standardised rows, with the trained weights.
    rebuilt = problem.build_space().build(exported.trial.config.arch_seq)
    rebuilt.set_weights(model.get_weights())
    x_train = problem.load_data().train[0].astype(np.float64)
    variance = x_train.var(axis=0)
    variance[variance == 0] = 1
    standardised = ((rows - x_train.mean(axis=0)) / np.sqrt(variance)).astype(np.float32)
    assert np.allclose(
        model.predict(rows, verbose=0), rebuilt.predict(standardised, verbose=0), atol=1e-5
    )


def test_a_saved_architecture_rebuilds_with_the_problems_preprocessing():
    from nas.space import Architecture

    problem = make_problem()
    space = problem.build_space()
    arch_seq = space.sample(np.random.default_rng(0))
    text = Architecture.of(space, arch_seq).to_json()
    rebuilt = Architecture.from_json(text).build(problem.preprocessing_layers())
    original = space.build(arch_seq, problem.preprocessing_layers())
    assert rebuilt.get_layer("input_preprocessing").get_config() == (
        original.get_layer("input_preprocessing").get_config()
    )
    assert rebuilt.count_params() == original.count_params()
