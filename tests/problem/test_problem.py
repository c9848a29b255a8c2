"""Problem definitions: early validation, caching, loading by import string."""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest

from nas.exceptions import ProblemError
from nas.problem import (
    LOSSES,
    METRICS,
    OPTIMIZERS,
    Categorical,
    Constant,
    Dataset,
    Float,
    Int,
    Problem,
    load_problem,
)

SPACE = "spaces.dense_skip:dense_skip_space"
SPACE_KWARGS = {"input_shape": [4], "output_units": 2, "num_layers": 1}


def tiny_dataset() -> Dataset:
    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    y = np.arange(10) % 2
    return Dataset(train=(x[:8], y[:8]), valid=(x[8:], y[8:]))


def make_problem(**changes):
    arguments = {
        "name": "tiny",
        "load_data": tiny_dataset,
        "space": SPACE,
        "space_kwargs": SPACE_KWARGS,
        "hyperparameters": {"learning_rate": Float(1e-4, 1e-1, log=True), "epochs": 2},
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
        "objective": "val_accuracy",
        "direction": "max",
    }
    arguments.update(changes)
    return Problem(**arguments)


# -- validation at construction -------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "culprit"),
    [
        ({"name": ""}, "name must be a non-empty str"),
        ({"load_data": "data.csv"}, "load_data must be callable, got 'data.csv'"),
        ({"space": "spaces.dense_skip"}, "space must be an import string 'module:function'"),
        ({"space": 42}, "got 42"),
        ({"space_kwargs": {"shape": object()}}, "space_kwargs must be JSON values"),
        ({"space_kwargs": [("input_shape", 4)]}, "space_kwargs must be a dict"),
        ({"hyperparameters": {"dropot": 0.5}}, "unknown hyperparameter 'dropot'"),
        ({"hyperparameters": {"lerning_rate": 0.1}}, "(did you mean 'learning_rate'?)"),
        ({"hyperparameters": {"lr": 0.01}}, "the trainer understands batch_size"),
        ({"hyperparameters": {"batch_size": Float(8.0, 64.0)}}, "'batch_size' = 8.0: expected"),
        ({"hyperparameters": {"batch_size": 0}}, "'batch_size' = 0: expected an int >= 1"),
        ({"hyperparameters": {"learning_rate": Float(0.0, 1.0)}}, "'learning_rate' = 0.0"),
        ({"hyperparameters": {"optimizer": "adamm"}}, "'optimizer' = 'adamm': expected one of"),
        ({"hyperparameters": {"optimizer": Categorical(["adam", "sgd2"])}}, "'sgd2'"),
        ({"hyperparameters": {"epochs": Int(0, 5)}}, "'epochs' = 0: expected an int >= 1"),
        ({"hyperparameters": {"patience": -1}}, "'patience' = -1: expected an int >= 0"),
        ({"loss": "cross_entropy"}, "unknown loss 'cross_entropy'"),
        ({"metrics": ["accuracy", "acuracy"]}, "unknown metric 'acuracy'"),
        ({"metrics": 3}, "metrics must be a list"),
        ({"direction": "maximize"}, "direction 'maximize' is neither 'max' nor 'min'"),
        ({"objective": "val_acc"}, "objective 'val_acc' is not a validation entry"),
        ({"objective": "accuracy"}, "expected one of ['val_loss', 'val_accuracy']"),
        ({"direction": "min"}, "objective 'val_accuracy' should be maximised"),
        ({"objective": "val_loss"}, "objective 'val_loss' should be minimised"),
    ],
)
def test_construction_rejects_bad_arguments_naming_them(changes, culprit):
    with pytest.raises(ProblemError) as caught:
        make_problem(**changes)
    assert culprit in str(caught.value)


def test_missing_training_hyperparameters_are_fixed_at_trainer_defaults():
    problem = make_problem()
    assert problem.hyperparameters.names == [
        "learning_rate",
        "epochs",
        "batch_size",
        "optimizer",
        "patience",
        "num_ranks",
        "lr_schedule",
        "lr_warmup_epochs",
        "lr_decay_rate",
        "lr_final_fraction",
    ]
    assert problem.hyperparameters["batch_size"] == Constant(32)
    assert problem.hyperparameters["num_ranks"] == Constant(1)
    assert problem.hyperparameters["optimizer"] == Constant("adam")
    assert problem.hyperparameters["lr_schedule"] == Constant("constant")
    assert problem.hyperparameters.default()["epochs"] == 2


def test_callables_are_accepted_for_space_loss_and_metrics():
    def my_error(y_true, y_pred):
        return (y_true - y_pred) ** 2

    problem = make_problem(
        space=lambda **kwargs: None,
        loss=my_error,
        metrics=[my_error],
        objective="val_my_error",
        direction="min",
    )
    assert problem.objective == "val_my_error"
    assert problem.is_better(0.1, than=0.2) and not problem.is_better(0.3, than=0.2)


