"""Searches on synthetic objectives: no training, milliseconds per test."""

from __future__ import annotations

import numpy as np
import pytest

from nas.problem import Categorical, Float
from nas.search import Observation, RandomSearch, RegularizedEvolution

CHOICES = [5, 1, 4, 3, 6]
HYPERPARAMETERS = {"learning_rate": Float(1e-4, 1e-1, log=True), "epochs": 3}


def synthetic_score(arch_seq, hyperparameters) -> float:
    """Larger choices are better; a learning rate near 1e-2 is best."""
    return sum(arch_seq) - abs(np.log10(hyperparameters["learning_rate"]) + 2)


def run(search, budget: int, fail_every: int = 0) -> list[Observation]:
    history = []
    for step in range(budget):
        proposal = search.ask(1)[0]
        failed = fail_every and step % fail_every == 0
        score = None if failed else synthetic_score(proposal.arch_seq, proposal.hyperparameters)
        observation = Observation(proposal.arch_seq, proposal.hyperparameters, score)
        search.tell([observation])
        history.append(observation)
    return history


@pytest.mark.parametrize("search_class", [RandomSearch, RegularizedEvolution])
def test_proposals_are_valid_and_seeded(search_class):
    first = [p.arch_seq for p in search_class(CHOICES, HYPERPARAMETERS, seed=4).ask(20)]
    again = [p.arch_seq for p in search_class(CHOICES, HYPERPARAMETERS, seed=4).ask(20)]
    assert first == again
    for arch_seq in first:
        assert all(type(v) is int and 0 <= v < c for v, c in zip(arch_seq, CHOICES))


def test_population_never_exceeds_its_size_and_the_oldest_dies():
    search = RegularizedEvolution(CHOICES, HYPERPARAMETERS, population_size=8, sample_size=3)
    history = run(search, 30)
    assert len(search.population) == 8
    assert list(search.population) == history[-8:]  # the 22 oldest have died


def test_children_differ_from_their_parent_by_exactly_one_gene():
    search = RegularizedEvolution(CHOICES, HYPERPARAMETERS, population_size=6, sample_size=2)
    run(search, 6)
    for _ in range(200):
        parent = search.tournament_winner()
        child = search.mutate(parent)
        arch_changes = [
            i for i, (a, b) in enumerate(zip(parent.arch_seq, child.arch_seq)) if a != b
        ]
        hp_changed = (
            child.hyperparameters["learning_rate"] != parent.hyperparameters["learning_rate"]
        )
        assert len(arch_changes) + hp_changed == 1
        assert 1 not in arch_changes  # the single-candidate position is never mutated
        assert child.hyperparameters["epochs"] == 3  # constants are never mutated


def test_tournament_picks_the_best_of_its_sample():
    search = RegularizedEvolution([10], population_size=10, sample_size=10, seed=0)
    search.tell([Observation((i,), {}, float(i)) for i in range(10)])
    assert search.tournament_winner().arch_seq == (9,)


def test_failed_evaluations_never_enter_the_population():
    search = RegularizedEvolution(CHOICES, HYPERPARAMETERS, population_size=5, sample_size=2)
    run(search, 40, fail_every=2)
    assert len(search.population) == 5
    assert all(member.score is not None for member in search.population)


def test_evolution_beats_random_search_on_a_structured_objective():
    def best(search_class, seed, **kwargs):
        search = search_class(CHOICES, HYPERPARAMETERS, seed=seed, **kwargs)
        return max(o.score for o in run(search, 150))

    seeds = range(8)
    evolution = np.mean(
        [best(RegularizedEvolution, s, population_size=20, sample_size=5) for s in seeds]
    )
    random = np.mean([best(RandomSearch, s) for s in seeds])
    assert evolution > random + 0.3, (evolution, random)


def test_state_round_trip_resumes_the_same_proposals():
    search = RegularizedEvolution(
        CHOICES, HYPERPARAMETERS, population_size=4, sample_size=2, seed=1
    )
    history = run(search, 10)
    state = search.get_state()
    expected = search.ask(5)
    resumed = RegularizedEvolution(
        CHOICES, HYPERPARAMETERS, population_size=4, sample_size=2, seed=1
    )
    resumed.tell(history)
    resumed.set_state(state)
    assert resumed.ask(5) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"population_size": 5, "sample_size": 6},
            r"sample_size \(6\) must not exceed population_size \(5\)",
        ),
        ({"population_size": 0}, "population_size must be a positive int, got 0"),
        ({"sample_size": 2.5}, "sample_size must be a positive int, got 2.5"),
    ],
)
def test_bad_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RegularizedEvolution(CHOICES, **kwargs)


def test_bad_choices_and_counts_are_refused():
    with pytest.raises(ValueError, match="choices must be a list of positive ints"):
        RandomSearch([3, 0])
    with pytest.raises(ValueError, match="ask.n. needs a positive int, got 0"):
        RandomSearch([3]).ask(0)


def test_categorical_hyperparameters_are_searched_too():
    search = RandomSearch([], {"optimizer": Categorical(["adam", "sgd"])}, seed=0)
    assert {p.hyperparameters["optimizer"] for p in search.ask(30)} == {"adam", "sgd"}
    assert search.ask(1)[0].arch_seq == ()
