"""AgEBO and AMBS on synthetic objectives: no training, a second or so per search run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nas.problem import Categorical, Float, HyperparameterSpace, Int
from nas.search import AMBS, SEARCHES, AgEBO, Observation, RandomSearch
from nas.search._encoding import ConfigEncoder

CHOICES = [5, 1, 4, 3, 6]
HYPERPARAMETERS = {
    "learning_rate": Float(1e-5, 1e-1, log=True),
    "batch_size": Int(16, 1024, log=True),
    "dropout": Float(0.0, 0.5),
    "optimizer": Categorical(["adam", "sgd", "rmsprop"]),
    "epochs": 3,
}
OPTIMIZER_BONUS = {"adam": 0.5, "sgd": 0.0, "rmsprop": 0.25}


def structured_score(arch_seq, hyperparameters) -> float:
    """Smooth in the (log-scaled) numbers, a bonus per optimizer, plus arch terms.

    The best is 0.5 + 1.4: learning rate 10**-2.5, batch size 64, dropout 0.1, adam,
    and the largest candidate at every decision.
    """
    score = -((math.log10(hyperparameters["learning_rate"]) + 2.5) ** 2)
    score -= ((math.log2(hyperparameters["batch_size"]) - 6) / 2) ** 2
    score -= 8 * (hyperparameters["dropout"] - 0.1) ** 2
    return score + OPTIMIZER_BONUS[hyperparameters["optimizer"]] + 0.1 * sum(arch_seq)


def run(search, budget: int, workers: int = 4, score=structured_score) -> list[Observation]:
    """Evaluate ``budget`` configurations as ``workers`` asynchronous workers would."""
    running = search.ask(workers)
    history = []
    while len(history) < budget:
        proposal = running.pop(0)
        observation = Observation(
            proposal.arch_seq,
            proposal.hyperparameters,
            score(proposal.arch_seq, proposal.hyperparameters),
        )
        search.tell([observation])
        history.append(observation)
        running += search.ask(1)
    return history


def mean_best(make_search, seeds, budget: int, workers: int = 4) -> float:
    bests = [max(o.score for o in run(make_search(s), budget, workers)) for s in seeds]
    return float(np.mean(bests))


def test_agebo_beats_random_search_and_its_own_evolution_alone():
    # Measured over 32 seeds, for each group of 8: AgEBO 0.46 to 0.60 above random
    # search, and 0.27 to 0.72 above the same evolution with random hyperparameters
    # (num_initial beyond the budget: the surrogate never proposes); for these seeds
    # 1.64 against 1.04 and 0.92. The margins leave room for other library versions.
    seeds = range(8)
    agebo = mean_best(lambda s: AgEBO(CHOICES, HYPERPARAMETERS, 20, 5, seed=s), seeds, 60)
    random = mean_best(lambda s: RandomSearch(CHOICES, HYPERPARAMETERS, seed=s), seeds, 60)
    evolution_alone = mean_best(
        lambda s: AgEBO(CHOICES, HYPERPARAMETERS, 20, 5, num_initial=10**6, seed=s), seeds, 60
    )
    assert agebo > random + 0.2, (agebo, random)
    assert agebo > evolution_alone + 0.1, (agebo, evolution_alone)


def test_ambs_beats_random_search_on_a_hyperparameter_problem():
    # Measured over 32 seeds with 8 workers: AMBS 0.18 above random on average, 0.13
    # to 0.25 for each group of 8 seeds (0.49 against 0.23 for these). Some runs settle on
    # the second-best optimizer and stay there (see docs/benchmarks.md).
    seeds = range(8)
    ambs = mean_best(lambda s: AMBS([], HYPERPARAMETERS, seed=s), seeds, 100, workers=8)
    random = mean_best(lambda s: RandomSearch([], HYPERPARAMETERS, seed=s), seeds, 100)
    assert ambs > random + 0.08, (ambs, random)


@pytest.mark.parametrize(
    "make_search",
    [
        lambda: AgEBO(CHOICES, HYPERPARAMETERS, 10, 3, seed=3),
        lambda: AMBS(CHOICES, HYPERPARAMETERS, seed=3),
    ],
    ids=["agebo", "ambs"],
)
def test_constant_liar_gives_distinct_proposals_in_one_batch(make_search):
    search = make_search()
    run(search, 20)
    batch = search.ask(8)
    keys = {json.dumps([p.arch_seq, p.hyperparameters], sort_keys=True) for p in batch}
    assert len(keys) == 8
    for proposal in batch:
        HyperparameterSpace(HYPERPARAMETERS).validate(proposal.hyperparameters)
        assert all(0 <= v < c for v, c in zip(proposal.arch_seq, CHOICES))


def test_a_pessimistic_lie_spreads_a_batch_more_than_an_optimistic_one():
    encoder = ConfigEncoder([], HYPERPARAMETERS)

    def spread(liar: str) -> float:
        distances = []
        for seed in range(4):
            search = AMBS([], HYPERPARAMETERS, liar=liar, seed=seed)
            run(search, 25)
            rows = np.array([encoder.encode((), p.hyperparameters) for p in search.ask(8)])
            pairs = np.linalg.norm(rows[:, None] - rows[None], axis=-1)
            distances.append(pairs[np.triu_indices(8, 1)].mean())
        return float(np.mean(distances))

    # Measured over 24 seeds: the worst lie spread every batch more than the best, by
    # 0.79 to 0.94 on average per group of 4 seeds (1.18 against 0.24 for these).
    assert spread("worst") > spread("best") + 0.4


def test_proposals_still_running_count_as_lies_until_told():
    search = AMBS([], HYPERPARAMETERS, seed=0)
    run(search, 15)  # leaves four proposals running
    first = [search.ask(1)[0] for _ in range(4)]  # four more workers, asked one by one
    assert len({json.dumps(p.hyperparameters, sort_keys=True) for p in first}) == 4
    assert search.optimizer.num_pending == 8
    search.tell([Observation(p.arch_seq, p.hyperparameters, 0.0) for p in first[:3]])
    assert search.optimizer.num_pending == 5


def test_categoricals_are_one_hot_and_log_scales_are_measured_in_log_space():
    space = {
        "optimizer": Categorical(["adam", "sgd", "rmsprop"]),
        "learning_rate": Float(1e-4, 1.0, log=True),
        "batch_size": Int(16, 256, log=True),
        "units": Int(1, 10),
        "epochs": 3,
    }
    encoder = ConfigEncoder([4, 1, 2], space)
    row = encoder.encode(
        (3, 0, 1), {"optimizer": "sgd", "learning_rate": 1e-2, "batch_size": 64, "units": 3}
    )
    # Decisions 0 and 2 (ordinal), sgd one-hot, 1e-2 half-way between 1e-4 and 1 in
    # log space, then the ints' unit values; the constant takes no column.
    expected = [1.0, 1.0, 0.0, 1.0, 0.0, 0.5]
    expected += [space["batch_size"].to_unit(64), space["units"].to_unit(3)]
    np.testing.assert_allclose(row, expected)

    candidates = encoder.sample(4000, np.random.default_rng(0))
    decoded = [encoder.decode(candidates, i) for i in range(len(candidates))]
    encoded = np.array([encoder.encode(arch, values) for arch, values in decoded])
    np.testing.assert_allclose(candidates.features, encoded, atol=1e-6)  # float32
    rates = np.array([values["learning_rate"] for _, values in decoded])
    assert abs(np.median(np.log10(rates)) + 2) < 0.1  # log-uniform: median near 1e-2
    counts = np.bincount(candidates.draws[2], minlength=3)  # the optimizer's choices
    assert counts.min() > 1200


def test_latin_hypercube_initial_points_cover_each_dimension_evenly():
    search = AMBS([], {"learning_rate": Float(1e-5, 1e-1, log=True), "x": Float(0, 1)}, seed=0)
    points = search.ask(10)
    deciles = [int((math.log10(p.hyperparameters["learning_rate"]) + 5) / 4 * 10) for p in points]
    assert sorted(deciles) == list(range(10))
    assert sorted(int(p.hyperparameters["x"] * 10) for p in points) == list(range(10))


def test_failed_evaluations_are_penalised_not_lost():
    def fails_above_1e_3(arch_seq, hyperparameters):
        if hyperparameters["learning_rate"] > 1e-3:
            return None  # diverged
        return structured_score(arch_seq, hyperparameters)

    search = AMBS([], HYPERPARAMETERS, seed=0)
    history = run(search, 60, score=fails_above_1e_3)
    later = history[30:]
    failed = sum(o.score is None for o in later) / len(later)
    # Random search fails half the time here (1e-3 is the log-midpoint of the range);
    # measured over 16 seeds, AMBS 0% to 10% of its later proposals (10% for seed 0),
    # near the best learning rate, 3e-3, just past the edge.
    assert failed < 0.25, failed
    everything_fails = AMBS([], HYPERPARAMETERS, seed=0)
    run(everything_fails, 15, score=lambda a, h: None)
    assert len(everything_fails.ask(3)) == 3  # no model without a success: random


@pytest.mark.parametrize(
    "make_search",
    [
        lambda seed: AgEBO(CHOICES, HYPERPARAMETERS, 8, 3, num_initial=5, seed=seed),
        lambda seed: AMBS(CHOICES, HYPERPARAMETERS, num_initial=5, seed=seed),
    ],
    ids=["agebo", "ambs"],
)
def test_state_round_trip_and_replayed_results_resume_the_same_proposals(make_search):
    search = make_search(1)
    history = []
    for step in range(30):
        batch = search.ask(3 if step % 10 == 0 else 1)
        results = [
            Observation(
                p.arch_seq,
                p.hyperparameters,
                None if step % 7 == 3 else structured_score(p.arch_seq, p.hyperparameters),
            )
            for p in batch
        ]
        search.tell(results)  # nothing is left running: the state is all there is
        history += results
    state = json.loads(json.dumps(search.get_state()))  # as the journal keeps it
    expected = search.ask(5)
    resumed = make_search(None)  # everything needed must come from the state
    resumed.tell(history)
    resumed.set_state(state)
    assert resumed.ask(5) == expected


def test_the_state_does_not_grow_with_the_proposals_running():
    # The driver journals the state with every submitted configuration.
    search = AgEBO(CHOICES, HYPERPARAMETERS, 8, 3, num_initial=5, seed=2)
    run(search, 20)
    before = search.get_state()
    search.ask(64)
    after = search.get_state()
    assert after.keys() == before.keys() and after["optimizer"] == before["optimizer"]
    assert len(json.dumps(after)) < 500


@pytest.mark.parametrize(
    ("make_search", "message"),
    [
        (lambda: AgEBO(CHOICES, HYPERPARAMETERS, kappa=-1), "kappa must be a number >= 0, got -1"),
        (lambda: AMBS([], HYPERPARAMETERS, kappa=math.inf), "kappa must be finite, got inf"),
        (lambda: AMBS([], HYPERPARAMETERS, num_initial=0), "num_initial must be a positive int"),
        (lambda: AgEBO(CHOICES, HYPERPARAMETERS, num_candidates=2.5), "got 2.5"),
        (lambda: AMBS([], HYPERPARAMETERS, num_trees=True), "num_trees must be a positive int"),
        (lambda: AMBS([], HYPERPARAMETERS, liar="optimistic"), "liar must be one of"),
        (lambda: AMBS([], HYPERPARAMETERS, initial="sobol"), r"\['lhs', 'random'\], got 'sobol'"),
        (
            lambda: AgEBO(CHOICES, HYPERPARAMETERS, population_size=5, sample_size=6),
            r"sample_size \(6\) must not exceed population_size \(5\)",
        ),
        (lambda: AgEBO(CHOICES, {"epochs": 3}), "none to tune .* use RegularizedEvolution"),
        (lambda: AMBS([1, 1], {"epochs": 3}), "AMBS has nothing to search"),
    ],
)
def test_bad_parameters_are_refused_with_the_value(make_search, message):
    with pytest.raises(ValueError, match=message):
        make_search()


def test_both_are_registered_for_the_driver():
    assert SEARCHES["agebo"] is AgEBO
    assert SEARCHES["ambs"] is AMBS
