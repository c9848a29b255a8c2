"""No evaluation is wasted: no configuration is proposed twice, none that cannot be built.

"The same configuration" is an equal arch_seq with equal hyperparameter values. Small
finite spaces make repeats likely (AMBS's Latin hypercube of 10 points over 9
configurations must repeat one), so they are where these tests look.
"""

from __future__ import annotations

import itertools

import pytest

from nas.problem import Categorical, Float, Int
from nas.search import AMBS, AgEBO, Observation, RandomSearch, RegularizedEvolution
from nas.search._encoding import ConfigEncoder
from nas.space import AddByPadding, ConstantNode, Identity, SearchSpace, VariableNode, Zero

OPTIMIZER = {"optimizer": Categorical(["adam", "sgd", "rmsprop"])}


def score(proposal) -> float:
    return sum(proposal.arch_seq) + len(str(proposal.hyperparameters.get("optimizer", "")))


def run(search, budget: int, workers: int) -> list[Observation]:
    """Evaluate up to ``budget`` configurations as ``workers`` asynchronous workers would."""
    running = search.ask(workers)
    history = []
    while running and len(history) < budget:
        proposal = running.pop(0)
        observation = Observation(proposal.arch_seq, proposal.hyperparameters, score(proposal))
        search.tell([observation])
        history.append(observation)
        if len(history) + len(running) < budget:
            running += search.ask(1)
    return history


def configurations(history) -> list[tuple]:
    return [(o.arch_seq, tuple(sorted(o.hyperparameters.items()))) for o in history]


MODEL_BASED = {
    # num_initial=2: the surrogate proposes from the third result on; 10 (the default):
    # a Latin hypercube of 10 points over 9 configurations, which must repeat one.
    "ambs-surrogate": lambda seed: AMBS([3, 3], num_initial=2, seed=seed),
    "ambs-design": lambda seed: AMBS([3, 3], seed=seed),
    "agebo-evolution": lambda seed: AgEBO([3], OPTIMIZER, 2, 1, num_initial=2, seed=seed),
    "agebo-initial": lambda seed: AgEBO([3], OPTIMIZER, seed=seed),
}


@pytest.mark.parametrize("workers", [1, 4])
@pytest.mark.parametrize("make", MODEL_BASED.values(), ids=MODEL_BASED.keys())
def test_model_based_searches_propose_all_9_configurations_of_a_3x3_space(make, workers):
    for seed in range(3):
        search = make(seed)
        history = run(search, 9, workers)
        assert len(history) == 9
        assert len(set(configurations(history))) == 9, configurations(history)
        assert search.num_distinct == search.num_told == 9
        # Nothing is left: the search says so instead of repeating itself.
        assert search.ask(2) == [] and search.exhausted


@pytest.mark.parametrize("make", MODEL_BASED.values(), ids=MODEL_BASED.keys())
def test_running_configurations_are_not_proposed_again(make):
    search = make(0)
    proposals = search.ask(5) + search.ask(4)  # nothing told: all 9 are running
    assert len({(p.arch_seq, tuple(p.hyperparameters.items())) for p in proposals}) == 9
    assert search.ask(1) == [] and search.exhausted


def test_a_mixed_space_with_a_float_is_never_exhausted_nor_repeated():
    search = AMBS([2, 2], {"lr": Float(1e-3, 1e-1), "batch": Int(1, 2)}, num_initial=3, seed=0)
    history = run(search, 30, workers=3)
    assert len(set(configurations(history))) == 30
    assert not search.exhausted


# -- regularized evolution: a child already evaluated is mutated again --------------------


def evolution_with_a_taken_neighbour(seed: int) -> RegularizedEvolution:
    """Population {(0, 0): 1.0, (0, 1): 0.0}: the winner (0, 0) has two neighbours, and
    (0, 1) is already evaluated, so the only child worth proposing is (1, 0)."""
    search = RegularizedEvolution([2, 2], population_size=2, sample_size=2, seed=seed)
    search.tell([Observation((0, 0), {}, 1.0), Observation((0, 1), {}, 0.0)])
    return search


def test_the_plain_mutation_does_produce_the_evaluated_child():
    # What the retry is for: without it, about half the children would be (0, 1).
    children = set()
    for seed in range(20):
        search = evolution_with_a_taken_neighbour(seed)
        children.add(search.mutate(search.tournament_winner()).arch_seq)
    assert children == {(0, 1), (1, 0)}


def test_evolution_retries_a_mutation_whose_child_was_already_evaluated():
    for seed in range(20):
        assert [p.arch_seq for p in evolution_with_a_taken_neighbour(seed).ask(1)] == [(1, 0)]


def test_evolution_ends_when_every_configuration_is_taken():
    search = evolution_with_a_taken_neighbour(0)
    search.tell([Observation((1, 0), {}, 0.5)])
    # Every neighbour of the winner is taken: the bounded retries give way to the one
    # configuration left, then to nothing.
    assert [p.arch_seq for p in search.ask(3)] == [(1, 1)]
    assert search.exhausted and search.ask(1) == []


def test_evolution_over_a_larger_space_repeats_nothing():
    search = RegularizedEvolution([3, 3, 2], OPTIMIZER, population_size=6, sample_size=3, seed=1)
    history = run(search, 54, workers=3)  # every configuration of the space
    assert len(set(configurations(history))) == 54
    assert search.ask(1) == [] and search.exhausted


