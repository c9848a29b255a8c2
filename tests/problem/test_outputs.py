"""Outputs that follow the loss, and a space checked against the data (issue 17, 2 and 5).

Written as a user would: a Problem made in a notebook, mistakes refused with one line.
"""

from __future__ import annotations

import numpy as np
import pytest

from nas.exceptions import ProblemError
from nas.problem import LOSSES, Dataset, Problem
from nas.problem._outputs import UNKNOWN, activation_for_loss
from nas.train import Stage, Status, train

SPACE = "spaces.dense_skip:dense_skip_space"


def regression_data(num_features: int = 8, targets: int | None = None):
    def load_data() -> Dataset:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(60, num_features)).astype(np.float32)
        y = x.sum(axis=1)
        if targets is not None:
            y = np.stack([y] * targets, axis=1)
        return Dataset(train=(x[:50], y[:50]), valid=(x[50:], y[50:]))

    return load_data


def classes_data(num_classes: int = 3):
    def load_data() -> Dataset:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(60, 8)).astype(np.float32)
        y = np.arange(60) % num_classes
        return Dataset(train=(x[:50], y[:50]), valid=(x[50:], y[50:]))

    return load_data


def regression_problem(load_data=None, loss="mse", **space_kwargs) -> Problem:
    kwargs = {"input_shape": [8], "output_units": 1, "num_layers": 2, **space_kwargs}
    return Problem(
        "house_prices",
        load_data or regression_data(),
        SPACE,
        space_kwargs=kwargs,
        hyperparameters={"epochs": 2},
        loss=loss,
        metrics=["mae"],
        objective="val_mae",
        direction="min",
    )


def classification_problem(loss="sparse_categorical_crossentropy", **space_kwargs) -> Problem:
    kwargs = {"input_shape": [8], "output_units": 3, "num_layers": 2, **space_kwargs}
    return Problem(
        "species",
        classes_data(),
        SPACE,
        space_kwargs=kwargs,
        hyperparameters={"epochs": 2},
        loss=loss,
        metrics=["accuracy"],
        objective="val_accuracy",
        direction="max",
    )


def output_activation(problem: Problem):
    model = problem.build_space().build([0] * len(problem.build_space().choices))
    return model.get_layer("output").get_config()["activation"]


# -- the output activation follows the loss ------------------------------------------


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        ("mse", None),
        ("mae", None),
        ("huber", None),
        ("msle", None),
        ("mean_squared_error", None),
        ("sparse_categorical_crossentropy", "softmax"),
        ("categorical_crossentropy", "softmax"),
        ("binary_crossentropy", "sigmoid"),
    ],
)
def test_the_activation_a_loss_expects(loss, expected):
    assert activation_for_loss(loss) == expected


def test_every_loss_a_problem_accepts_has_the_activation_it_expects():
    # A loss added to LOSSES without a category would make its output activation unknown.
    unknown = [loss for loss in sorted(LOSSES) if activation_for_loss(loss) == UNKNOWN]
    assert unknown == []


def test_keras_loss_objects_are_known_by_name_and_logits_mean_linear():
    import keras

    assert activation_for_loss(keras.losses.MeanSquaredError()) is None
    assert activation_for_loss(keras.losses.mean_absolute_error) is None
    assert activation_for_loss(keras.losses.BinaryCrossentropy()) == "sigmoid"
    assert (
        activation_for_loss(keras.losses.SparseCategoricalCrossentropy(from_logits=True)) is None
    )


def test_a_regression_problem_gets_a_linear_output_without_saying_so():
    # dense_skip_space's own default is softmax: one unit of it would always say 1.0.
    problem = regression_problem()
    assert dict(problem.space_defaults) == {"output_activation": None}
    assert dict(problem.space_kwargs) == {"input_shape": [8], "output_units": 1, "num_layers": 2}
    assert output_activation(problem) == "linear"
    # Saved architectures record the activation, so they rebuild the same model.
    assert problem.build_space().reference.kwargs["output_activation"] is None


def test_a_binary_problem_gets_a_sigmoid_and_a_multiclass_one_a_softmax():
    binary = regression_problem(loss="binary_crossentropy", output_units=1)
    assert output_activation(binary) == "sigmoid"
    assert output_activation(classification_problem()) == "softmax"


def test_a_linear_output_with_a_logits_loss_is_accepted():
    import keras

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    problem = classification_problem(loss=loss, output_activation=None)
    assert output_activation(problem) == "linear"


