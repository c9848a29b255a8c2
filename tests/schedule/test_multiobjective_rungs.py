"""Rungs ranked by several objectives and constraints (MO-ASHA): ASHA and successive
halving; and one objective ranked exactly as before. Pure, no training."""

from __future__ import annotations

import math
from typing import Any

import pytest
from multifidelity_runs import ListSearch, qualities, random_search

from nas.schedule import ASHA, Job, Segment, SuccessiveHalving
from nas.schedule._rungs import Rung

# Nine configurations: (accuracy, parameters in millions, violation). The objectives as
# told, oriented so that larger is better, are (accuracy, -parameters).
RUNG = [
    (0.90, 5.0, 0.0),  # 0  front 0, an extreme (most accurate feasible)
    (0.88, 4.0, 0.0),  # 1  front 0
    (0.80, 2.0, 0.0),  # 2  front 0, the least crowded inner point
    (0.70, 1.2, 0.0),  # 3  front 0
    (0.60, 0.2, 0.0),  # 4  front 0, an extreme (smallest)
    (0.75, 4.0, 0.0),  # 5  front 1 (dominated by 1 and 2)
    (0.50, 6.0, 0.0),  # 6  front 2: dominated by every other configuration
    (0.95, 0.1, 0.5),  # 7  infeasible: it would dominate everything else
    (0.65, 2.5, 0.0),  # 8  front 1 (dominated by 2)
]
# They finish in this order (configuration ids): 4 arrives before 0.
ARRIVALS = [7, 4, 6, 3, 8, 0, 1, 5, 2]

# The expected ranking, by hand:
# * 7 breaks a constraint: last of all, whatever its objectives.
# * Feasible fronts: front 0 = {0, 1, 2, 3, 4} (accuracy falls as size falls); 5 is
#   dominated by 1 (better accuracy, same size), 8 by 2; 5 and 8 do not dominate each
#   other: front 1 = {5, 8}; 6 is dominated by 5: front 2 = {6}.
# * Crowding distance in front 0, minimised points (-accuracy, parameters):
#   -accuracy sorted 0, 1, 2, 3, 4 (-0.90 ... -0.60), range 0.30: 0 and 4 are extremes
#   (infinite); 1: (0.90 - 0.80) / 0.30 = 0.333; 2: (0.88 - 0.70) / 0.30 = 0.600;
#   3: (0.80 - 0.60) / 0.30 = 0.667.
#   parameters sorted 4, 3, 2, 1, 0 (0.2 ... 5.0), range 4.8: 4 and 0 extremes;
#   3: (2.0 - 0.2) / 4.8 = 0.375; 2: (4.0 - 1.2) / 4.8 = 0.583; 1: (5.0 - 2.0) / 4.8 = 0.625.
#   Totals: 0 and 4 infinite, 2: 1.183, 3: 1.042, 1: 0.958.
# * Ties (the extremes 0 and 4; 5 and 8, a front of two, both infinite): the earlier
#   arrival first: 4 before 0, 8 before 5.
EXPECTED_RANKING = [4, 0, 2, 3, 1, 8, 5, 6, 7]
# eta = 3: the top floor(9 / 3) = 3 are promoted, best first. By accuracy alone they
# would be 7 (infeasible), 0 and 1.
EXPECTED_PROMOTED = [4, 0, 2]


def segment(trial_id: int, job: Job, row: tuple[float, float, float]) -> Segment:
    accuracy, params, violation = row
    return Segment(
        trial_id,
        job,
        0,
        job.epochs or 1,
        accuracy,
        scores=(accuracy, -params),
        violation=violation,
    )


def test_asha_promotes_by_constraint_then_front_then_crowding():
    search = ListSearch(qualities(*[0.5] * 9))
    scheduler = ASHA(search, 1, 9, 3, max_configurations=9)
    jobs = scheduler.ask(9)
    assert [job.info["config"] for job in jobs] == list(range(9))
    for trial_id, config in enumerate(ARRIVALS):
        scheduler.tell([segment(trial_id, jobs[config], RUNG[config])])
    rung = scheduler.rungs[0]
    assert rung.ranked_by_front
    assert sorted(range(9), key=rung.rank) == EXPECTED_RANKING
    promoted = scheduler.ask(9)  # no new configuration: max_configurations started
    assert [job.info["config"] for job in promoted] == EXPECTED_PROMOTED
    assert [job.info["start"] for job in promoted] == ["promoted"] * 3
    assert [job.info["start_reason"] for job in promoted] == [
        f"rank {rank} of 9 at rung 0" for rank in (1, 2, 3)
    ]
    # The infeasible one ranks below every feasible one, so is never promoted.
    assert rung.rank(7) == 9
    assert rung.best_promotable(3) is None
    # The search is told the objectives and the violation.
    told = {obs.score: obs for obs in search.told}
    assert told[0.95].scores == (0.95, -0.1) and told[0.95].violation == 0.5
    assert told[0.8].scores == (0.8, -2.0) and told[0.8].violation == 0.0


