"""Several objectives and constraints: how a problem declares them, and how a trained
model's values are scored (issue 19). No training: the scoring is pure."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nas.exceptions import ProblemError
from nas.pareto import Constraint
from nas.problem import Objective, Problem
from nas.problem._objectives import scored
from problems.breast_cancer import compact_problem, load_data


def make(**changes):
    arguments = dict(
        space="spaces.dense_skip:dense_skip_space",
        space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 2},
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    arguments.update(changes)
    return Problem("p", load_data, **arguments)


def test_one_objective_is_the_common_case_and_its_direction_may_be_inferred():
    problem = make(objective="val_accuracy")
    assert problem.objectives == (Objective("val_accuracy", "max"),)
    assert (problem.objective, problem.direction) == ("val_accuracy", "max")
    assert problem.constraints == () and problem.measures == ()
    assert make().objectives == (Objective("val_loss", "min"),)


def test_several_objectives_as_a_dict_or_a_list():
    by_dict = make(objective={"num_parameters": "min", "val_accuracy": "max"})
    by_list = make(objective=["num_parameters", "val_accuracy"])
    assert (
        by_dict.objectives
        == by_list.objectives
        == (
            Objective("num_parameters", "min"),
            Objective("val_accuracy", "max"),
        )
    )
    # The first objective of the training history is the one early stopping watches.
    assert (by_dict.objective, by_dict.direction) == ("val_accuracy", "max")
    assert by_dict.measures == ("num_parameters",)


def test_constraints_name_what_must_be_measured():
    problem = make(
        objective=["val_accuracy", "latency_ms@8"],
        constraints=["flops <= 2e5", "val_accuracy >= 0.5", Constraint("saved_size", "<=", 1e7)],
    )
    assert [str(item) for item in problem.constraints] == [
        "flops <= 200000",
        "val_accuracy >= 0.5",
        "saved_size <= 1e+07",
    ]
    assert problem.measures == ("latency_ms@8", "flops", "saved_size")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"objective": {"val_accuracy": "max"}, "direction": "max"}, "leave direction out"),
        ({"objective": ["val_accuracy", "flops"], "direction": ["max"]}, "one per name"),
        ({"objective": ["val_accuracy", "val_accuracy"]}, "'val_accuracy' is listed twice"),
        ({"objective": []}, "lists no objective"),
        ({"objective": 3}, "objective must be a name, a list of names or a dict"),
        ({"objective": {"val_accuracy": "max", "flops": "max"}}, "'flops' is a cost"),
        ({"objective": {"flops": "min", "saved_size": "min"}}, "all measured properties"),
        ({"objective": ["val_accuracy", "latency"]}, "'latency' is not a validation entry"),
        ({"objective": ["val_accuracy", "latency_ms@0"]}, "'latency_ms@0' is not a validation"),
        ({"objective": "val_accuracy", "direction": "min"}, "should be maximised"),
        ({"constraints": ["params <= 10"]}, "bounds 'params', which is neither"),
        ({"constraints": ["flops < 10"]}, "'<' is not allowed"),
        ({"constraints": ["flops <= many"]}, "'many' is not a number"),
        ({"constraints": 5}, "constraints must be a list"),
    ],
)
def test_bad_objectives_and_constraints_are_refused_naming_them(changes, message):
    with pytest.raises(ProblemError, match=message.replace("(", r"\(").replace("[", r"\[")):
        make(**changes)


def test_a_model_is_scored_by_its_best_epochs_and_its_measures():
    problem = make(
        objective={"val_accuracy": "max", "num_parameters": "min"},
        constraints=["num_parameters <= 1000", "latency_ms <= 5", "val_loss <= 0.4"],
    )
    curve = {"val_accuracy": [0.8, None, 0.9, 0.85], "val_loss": [0.5, 0.45, 0.41, 0.6]}
    measures = {"num_parameters": 1500.0}
    values, violated, violation = scored(
        problem.objectives, problem.constraints, problem.history, curve, measures
    )
    assert values == {"val_accuracy": 0.9, "num_parameters": 1500.0}
    assert violated == [
        "num_parameters <= 1000 (was 1500)",
        "latency_ms <= 5 (was not measured)",
        "val_loss <= 0.4 (was 0.41)",
    ]
    assert math.isinf(violation)  # a missing measure is infinitely violated

    values, violated, violation = scored(
        problem.objectives,
        problem.constraints[:1],
        problem.history,
        curve,
        {"num_parameters": 1200.0},
    )
    assert violated == ["num_parameters <= 1000 (was 1200)"]
    assert violation == pytest.approx(0.2)


def test_the_shipped_problem_of_accuracy_against_size():
    assert [(o.name, o.direction) for o in compact_problem.objectives] == [
        ("val_accuracy", "max"),
        ("num_parameters", "min"),
    ]
    assert compact_problem.measures == ("num_parameters",)


@pytest.mark.slow
def test_training_measures_what_the_objectives_and_constraints_name():
    from nas.train import count_flops, train

    problem = make(
        objective={"val_accuracy": "max", "num_parameters": "min", "flops": "min"},
        constraints=["latency_ms@4 <= 1e6", "saved_size <= 100"],
        hyperparameters={"epochs": 2},
    )
    arch_seq = problem.build_space().sample(np.random.default_rng(0))
    result = train(problem, arch_seq, seed=0)
    assert result.ok, result.error
    assert result.objectives["val_accuracy"] == result.objective
    assert result.objectives["num_parameters"] == result.num_parameters
    model = problem.build_space().build(arch_seq)
    assert result.objectives["flops"] == count_flops(model)
    assert set(result.measures) == {"num_parameters", "flops", "latency_ms@4", "saved_size"}
    assert result.measures["latency_ms@4"] > 0
    # No model saved as .keras is 100 bytes: infeasible, and says why.
    assert result.violated == [f"saved_size <= 100 (was {result.measures['saved_size']:.6g})"]
    assert result.violation > 0