# -- validity: architectures the space cannot build are never proposed --------------------


def gated_space() -> SearchSpace:
    """x -> [Zero | Identity] -> merge (+ an optional skip from x) -> output merge.

    arch_seq (gate, skip): (0, 0) switches every path to the output off. No Keras.
    """
    space = SearchSpace({"x": (4,)})
    gate = space.add(VariableNode([Zero(), Identity()], "gate"), space.input())
    merge = space.add(ConstantNode(AddByPadding(), "merge"), gate)
    space.add_skip_connections(merge, [space.input()])
    return space


class GatedProblem:
    """The two things ``Search.for_problem`` reads from a problem."""

    hyperparameters = OPTIMIZER

    @staticmethod
    def build_space() -> SearchSpace:
        return gated_space()


SEARCHES = {
    "random": lambda: RandomSearch.for_problem(GatedProblem, seed=0),
    "regevo": lambda: RegularizedEvolution.for_problem(
        GatedProblem, population_size=2, sample_size=1, seed=0
    ),
    "ambs": lambda: AMBS.for_problem(GatedProblem, num_initial=2, seed=0),
    "agebo": lambda: AgEBO.for_problem(
        GatedProblem, population_size=2, sample_size=1, num_initial=2, seed=0
    ),
}


@pytest.mark.parametrize("make", SEARCHES.values(), ids=SEARCHES.keys())
def test_searches_made_for_a_problem_never_propose_an_unbuildable_architecture(make):
    assert gated_space().why_invalid([0, 0]) is not None
    search = make()
    history = run(search, 9, workers=2)  # 3 buildable architectures x 3 optimizers
    assert (0, 0) not in {o.arch_seq for o in history}
    assert len(history) == 9


@pytest.mark.parametrize("name", ["regevo", "ambs", "agebo"])
def test_the_buildable_configurations_are_all_proposed_then_the_search_ends(name):
    search = SEARCHES[name]()
    history = run(search, 12, workers=2)
    assert len(set(configurations(history))) == len(history) == 9
    assert search.exhausted


def test_a_search_without_the_predicate_may_propose_it():
    # The predicate is what keeps (0, 0) out: made by hand, a search does not know it.
    proposals = RandomSearch(gated_space().choices, seed=0).ask(40)
    assert (0, 0) in {p.arch_seq for p in proposals}


# -- counting distinct configurations ------------------------------------------------------


def test_num_distinct_counts_equal_configurations_once():
    search = RandomSearch([3], {"lr": Float(1e-3, 1e-1), "flag": Categorical([0, False])})
    search.tell(
        [
            Observation((1,), {"lr": 0.01, "flag": 0}, 1.0),
            Observation((1,), {"lr": 0.01, "flag": 0}, None),  # the same, failed this time
            Observation((1,), {"lr": 0.01, "flag": False}, 1.0),  # False is not 0
            Observation((2,), {"lr": 0.01, "flag": 0}, 1.0),
            Observation((1,), {"lr": 0.02, "flag": 0}, 1.0),
        ]
    )
    assert (search.num_told, search.num_distinct) == (5, 4)


# -- resume by replay stays exact ----------------------------------------------------------


RESUMABLE = {
    "ambs": lambda: AMBS([3, 3, 2], OPTIMIZER, num_initial=4, seed=3),
    "agebo": lambda: AgEBO([3, 3], OPTIMIZER, 4, 2, num_initial=4, seed=3),
    "regevo": lambda: RegularizedEvolution([3, 3, 2], OPTIMIZER, 4, 2, seed=3),
}


@pytest.mark.parametrize("make", RESUMABLE.values(), ids=RESUMABLE.keys())
def test_a_search_rebuilt_by_replay_proposes_what_the_original_would(make):
    original = make()
    running = original.ask(3)
    told = []
    for _ in range(25):  # a small space: by now many proposals would be repeats
        proposal = running.pop(0)
        told.append(Observation(proposal.arch_seq, proposal.hyperparameters, score(proposal)))
        original.tell(told[-1:])
        running += original.ask(1)
    state = original.get_state()
    expected = original.ask(3)

    resumed = make()
    resumed.tell(told)
    resumed.set_state(state)
    resumed.running(running)
    assert resumed.ask(3) == expected
    assert resumed.num_distinct == original.num_distinct == 25


def test_the_encoder_grid_enumerates_every_configuration_once():
    encoder = ConfigEncoder([3, 1, 2], {"opt": Categorical(["a", "b"]), "n": Int(2, 4), "c": 7})
    assert encoder.grid_size == 3 * 2 * 2 * 3
    grid = encoder.grid(range(encoder.grid_size))
    decoded = [encoder.decode(grid, index) for index in range(len(grid))]
    expected = {
        ((a, 0, b), (("opt", o), ("n", n), ("c", 7)))
        for a, b, o, n in itertools.product(range(3), range(2), "ab", range(2, 5))
    }
    assert {(arch, tuple(values.items())) for arch, values in decoded} == expected
    for index, (arch, values) in enumerate(decoded):  # features are those of encode
        assert (grid.features[index] == encoder.encode(arch, values).astype("float32")).all()
    assert ConfigEncoder([2], {"lr": Float(0.1, 1.0)}).grid_size is None
