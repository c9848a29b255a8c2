"""Synchronous successive halving on synthetic learning curves: pure, no training."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from multifidelity_runs import FakeCluster, ListSearch, by_config, qualities

from nas.schedule import SchedulingContext, SuccessiveHalving, make_scheduler
from nas.schedule._rungs import rung_resources


def shuffled_qualities(count: int, seed: int = 0) -> list[float]:
    return [float(q) for q in np.random.default_rng(seed).permutation(count) / count]


def test_rung_resources_grow_by_eta_and_end_at_the_maximum():
    assert rung_resources(1, 27, 3) == [1, 3, 9, 27]
    assert rung_resources(1, 16, 2) == [1, 2, 4, 8, 16]
    assert rung_resources(2, 10, 3) == [2, 6, 10]  # R is always a rung
    assert rung_resources(5, 5, 3) == [5]


def test_27_configurations_give_rungs_of_27_9_3_1_at_1_3_9_27_epochs():
    values = shuffled_qualities(27)
    search = ListSearch(qualities(*values))
    scheduler = SuccessiveHalving(search, 1, 27, 3, brackets=1)
    assert scheduler.num_configurations == 27  # eta^3 by default
    cluster = FakeCluster(scheduler, workers=5, seed=3)
    cluster.run(1000)
    assert scheduler.finished
    rungs = Counter(job.info["rung"] for _, job, _ in cluster.asked)
    assert rungs == {0: 27, 1: 9, 2: 3, 3: 1}
    assert {job.info["rung"]: job.epochs for _, job, _ in cluster.asked} == {
        0: 1,
        1: 3,
        2: 9,
        3: 27,
    }
    # Each rung keeps the best third of the one below; the best configuration ends.
    for rung, count in ((1, 9), (2, 3), (3, 1)):
        promoted = {
            job.hyperparameters["quality"]
            for _, job, _ in cluster.asked
            if job.info["rung"] == rung
        }
        assert promoted == set(sorted(values)[-count:])
    # Promotions continue the configuration's last segment from the epoch it reached.
    for entries in by_config(cluster.asked).values():
        for (parent, _, _), (_, job, initial) in zip(entries, entries[1:]):
            assert job.continue_from == parent
            assert initial == cluster.reached[parent]
    assert [job.checkpoint for _, job, _ in cluster.asked if job.info["rung"] == 3] == [False]
    assert len(search.told) == 27 + 9 + 3 + 1  # every segment is told


def test_a_rung_is_a_barrier_workers_wait_for_its_last_evaluation():
    search = ListSearch(qualities(*shuffled_qualities(27)))
    scheduler = SuccessiveHalving(search, 1, 27, 3, brackets=1)
    cluster = FakeCluster(scheduler, workers=30)
    assert len(cluster.fill()) == 27
    for _ in range(26):
        cluster.finish()
        assert scheduler.ask(4) == []  # 26 done, one running: nothing to give
    cluster.finish()
    jobs = scheduler.ask(30)
    assert [job.info["rung"] for job in jobs] == [1] * 9


def promotions(values: list[dict], seed: int = 1) -> list[tuple[int, int, float]]:
    """(bracket, rung, quality) of each promoted job of a run over ``values``."""
    scheduler = SuccessiveHalving(ListSearch(values), 1, 9, 3)
    cluster = FakeCluster(scheduler, workers=4, seed=seed)
    cluster.run(1000)  # until the search runs dry
    assert scheduler.finished
    return [
        (job.info["bracket"], job.info["rung"], job.hyperparameters["quality"])
        for _, job, _ in cluster.asked
        if job.info["rung"] > 0
    ]


def test_failed_configurations_are_never_promoted_and_brackets_repeat():
    # Three failures with high qualities: they count as the rung's worst members.
    values = [{"quality": 0.9 + i / 100, "fails": True} for i in range(3)]
    values += qualities(0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    assert promotions(values * 2) == [
        (0, 1, 0.6),
        (0, 1, 0.5),
        (0, 1, 0.4),
        (0, 2, 0.6),
        (1, 1, 0.6),
        (1, 1, 0.5),
        (1, 1, 0.4),
        (1, 2, 0.6),
    ]
    # Eight failures of nine: the one that trained goes on alone.
    failing = [{"quality": 0.9, "fails": True}] * 8
    assert promotions(failing + qualities(0.1)) == [(0, 1, 0.1), (0, 2, 0.1)]


def test_checkpoints_live_only_while_their_configuration_may_go_on():
    search = ListSearch(qualities(0.3, 0.9, 0.5))
    scheduler = SuccessiveHalving(search, 1, 3, 3, brackets=1)
    cluster = FakeCluster(scheduler, workers=3)
    cluster.fill()
    for _ in range(3):
        cluster.finish(oldest=True)
    assert scheduler.live_checkpoints() == {1}  # the promoted one, not started yet
    cluster.fill()
    assert scheduler.live_checkpoints() == {1}  # its continuation runs from it
    cluster.finish()
    assert scheduler.live_checkpoints() == set()


def test_live_checkpoints_are_kept_as_they_change_and_released_once():
    # Failures among the configurations; more workers than a top rung holds.
    values = shuffled_qualities(27, seed=4) * 3
    configs = qualities(*values)
    for index in range(0, len(configs), 7):
        configs[index] = {**configs[index], "fails": True}
    scheduler = SuccessiveHalving(ListSearch(configs), 1, 9, 3)
    cluster = FakeCluster(scheduler, workers=4, seed=1)
    before: set[int] = set()
    while len(cluster.told) < 70:
        cluster.fill()
        cluster.finish()
        live = set(scheduler.live_checkpoints())
        # As the rung's state says, computed from scratch.
        rung = scheduler._members
        alive = set(scheduler._to_start) | scheduler._running | set(rung.top(len(rung)))
        assert live == {scheduler._trial_of[c] for c in alive if c in scheduler._trial_of}
        released = scheduler.released_checkpoints()
        assert len(released) == len(set(released)) and not set(released) & live
        assert before - live <= set(released) <= before | {cluster.told[-1].trial_id}
        before = live
    assert scheduler.bracket >= 2  # rungs and brackets were decided along the way


def test_a_resumed_run_continues_exactly():
    values = shuffled_qualities(27, seed=5) * 3
    reference = FakeCluster(
        SuccessiveHalving(ListSearch(qualities(*values)), 1, 27, 3), workers=6, seed=2
    )
    for _ in range(50):
        reference.fill()
        reference.finish()
    resumed = reference.resumed(SuccessiveHalving(ListSearch(qualities(*values)), 1, 27, 3))
    reference.run(110)
    resumed.run(110)
    assert [job for _, job, _ in resumed.asked] == [job for _, job, _ in reference.asked]
    assert [s.score for s in resumed.told] == [s.score for s in reference.told]


def test_parameters_are_validated_with_messages_that_name_them():
    context = SchedulingContext(max_epochs=27, max_width=1, num_workers=4, seed=0)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['eta'\].*valid"):
        make_scheduler("sha", ListSearch([]), context, {"eta": 3})
    with pytest.raises(ValueError, match=r"num_configurations must be an int >= 1, got 0"):
        make_scheduler("sha", ListSearch([]), context, {"num_configurations": 0})
    made = make_scheduler("sha", ListSearch([]), context, {"reduction_factor": 3})
    assert isinstance(made, SuccessiveHalving) and made.resources == [1, 3, 9, 27]