# -- and what cannot fit is refused when the problem is made --------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: regression_problem(output_activation="softmax"),
            "output of space spaces.dense_skip:dense_skip_space has activation 'softmax' on "
            "1 unit with loss 'mse': a softmax over one unit predicts 1.0",
        ),
        (
            lambda: regression_problem(loss="mae", output_activation="sigmoid"),
            "has activation 'sigmoid' on 1 unit with loss 'mae': a regression loss needs a "
            "linear output",
        ),
        (
            lambda: regression_problem(loss="huber", output_units=3, output_activation="softmax"),
            "has activation 'softmax' on 3 units with loss 'huber'",
        ),
        (
            lambda: classification_problem(output_units=1),
            "'softmax' on 1 unit with loss 'sparse_categorical_crossentropy': a softmax over "
            "one unit predicts 1.0 whatever the input; set output_units to the number of classes",
        ),
        (
            lambda: classification_problem(output_activation=None),
            "has activation 'linear' on 3 units with loss 'sparse_categorical_crossentropy': "
            "a cross-entropy loss expects probabilities",
        ),
    ],
)
def test_an_output_that_cannot_fit_the_loss_is_refused_in_one_line(make, message):
    with pytest.raises(ProblemError) as caught:
        make()
    text = str(caught.value)
    assert message in text and "\n" not in text
    assert text.startswith("Problem ")


def test_the_space_factory_alone_refuses_a_softmax_over_one_unit():
    from spaces.dense_skip import dense_skip_space

    with pytest.raises(ValueError, match="'softmax' on output_units=1 predicts 1.0"):
        dense_skip_space((8,), 1)
    assert dense_skip_space((8,), 1, output_activation=None).choices


def test_a_space_without_output_arguments_is_checked_on_its_built_model():
    from nas.space import ConstantNode, Layer, SearchSpace

    def softmax_space(**kwargs):
        space = SearchSpace({"input": (8,)})
        output = ConstantNode(Layer("Dense", units=1, activation="softmax"), "price")
        space.add(output, space.input())
        return space

    problem = Problem(
        "prices",
        regression_data(),
        softmax_space,
        loss="mse",
        metrics=["mae"],
        objective="val_mae",
        direction="min",
    )
    with pytest.raises(ProblemError, match="output 'price' has activation 'softmax' on 1 unit"):
        problem.check()


# -- the space against the data -------------------------------------------------------


def test_check_names_an_input_whose_shape_differs_from_the_data():
    problem = regression_problem(input_shape=[9])  # the data have 8 features
    with pytest.raises(ProblemError) as caught:
        problem.check()
    assert str(caught.value) == (
        "Problem 'house_prices': space input 'input' takes samples of shape (9,) but the "
        "data's x has samples of shape (8,)"
    )


def test_check_names_an_output_whose_width_differs_from_the_targets():
    problem = regression_problem(regression_data(targets=3))  # output_units=1
    with pytest.raises(ProblemError) as caught:
        problem.check()
    assert str(caught.value) == (
        "Problem 'house_prices': space output 'output' gives samples of shape (1,) but y has "
        "samples of shape (3,): set output_units to the number of target columns"
    )


def test_check_names_class_indices_beyond_the_output_units():
    problem = classification_problem(output_units=2)  # the labels are 0, 1, 2
    with pytest.raises(ProblemError, match="'output' has 2 units but y holds class indices "):
        problem.check()


def test_check_says_categorical_crossentropy_wants_one_hot_targets():
    problem = classification_problem(loss="categorical_crossentropy")  # y: class indices
    with pytest.raises(ProblemError) as caught:
        problem.check()
    assert str(caught.value).endswith(
        "space output 'output' gives samples of shape (3,) but y has samples of shape (): "
        "one-hot targets, or loss='sparse_categorical_crossentropy' for class indices"
    )


def test_check_passes_a_problem_that_fits():
    regression_problem().check()
    classification_problem().check()


def test_training_a_mismatched_problem_fails_with_the_same_line_not_a_keras_message():
    problem = regression_problem(input_shape=[9])
    arch_seq = problem.build_space().sample(np.random.default_rng(0))
    result = train(problem, arch_seq, epochs=1)
    assert result.status is Status.FAILED and result.error_stage is Stage.DATA
    assert result.error == (
        "ProblemError: space input 'input' takes samples of shape (9,) but the data's x has "
        "samples of shape (8,)"
    )


# -- several outputs, y keyed by output name ------------------------------------------


def two_output_space(hidden_units: int = 8, price_activation=None):
    from nas.space import ConstantNode, Layer, SearchSpace, VariableNode

    space = SearchSpace({"input": (8,)})
    hidden = space.add(
        VariableNode([Layer("Dense", units=hidden_units, activation=a) for a in ("relu", "tanh")]),
        space.input(),
    )
    price = space.add(
        ConstantNode(Layer("Dense", units=1, activation=price_activation), "price"), hidden
    )
    kind = space.add(ConstantNode(Layer("Dense", units=3, activation="softmax"), "kind"), hidden)
    space.set_outputs(price, kind)
    return space


