"""Regularized evolution with several objectives and constraints (issue 19): the
tournament's winner is the contestant first in the population's NSGA-II order; with one
objective the proposals are those of the single-objective rule, unchanged."""

from __future__ import annotations

from nas.search import Observation, RegularizedEvolution

#: The proposals of RegularizedEvolution([3, 4, 2, 5], population_size=6, sample_size=3,
#: seed=7) told score = sum(arch_seq) % 5 (every 7th from the 4th failed), recorded with
#: the single-objective code before several objectives existed.
BEFORE = [
    [2, 2, 1, 4],
    [1, 3, 1, 1],
    [0, 1, 0, 4],
    [2, 0, 0, 4],
    [0, 3, 0, 2],
    [2, 1, 0, 1],
    [2, 1, 1, 2],
    [1, 3, 1, 0],
    [2, 2, 0, 1],
    [0, 1, 1, 2],
    [2, 2, 0, 0],
    [2, 3, 1, 2],
    [0, 1, 1, 0],
    [0, 0, 1, 2],
    [2, 3, 0, 2],
    [2, 0, 1, 2],
    [0, 2, 1, 2],
    [0, 0, 0, 2],
    [2, 3, 1, 4],
    [2, 3, 0, 3],
    [2, 2, 0, 3],
    [1, 3, 0, 2],
    [0, 2, 0, 2],
    [0, 2, 0, 0],
    [2, 2, 0, 2],
    [2, 3, 0, 1],
    [2, 0, 0, 3],
    [2, 2, 1, 3],
    [0, 1, 0, 2],
    [1, 2, 0, 2],
    [1, 2, 1, 3],
    [1, 2, 0, 3],
    [0, 1, 0, 1],
    [1, 3, 1, 3],
    [0, 2, 1, 3],
    [0, 3, 1, 3],
    [0, 0, 1, 3],
    [2, 3, 1, 3],
    [0, 0, 1, 4],
    [0, 0, 1, 1],
]


def test_one_objective_proposes_what_it_did_before():
    search = RegularizedEvolution([3, 4, 2, 5], population_size=6, sample_size=3, seed=7)
    proposed = []
    for i in range(40):
        (proposal,) = search.ask(1)
        proposed.append(list(proposal.arch_seq))
        score = None if i % 7 == 3 else float(sum(proposal.arch_seq) % 5)
        search.tell([Observation(proposal.arch_seq, proposal.hyperparameters, score)])
    assert proposed == BEFORE


def population(search: RegularizedEvolution, members) -> None:
    """Tell search members (arch_seq, scores, violation), scores maximised."""
    search.tell(
        [
            Observation(arch, {}, scores[0], scores, violation)
            for arch, scores, violation in members
        ]
    )


def test_the_winner_is_first_by_violation_then_front_then_crowding():
    # Accuracy (max) against minus the parameters (max): a front of three (0, 1, 2),
    # one dominated (3), one infeasible that would dominate everything (4).
    members = [
        ((0,), (0.90, -300.0), 0.0),
        ((1,), (0.80, -100.0), 0.0),
        ((2,), (0.85, -200.0), 0.0),
        ((3,), (0.70, -400.0), 0.0),
        ((4,), (0.99, -10.0), 0.5),
    ]
    wins = {}
    for seed in range(60):
        search = RegularizedEvolution([5], population_size=5, sample_size=2, seed=seed)
        population(search, members)
        winner = search.tournament_winner().arch_seq[0]
        wins[winner] = wins.get(winner, 0) + 1
    # The extremes of the front (infinite crowding) win every pair they are in; 2 beats
    # 3 and 4; 3 (dominated) beats only the infeasible 4; 4 never wins.
    assert 4 not in wins
    assert set(wins) <= {0, 1, 2, 3}
    for seed in range(60):
        search = RegularizedEvolution([5], population_size=5, sample_size=5, seed=seed)
        population(search, members)
        # The whole population: the front's first extreme in trial order wins.
        assert search.tournament_winner().arch_seq == (0,)


def test_one_objective_with_a_constraint_ranks_infeasible_last():
    members = [((0,), (0.99,), 1.0), ((1,), (0.60,), 0.0), ((2,), (0.70,), 0.2)]
    search = RegularizedEvolution([3], population_size=3, sample_size=3, seed=0)
    population(search, members)
    assert search.tournament_winner().arch_seq == (1,)
