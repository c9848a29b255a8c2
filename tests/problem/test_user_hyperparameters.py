"""Hyperparameters of one's own (issue 17, 3): declared like the trainer's, searched like
them, and given to the space factory and to the problem's ``build_model``."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from nas.exceptions import ProblemError
from nas.problem import Categorical, Dataset, Float, Int, Problem
from nas.search import SEARCHES
from nas.train import train

SPACE = "spaces.dense_skip:dense_skip_space"
#: dense_skip with two layers: [layer0, skip, layer1, skip, skip]; 1 is a Dense layer.
DENSE_DENSE = [1, 0, 1, 0, 0]


def load_data() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 6)).astype(np.float32)
    y = (x[:, 0] - 2 * x[:, 1]).astype(np.float32)
    return Dataset(train=(x[:64], y[:64]), valid=(x[64:], y[64:]))


def make_problem(hyperparameters, **changes) -> Problem:
    arguments = {
        "space_kwargs": {
            "input_shape": [6],
            "output_units": 1,
            "num_layers": 2,
            "activations": ["relu"],
        },
        "loss": "mse",
        "metrics": ["mae"],
        "objective": "val_mae",
        "direction": "min",
    }
    arguments.update(changes)
    return Problem(
        "own_hyperparameters",
        load_data,
        SPACE,
        hyperparameters={"epochs": 1, "batch_size": 16, **hyperparameters},
        **arguments,
    )


def test_a_user_hyperparameter_reaches_the_space_factory_and_changes_the_model():
    problem = make_problem({"units": Int(8, 64, default=8)})
    assert problem.space_hyperparameters == ("units",)
    assert problem.hyperparameters.default()["units"] == 8
    narrow = problem.build_space({"units": 8}).build(DENSE_DENSE)
    wide = problem.build_space({"units": 64}).build(DENSE_DENSE)
    assert narrow.get_layer("layer0").units == 8 and wide.get_layer("layer0").units == 64
    assert narrow.count_params() < wide.count_params()
    # The search sees one space: the decisions do not depend on the value.
    assert problem.build_space({"units": 64}).choices == problem.build_space().choices
    assert problem.build_space({"units": 64}) is problem.build_space({"units": 64})


def test_training_builds_the_configurations_model():
    problem = make_problem({"units": Int(8, 64), "dropout": Float(0.0, 0.5)})
    narrow = train(problem, DENSE_DENSE, {"units": 8, "dropout": 0.0})
    wide = train(problem, DENSE_DENSE, {"units": 64, "dropout": 0.25})
    assert narrow.ok and wide.ok, (narrow.error, wide.error)
    assert narrow.num_parameters < wide.num_parameters
    assert wide.hyperparameters["units"] == 64 and wide.hyperparameters["dropout"] == 0.25


def test_dropout_adds_dropout_layers_of_that_rate():
    problem = make_problem({"dropout": Categorical([0.0, 0.3])})
    assert not [
        layer
        for layer in problem.build_space().build(DENSE_DENSE).layers
        if "dropout" in layer.name
    ]
    model = problem.build_space({"dropout": 0.3}).build(DENSE_DENSE)
    rates = [layer.rate for layer in model.layers if layer.name.startswith("dropout")]
    assert rates == [0.3, 0.3]


def test_build_model_gets_every_hyperparameter_and_its_model_is_trained():
    import keras

    seen = []

    def add_weight_decay(model, hyperparameters):
        seen.append(hyperparameters)
        penalty = keras.regularizers.L2(hyperparameters["weight_decay"])
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dense):
                layer.kernel.regularizer = penalty
        return model

    problem = make_problem(
        {"weight_decay": Float(1e-5, 1e-1, log=True), "units": 16}, build_model=add_weight_decay
    )
    assert problem.space_hyperparameters == ("units",)  # weight_decay is build_model's
    light = train(problem, DENSE_DENSE, {"weight_decay": 1e-5}, epochs=1)
    heavy = train(problem, DENSE_DENSE, {"weight_decay": 1e-1}, epochs=1)
    assert light.ok and heavy.ok
    assert [h["weight_decay"] for h in seen] == [1e-5, 1e-1]
    assert seen[0]["units"] == 16 and seen[0]["learning_rate"] == 1e-3
    # The penalty is part of the loss the model trained on.
    assert heavy.learning_curve["loss"][0] > light.learning_curve["loss"][0]


def test_build_model_must_return_a_model():
    problem = make_problem({"scale": 2.0}, build_model=lambda model, hp: "not a model")
    result = train(problem, DENSE_DENSE)
    assert result.error == (
        "ProblemError: build_model of problem 'own_hyperparameters' returned str, expected a "
        "keras.Model (or None to keep the model it was given)"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"hyperparameters": {"dropuot": 0.1}},
            "unknown hyperparameter 'dropuot': the trainer understands batch_size, "
            "learning_rate, optimizer, epochs, patience, num_ranks",
        ),
        ({"hyperparameters": {"batch_sise": 8}}, "(did you mean 'batch_size'?)"),
        (
            {"hyperparameters": {"units": Int(8, 64)}, "space_kwargs": {"input_shape": [6]}},
            None,
        ),
        (
            {
                "hyperparameters": {"units": Int(8, 64)},
                "space_kwargs": {"input_shape": [6], "output_units": 1, "units": [8]},
            },
            "'units' is both a hyperparameter and in space_kwargs: give it in one place",
        ),
        ({"hyperparameters": {"batch_size": 0}}, "'batch_size' = 0: expected an int >= 1"),
    ],
)
def test_declarations_are_checked_when_the_problem_is_made(changes, message):
    hyperparameters = changes.pop("hyperparameters")
    if message is None:
        make_problem(hyperparameters, **changes)
        return
    with pytest.raises(ProblemError) as caught:
        make_problem(hyperparameters, **changes)
    assert message in str(caught.value)


def test_the_unknown_name_message_lists_what_the_factory_takes():
    with pytest.raises(ProblemError) as caught:
        make_problem({"width": 8})
    assert (
        "the space factory spaces.dense_skip:dense_skip_space takes activations, dropout, "
        "input_shape, merge_activation, num_anchors, num_layers, output_activation, "
        "output_units, units; and the problem has no build_model to read it"
    ) in str(caught.value)


def test_a_hyperparameter_that_changes_the_decisions_is_refused_naming_it():
    problem = make_problem(
        {"num_layers": Int(1, 3, default=2)}, space_kwargs={"input_shape": [6], "output_units": 1}
    )
    assert problem.build_space({"num_layers": 2}) is problem.build_space()
    with pytest.raises(ProblemError) as caught:
        problem.build_space({"num_layers": 3})
    assert "hyperparameters {'num_layers': 3} change the decisions of the space" in str(
        caught.value
    )


def test_a_problem_with_own_hyperparameters_survives_pickling():
    problem = make_problem({"units": Int(8, 64)})
    copy = pickle.loads(pickle.dumps(problem))
    assert copy.space_hyperparameters == ("units",)
    assert copy.build_space({"units": 12}).build(DENSE_DENSE).get_layer("layer0").units == 12


@pytest.mark.parametrize("name", ["random", "regevo", "ambs", "agebo"])
def test_every_search_samples_user_hyperparameters(name):
    problem = make_problem({"units": Int(8, 64), "dropout": Categorical([0.0, 0.1, 0.2])})
    search = SEARCHES.get(name).for_problem(problem, seed=0)
    proposals = search.ask(12)
    units = {proposal.hyperparameters["units"] for proposal in proposals}
    dropouts = {proposal.hyperparameters["dropout"] for proposal in proposals}
    assert len(units) > 3 and all(8 <= value <= 64 for value in units)
    assert dropouts <= {0.0, 0.1, 0.2} and len(dropouts) > 1


@pytest.mark.slow
def test_a_short_search_trains_models_of_the_sampled_widths(tmp_path):
    from nas import Study
    from nas.search import RandomSearch

    problem = make_problem({"units": Categorical([4, 64]), "dropout": Float(0.0, 0.3)})
    search = RandomSearch.for_problem(problem, seed=1)
    results = Study(
        problem, tmp_path, search, 4, evaluator="serial", keep_models=0, progress=False
    ).run()
    trials = results.trials
    assert len(trials) == 4 and all(trial.result.ok for trial in trials)
    by_width = {}
    for trial in trials:
        config = trial.config
        by_width.setdefault(config.hyperparameters["units"], set()).add(
            (tuple(config.arch_seq), trial.result.num_parameters)
        )
        # What the trial recorded is what was trained: rebuild it and count.
        space = problem.build_space(config.hyperparameters)
        assert space.build(config.arch_seq).count_params() == trial.result.num_parameters
    assert set(by_width) == {4, 64}


@pytest.mark.slow
def test_a_model_of_ones_own_class_trains_with_its_own_train_step():
    # A custom train_step, as Keras documents it: a subclass of keras.Model over the
    # built graph, returned by build_model; the trainer fits it like any model.
    import keras

    class OwnStep(keras.Model):
        def train_step(self, data):
            logs = super().train_step(data)
            return {**logs, "own_step": 1.0}

    def own_step(model, hyperparameters):
        return OwnStep(inputs=model.inputs, outputs=model.outputs)

    problem = make_problem({"units": 16}, build_model=own_step)
    result = train(problem, DENSE_DENSE, epochs=2)
    assert result.ok, result.error
    assert result.learning_curve["own_step"] == [1.0, 1.0]
    assert result.objective is not None