def two_targets(names=("price", "kind"), classes: int = 3):
    def load_data() -> Dataset:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(90, 8)).astype(np.float32)
        y = {names[0]: x[:, 0] + x[:, 1], names[1]: (x[:, 2] > 0).astype(int) + (x[:, 3] > 1)}
        y[names[1]] = np.minimum(y[names[1]], classes - 1)
        split = {name: (values[:72], values[72:]) for name, values in y.items()}
        return Dataset(
            train=(x[:72], {name: pair[0] for name, pair in split.items()}),
            valid=(x[72:], {name: pair[1] for name, pair in split.items()}),
        )

    return load_data


def two_output_problem(load_data=None, loss=None, **changes) -> Problem:
    arguments = {
        "loss": loss or {"price": "mse", "kind": "sparse_categorical_crossentropy"},
        "metrics": {"price": ["mae"], "kind": ["accuracy"]},
        "objective": "val_price_mae",
        "direction": "min",
        "hyperparameters": {"epochs": 2, "learning_rate": 0.01},
    }
    arguments.update(changes)
    return Problem("shop", load_data or two_targets(), two_output_space, **arguments)


def test_several_outputs_train_on_targets_keyed_by_output_name():
    problem = two_output_problem()
    assert problem.load_data().output_names == ["kind", "price"]
    problem.check()
    result = train(problem, [0])
    assert result.ok, result.error
    assert {"val_price_mae", "val_kind_accuracy", "val_kind_loss"} <= set(result.learning_curve)
    assert result.objective == min(result.learning_curve["val_price_mae"])


@pytest.mark.slow
def test_a_search_of_two_outputs_ranks_by_one_outputs_metric(tmp_path):
    import nas

    problem = two_output_problem(objective="val_kind_accuracy", direction="max")
    results = nas.Study(
        problem,
        tmp_path / "shop",
        "random",
        max_evals=4,
        evaluator="process",
        num_workers=2,
        seed=0,
        progress=False,
    ).run()
    assert [trial.result.status.value for trial in results.trials] == ["ok"] * 4
    for trial in results.trials:
        curve = trial.result.learning_curve
        assert {"val_kind_accuracy", "val_price_mae"} <= set(curve)
        assert trial.result.objective == max(curve["val_kind_accuracy"])
    table = nas.load_results(tmp_path / "shop").to_dataframe()
    assert len(table) == 4 and table["objective"].notna().all()


def test_an_objective_on_one_output_is_checked_against_its_metrics():
    two_output_problem(objective="val_kind_accuracy", direction="max")
    with pytest.raises(ProblemError, match="'val_kind_accuracy' should be maximised"):
        two_output_problem(objective="val_kind_accuracy", direction="min")
    with pytest.raises(ProblemError, match="expected one of .*'val_price_loss', 'val_kind_loss'"):
        two_output_problem(objective="val_price_accuracy")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"load_data": two_targets(names=("cost", "kind"))},
            "the data's outputs ['cost', 'kind'] do not match the space's ['kind', 'price']",
        ),
        (
            {"loss": {"price": "mse", "type": "sparse_categorical_crossentropy"}},
            "the problem gives losses for outputs ['price', 'type'] but the space's outputs "
            "are ['kind', 'price']",
        ),
        (
            {"loss": {"price": "binary_crossentropy", "kind": "sparse_categorical_crossentropy"}},
            "output 'price' has activation 'linear' on 1 unit with loss 'binary_crossentropy'",
        ),
        (
            {"load_data": regression_data()},
            "the space has outputs ['price', 'kind'] but the data's y is one array",
        ),
    ],
)
def test_several_outputs_mismatches_are_named(changes, message):
    if "metrics" not in changes and "loss" in changes:
        changes["metrics"] = {name: ["mae"] for name in changes["loss"]}
        changes["objective"] = "val_loss"
    problem = two_output_problem(**changes)
    with pytest.raises(ProblemError) as caught:
        problem.check()
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_dataset_with_targets_keyed_by_name_checks_them():
    x = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ProblemError, match="Dataset train y 'b' has 3 samples but the other"):
        Dataset(train=(x, {"a": np.zeros(4), "b": np.zeros(3)}), valid=(x, {"a": np.zeros(4)}))
    with pytest.raises(ProblemError, match="train outputs \\['a'\\] and valid outputs \\['b'\\]"):
        Dataset(train=(x, {"a": np.zeros(4)}), valid=(x, {"b": np.zeros(4)}))
    with pytest.raises(ProblemError, match="Dataset valid y 'a' holds nan at row 1"):
        Dataset(train=(x, {"a": np.zeros(4)}), valid=(x, {"a": np.array([0, np.nan, 0, 0])}))
    data = Dataset(train=(x, {"a": np.zeros(4)}), valid=(x[:2], {"a": np.zeros(2)}))
    assert (data.num_train, data.num_valid, data.output_names) == (4, 2, ["a"])