def test_asha_stopping_form_ranks_by_front_too():
    scheduler = ASHA(ListSearch(qualities(*[0.5] * 9)), 1, 9, 3, mode="stopping")
    jobs = scheduler.ask(9)
    decisions = {}
    for trial_id, config in enumerate(ARRIVALS):
        scheduler.tell([segment(trial_id, jobs[config], RUNG[config])])
        decisions[config] = scheduler.notes(trial_id)["decision"]
    # The infeasible first arrival continues (alone, it is in the top ceil(1/3)); the
    # last one (2) ranks 3rd of 9 by crowding: in the top ceil(9/3).
    assert decisions[7] == "continue" and decisions[2] == "continue"
    assert decisions[6] == "stop"  # ranked 2nd of 3 behind 4: dominated


def test_successive_halving_promotes_by_constraint_then_front_then_crowding():
    search = ListSearch(qualities(*[0.5] * 9))
    scheduler = SuccessiveHalving(search, 1, 3, 3, num_configurations=9, brackets=1)
    jobs = scheduler.ask(9)
    assert [job.info["config"] for job in jobs] == list(range(9))
    for trial_id, config in enumerate(ARRIVALS):
        assert scheduler.ask(1) == []  # the barrier
        scheduler.tell([segment(trial_id, jobs[config], RUNG[config])])
    promoted = scheduler.ask(9)
    assert [(job.info["config"], job.info["rung"]) for job in promoted] == [
        (config, 1) for config in EXPECTED_PROMOTED
    ]
    assert 7 not in [job.info["config"] for job in promoted]
    told = {obs.score: obs for obs in search.told}
    assert told[0.95].scores == (0.95, -0.1) and told[0.95].violation == 0.5


def test_failed_members_rank_after_infeasible_ones():
    rung = Rung()
    rung.add(0, None)
    rung.add(1, 0.9, scores=(0.9, -1.0), violation=2.0)
    rung.add(2, 0.1, scores=(0.1, -9.0))
    rung.add(3, 0.2, scores=(0.2, -9.0))
    assert [rung.rank(c) for c in range(4)] == [4, 3, 2, 1]
    assert rung.top(4) == [3, 2, 1]
    with pytest.raises(ValueError, match="objective"):
        rung.add(4, 0.5, scores=(0.5,))


def test_a_configurations_objectives_are_each_the_best_so_far():
    search = ListSearch(qualities(0.5, 0.5, 0.5))
    scheduler = ASHA(search, 1, 3, 3)
    jobs = scheduler.ask(3)
    for trial_id, job in enumerate(jobs):
        accuracy = 0.6 - trial_id / 10
        scheduler.tell(
            [Segment(trial_id, job, 0, 1, accuracy, scores=(accuracy, -3.0), violation=1.0)]
        )
    (up,) = scheduler.ask(1)
    assert up.info["config"] == 0
    scheduler.tell([Segment(3, up, 1, 2, 0.55, scores=(0.55, -3.0), violation=0.0)])
    assert search.told[-1].score == 0.6
    assert search.told[-1].scores == (0.6, -3.0) and search.told[-1].violation == 0.0


# -- one objective: exactly as before -------------------------------------------------


def drive(vector: bool, mode: str, seed: int) -> tuple[list[Any], list[Any], list[Any]]:
    """ASHA over a seeded random search, segments finished in a fixed rotating order;
    ``vector``: segments also carry ``scores=(score,)`` and ``violation=0.0``."""
    search = random_search(seed)
    told: list[Any] = []
    original_tell = search.tell

    def keep(observations):  # what the search is told, in order
        told.extend(observations)
        original_tell(observations)

    search.tell = keep  # type: ignore[method-assign]
    scheduler = ASHA(search, 1, 27, 3, mode=mode)
    running: list[Job] = []
    decisions: list[Any] = []
    asked: list[Any] = []
    for trial_id in range(250):
        jobs = scheduler.ask(5 - len(running))
        asked += [(job.info["config"], job.info["rung"], job.info["start"]) for job in jobs]
        running += jobs
        job = running.pop((trial_id * 7) % len(running))
        quality = job.hyperparameters["quality"]
        # Quantised, so that ties (broken by arrival) happen; some failures.
        score = None if quality < 0.08 else round(quality * (1 - math.exp(-job.epochs / 3)), 1)
        extra = {} if not vector or score is None else {"scores": (score,), "violation": 0.0}
        scheduler.tell([Segment(trial_id, job, 0, job.epochs, score, **extra)])
        decisions.append(scheduler.notes(trial_id))
    assert not any(rung.ranked_by_front for rung in scheduler.rungs)
    return asked, decisions, [(obs.hyperparameters, obs.score) for obs in told]


@pytest.mark.parametrize("mode", ["promotion", "stopping"])
def test_one_objective_gives_the_same_decisions_with_or_without_a_scores_vector(mode):
    plain = drive(False, mode, seed=3)
    vector = drive(True, mode, seed=3)
    assert plain == vector
    asked, decisions, _ = plain
    assert any(start != "new" for _, _, start in asked)  # promotions happened
    assert any(note["decision"] == "failed" for note in decisions)