# -- data and space -------------------------------------------------------------------


def test_load_data_is_cached_per_process():
    calls = []

    def load_data():
        calls.append(1)
        return tiny_dataset()

    problem = make_problem(load_data=load_data)
    assert problem.load_data() is problem.load_data()
    assert len(calls) == 1


def test_load_data_must_return_a_dataset():
    problem = make_problem(load_data=lambda: ((1, 2), (3, 4)))
    with pytest.raises(ProblemError, match="returned tuple, expected nas.problem.Dataset"):
        problem.load_data()


def test_load_data_errors_propagate_unchanged_and_are_not_cached():
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk not mounted")
        return tiny_dataset()

    problem = make_problem(load_data=flaky)
    with pytest.raises(OSError, match="disk not mounted"):
        problem.load_data()
    assert problem.load_data().num_train == 8


def test_build_space_is_cached_and_recorded():
    problem = make_problem()
    space = problem.build_space()
    assert space is problem.build_space()
    assert space.reference.factory == SPACE
    assert space.input_names == ["input"]


def test_build_space_rejects_a_factory_that_returns_something_else():
    problem = make_problem(space=lambda **kwargs: "not a space")
    with pytest.raises(ProblemError, match="returned str, expected nas.space.SearchSpace"):
        problem.build_space()


def test_pickling_drops_the_caches():
    problem = make_problem()
    problem.load_data()
    copy = pickle.loads(pickle.dumps(problem))
    assert copy._dataset is None and copy._search_space is None
    assert copy.load_data().num_valid == 2
    assert dict(copy.space_kwargs) == SPACE_KWARGS


@pytest.mark.parametrize(
    ("train", "valid", "culprit"),
    [
        ((np.zeros((3, 2)), np.zeros(4)), (np.zeros((1, 2)), np.zeros(1)), "shape (3, 2)"),
        ((np.zeros((3, 2)),), (np.zeros((1, 2)), np.zeros(1)), "train must be a pair (x, y)"),
        ((np.zeros((3, 2)), np.zeros(3)), (np.zeros((0, 2)), np.zeros(0)), "valid y must be"),
        (({"a": np.zeros((3, 2))}, np.zeros(3)), ({"b": np.zeros((1, 2))}, np.zeros(1)), "differ"),
        (({}, np.zeros(3)), ({}, np.zeros(1)), "empty dict"),
    ],
)
def test_dataset_checks_its_arrays(train, valid, culprit):
    with pytest.raises(ProblemError) as caught:
        Dataset(train=train, valid=valid)
    assert culprit in str(caught.value)


def test_dataset_rejects_a_nan_training_feature_naming_split_input_and_row():
    features = np.zeros((5, 3), dtype="float32")
    features[3, 2] = np.nan
    with pytest.raises(ProblemError) as caught:
        Dataset(
            train=({"features": features, "site": np.zeros((5, 1))}, np.zeros(5)),
            valid=({"features": np.zeros((2, 3)), "site": np.zeros((2, 1))}, np.zeros(2)),
        )
    assert str(caught.value).startswith(
        "Dataset train input 'features' holds nan at row 3, position (2,)"
    )


def test_dataset_rejects_an_infinite_validation_target_naming_split_and_row():
    targets = np.arange(4, dtype="float64")
    targets[1] = -np.inf
    with pytest.raises(ProblemError) as caught:
        Dataset(train=(np.zeros((3, 2)), np.zeros(3)), valid=(np.zeros((4, 2)), targets))
    assert str(caught.value).startswith("Dataset valid y holds -inf at row 1:")


def test_dataset_finds_a_non_finite_value_past_its_first_block_of_rows():
    # The check reads large arrays in blocks of rows: a value in a later block counts.
    x = np.zeros((70_000, 1), dtype="float32")
    x[69_999, 0] = np.inf
    with pytest.raises(ProblemError, match="Dataset train x holds inf at row 69999"):
        Dataset(train=(x, np.zeros(len(x))), valid=(x[:1], np.zeros(1)))


def test_dataset_accepts_integer_and_string_arrays_without_a_finiteness_check():
    labels = np.array(["cat", "dog", "cat"])
    data = Dataset(train=(np.arange(3)[:, None], labels), valid=(np.ones((1, 1), int), labels[:1]))
    assert data.num_train == 3


def test_dataset_rejects_non_finite_baselines():
    with pytest.raises(ProblemError, match="baseline 'mean' = nan"):
        Dataset(
            train=(np.zeros((2, 1)), [0, 1]),
            valid=(np.zeros((1, 1)), [0]),
            baselines={"mean": float("nan")},
        )


# -- load_problem ---------------------------------------------------------------------


@pytest.fixture
def problem_module(monkeypatch):
    module = types.ModuleType("my_problems")
    module.problem = make_problem()
    module.other = make_problem(name="other")
    module.not_a_problem = 42
    monkeypatch.setitem(sys.modules, "my_problems", module)
    return module


def test_load_problem_imports_and_records_the_reference(problem_module):
    problem = load_problem("my_problems:other")
    assert problem is problem_module.other
    assert problem.reference == "my_problems:other"


def test_load_problem_defaults_to_the_problem_attribute(problem_module):
    assert load_problem("my_problems") is problem_module.problem
    assert problem_module.problem.reference == "my_problems:problem"


@pytest.mark.parametrize(
    ("reference", "culprit"),
    [
        ("no_such_module_xyz:problem", "cannot import module 'no_such_module_xyz'"),
        ("my_problems:missing", "has no attribute 'missing'; its problems are"),
        ("my_problems:not_a_problem", "my_problems:not_a_problem is a int, not a"),
        ("a:b:c", "expected a problem as 'module:attribute'"),
        (":", "expected a problem as 'module:attribute'"),
    ],
)
def test_load_problem_errors_name_the_culprit(problem_module, reference, culprit):
    with pytest.raises(ProblemError) as caught:
        load_problem(reference)
    assert culprit in str(caught.value)


def test_importing_nas_problem_does_not_import_keras():
    import subprocess

    code = "import sys, nas.problem, nas.train, nas.cli; print('keras' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "False"


# -- load_problem from a file ---------------------------------------------------------

USER_PROBLEM = """
from nas.problem import Problem
from nas_test_user_data import load_data  # a module beside this file

problem = Problem("from_file", load_data, "spaces.dense_skip:dense_skip_space",
                  loss="sparse_categorical_crossentropy")
"""


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    """A user's folder with a problem file and the module it imports; the working folder
    is elsewhere, and the import path and modules are restored after."""
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "nas_test_user_problem.py").write_text(USER_PROBLEM)
    (folder / "nas_test_user_data.py").write_text("def load_data():\n    pass\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield folder
    for name in ("nas_test_user_problem", "nas_test_user_data"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("given", ["absolute", "relative"])
def test_load_problem_imports_a_file_from_anywhere(user_folder, given):
    path = user_folder / "nas_test_user_problem.py"
    reference = f"{path if given == 'absolute' else '../user/' + path.name}:problem"
    problem = load_problem(reference)
    assert problem.name == "from_file"
    # Workers and ranks are given the reference: it must not depend on the working folder.
    assert problem.reference == f"{path.resolve()}:problem"
    assert load_problem(problem.reference) is problem
    # Imported by name from its folder, so that spawned workers find what it defines.
    assert sys.modules["nas_test_user_problem"].problem is problem
    assert sys.path[0] == str(user_folder.resolve())


def test_load_problem_defaults_to_the_problem_of_a_file(user_folder):
    path = user_folder / "nas_test_user_problem.py"
    assert load_problem(str(path)).name == "from_file"


@pytest.mark.parametrize(
    ("name", "culprit"),
    [
        ("missing.py", "no file"),
        ("my-problem.py", "my-problem.py cannot be imported as a module; rename it"),
        ("json.py", "a module named 'json' is already imported"),  # the standard library's
    ],
)
def test_load_problem_names_what_is_wrong_with_a_file(user_folder, name, culprit):
    if name != "missing.py":
        (user_folder / name).write_text(USER_PROBLEM)
    with pytest.raises(ProblemError) as caught:
        load_problem(f"{user_folder / name}:problem")
    assert culprit in str(caught.value)


def test_a_module_not_found_says_where_it_was_looked_for(user_folder):
    with pytest.raises(ProblemError) as caught:
        load_problem("nas_test_user_problem:problem")  # not in the working folder
    assert "give a file as 'path/to/nas_test_user_problem.py:attribute'" in str(caught.value)


# -- the names known without Keras are the names Keras knows --------------------------


@pytest.mark.slow
def test_known_names_are_accepted_by_keras():
    from nas._imports import import_keras

    keras = import_keras()
    for name, class_name in OPTIMIZERS.items():
        assert isinstance(keras.optimizers.get(name), getattr(keras.optimizers, class_name))
    for name in LOSSES:
        assert keras.losses.get(name) is not None, name
    for name in METRICS - {"acc"}:  # compile() alone understands "acc"
        assert keras.metrics.get(name) is not None, name


def test_num_ranks_must_be_powers_of_two_given_as_choices():
    problem = make_problem(hyperparameters={"num_ranks": Categorical([1, 2, 4])})
    assert problem.hyperparameters["num_ranks"] == Categorical([1, 2, 4])
    with pytest.raises(ProblemError, match=r"'num_ranks' = 3: expected a power of two >= 1"):
        make_problem(hyperparameters={"num_ranks": Categorical([1, 3])})
    with pytest.raises(ProblemError, match=r"'num_ranks' = Int\(1, 4, .*Categorical of powers"):
        make_problem(hyperparameters={"num_ranks": Int(1, 4)})
