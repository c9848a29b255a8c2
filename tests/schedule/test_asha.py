"""ASHA's decisions on synthetic learning curves: pure, no training."""

from __future__ import annotations

import math

import numpy as np
import pytest
from multifidelity_runs import FakeCluster, ListSearch, by_config, qualities, random_search

from nas.problem import Float
from nas.schedule import ASHA, Job, SchedulingContext, Segment, make_scheduler
from nas.search import AMBS, AgEBO, GridSearch, RandomSearch, RegularizedEvolution

CONTEXT = SchedulingContext(max_epochs=27, max_width=1, num_workers=4, seed=0)


def told(scheduler: ASHA, job: Job, trial_id: int, score: float | None) -> Segment:
    """Tell ``scheduler`` that ``job`` ended with ``score`` (None: failed)."""
    segment = Segment(trial_id, job, 0, 0 if score is None else 1, score)
    scheduler.tell([segment])
    return segment


def start(job: Job) -> tuple[str, int]:
    return job.info["start"], job.info["rung"]


# -- the promotion form ---------------------------------------------------------------


def test_a_rung_promotes_its_top_third_once_it_has_three_members():
    scheduler = ASHA(ListSearch(qualities(*[0.1] * 9)), 1, 27, 3)
    first = scheduler.ask(3)
    assert [start(job) for job in first] == [("new", 0)] * 3
    assert [job.info["config"] for job in first] == [0, 1, 2]
    assert [(job.epochs, job.continue_from, job.checkpoint) for job in first] == [
        (1, None, True)
    ] * 3
    told(scheduler, first[0], 10, 0.5)
    told(scheduler, first[1], 11, 0.9)
    assert start(scheduler.ask(1)[0]) == ("new", 0)  # 2 members: floor(2/3) = 0
    told(scheduler, first[2], 12, 0.1)
    promoted = scheduler.ask(1)[0]  # 3 members: the best one goes on
    assert start(promoted) == ("promoted", 1)
    assert promoted.info["config"] == 1
    assert promoted.info["start_reason"] == "rank 1 of 3 at rung 0"
    assert (promoted.epochs, promoted.continue_from) == (3, 11)
    assert promoted.hyperparameters == first[1].hyperparameters
    # Never twice: the next worker gets a new configuration.
    assert start(scheduler.ask(1)[0]) == ("new", 0)


def test_the_highest_rung_with_a_promotable_configuration_goes_first():
    scheduler = ASHA(ListSearch(qualities(*[0.5] * 20)), 1, 8, 2)  # rungs 1, 2, 4, 8
    jobs = scheduler.ask(6)
    for trial_id, (job, score) in enumerate(zip(jobs[:4], (0.9, 0.8, 0.2, 0.1))):
        told(scheduler, job, trial_id, score)
    up = scheduler.ask(2)  # floor(4/2) = 2: the two best, the best first
    assert [(start(job), job.info["config"]) for job in up] == [
        (("promoted", 1), 0),
        (("promoted", 1), 1),
    ]
    told(scheduler, up[0], 4, 0.95)
    told(scheduler, up[1], 5, 0.85)
    told(scheduler, jobs[4], 6, 0.7)  # rung 0 has 6 members: its top 3 includes 0.7
    told(scheduler, jobs[5], 7, 0.6)
    # Rung 1 has a promotable configuration (0.95) and so has rung 0 (0.7): rung 1 first.
    assert [(start(job), job.info["config"]) for job in scheduler.ask(3)] == [
        (("promoted", 2), 0),
        (("promoted", 1), 4),
        (("new", 0), 6),
    ]


def test_failed_evaluations_count_in_their_rung_but_are_never_promoted():
    scheduler = ASHA(ListSearch(qualities(*[0.5] * 20)), 1, 27, 3)
    jobs = scheduler.ask(6)
    told(scheduler, jobs[0], 0, None)
    told(scheduler, jobs[1], 1, None)
    told(scheduler, jobs[2], 2, 0.1)
    # Three members, two failed: the one that trained is the top third.
    assert [start(job) for job in scheduler.ask(1)] == [("promoted", 1)]
    told(scheduler, jobs[3], 3, None)
    told(scheduler, jobs[4], 4, None)
    told(scheduler, jobs[5], 5, None)
    # Six members, two to promote: 0.1 is promoted, the failed ones never are.
    assert [start(job) for job in scheduler.ask(2)] == [("new", 0)] * 2
    assert scheduler.notes(5)["decision"] == "failed"
    assert 5 not in scheduler.live_checkpoints()


def test_a_configuration_continues_from_its_last_checkpoint_and_ends_at_max_epochs():
    search = ListSearch(qualities(*np.random.default_rng(1).uniform(size=200)))
    scheduler = ASHA(search, 1, 27, 3)
    cluster = FakeCluster(scheduler, workers=7, seed=4)
    cluster.run(300)
    for entries in by_config(cluster.asked).values():
        rungs = [job.info["rung"] for _, job, _ in entries]
        assert rungs == list(range(len(rungs)))  # one rung after the other, never twice
        for (parent, _, _), (_, job, initial) in zip(entries, entries[1:]):
            assert job.continue_from == parent and job.info["start"] == "promoted"
            assert initial == cluster.reached[parent]
        for _, job, _ in entries:
            assert job.epochs == scheduler.resources[job.info["rung"]]
            assert job.checkpoint == (job.info["rung"] < 3)
    top = [job for _, job, _ in cluster.asked if job.info["rung"] == 3]
    assert top, "some configuration reached the top rung"
    # Every segment is told, with the configuration's best score so far.
    assert len(search.told) == len(cluster.told)
    for observation, segment in zip(search.told, cluster.told):
        assert observation.hyperparameters == dict(segment.job.hyperparameters)
        assert observation.score == pytest.approx(max(segment.curve))


def test_promoted_configurations_were_in_the_top_third_of_their_rung_when_promoted():
    values = np.random.default_rng(7).uniform(size=300)
    scheduler = ASHA(ListSearch(qualities(*values)), 1, 27, 3)
    cluster = FakeCluster(scheduler, workers=5, seed=8)
    while len(cluster.told) < 250:
        for job in cluster.fill():
            if job.info["start"] == "promoted":
                rank, size = map(int, job.info["start_reason"].split()[1:4:2])
                assert rank <= size // 3
        cluster.finish()


def test_checkpoints_of_configurations_that_may_still_be_promoted_stay_live():
    scheduler = ASHA(ListSearch(qualities(*[0.5] * 9)), 1, 9, 3)  # rungs 1, 3, 9
    jobs = scheduler.ask(4)
    for trial_id, score in enumerate((0.3, 0.9, 0.5)):
        told(scheduler, jobs[trial_id], trial_id, score)
    told(scheduler, jobs[3], 3, None)
    assert scheduler.live_checkpoints() == {0, 1, 2}  # any may be promoted later
    promoted = scheduler.ask(1)[0]
    assert promoted.continue_from == 1
    assert scheduler.live_checkpoints() == {0, 1, 2}  # 1 is being continued
    told(scheduler, promoted, 4, 0.95)
    assert scheduler.live_checkpoints() == {0, 2, 4}
    assert scheduler.notes(4) == {
        "decision": "candidate",
        "reason": "rank 1 of 1 at rung 1: promoted once in the top floor(n/3) of its rung",
        "rung_rank": 1,
        "rung_size": 1,
    }


# -- the stopping form ----------------------------------------------------------------


def test_the_stopping_form_continues_the_top_third_of_what_a_rung_has_seen():
    scheduler = ASHA(ListSearch(qualities(*[0.5] * 9)), 1, 9, 3, mode="stopping")
    jobs = scheduler.ask(5)
    told(scheduler, jobs[0], 0, 0.5)  # rank 1 of 1: continues
    assert scheduler.notes(0)["decision"] == "continue"
    told(scheduler, jobs[1], 1, 0.4)  # rank 2 of 2 > ceil(2/3) = 1: stops
    assert scheduler.notes(1) == {
        "decision": "stop",
        "reason": "rank 2 of 2 at rung 0: not in the top ceil(2/3)",
        "rung_rank": 2,
        "rung_size": 2,
    }
    told(scheduler, jobs[2], 2, 0.6)  # rank 1 of 3: continues
    told(scheduler, jobs[3], 3, 0.55)  # rank 2 of 4 <= ceil(4/3) = 2: continues
    told(scheduler, jobs[4], 4, None)  # failed: stops
    assert scheduler.live_checkpoints() == {0, 2, 3}
    going_on = scheduler.ask(4)
    assert [(start(job), job.continue_from) for job in going_on] == [
        (("continued", 1), 0),
        (("continued", 1), 2),
        (("continued", 1), 3),
        (("new", 0), None),
    ]
    assert going_on[1].info["start_reason"] == "rank 1 of 3 at rung 0"
    told(scheduler, going_on[0], 5, 0.7)  # rung 1: first arrival continues to the top
    final = scheduler.ask(1)[0]
    assert (start(final), final.epochs, final.checkpoint) == (("continued", 2), 9, False)
    assert scheduler.live_checkpoints() == {2, 3, 5}  # 0 was continued by 5
    told(scheduler, final, 6, 0.8)
    assert scheduler.notes(6)["decision"] == "complete"
    assert 5 not in scheduler.live_checkpoints()


def test_in_the_stopping_form_a_configuration_never_resumes_once_stopped():
    values = np.random.default_rng(3).uniform(size=200)
    scheduler = ASHA(ListSearch(qualities(*values)), 1, 27, 3, mode="stopping")
    cluster = FakeCluster(scheduler, workers=6, seed=5)
    stopped: set[int] = set()
    while len(cluster.told) < 250:
        for job in cluster.fill():
            assert job.info["config"] not in stopped
        segment = cluster.finish()
        if scheduler.notes(segment.trial_id)["decision"] == "stop":
            stopped.add(segment.job.info["config"])
    assert stopped
    # Stopped configurations' checkpoints are released at once.
    assert len(scheduler.live_checkpoints()) <= 6 + len(scheduler._continuations)


# -- over any search, resume, parameters ----------------------------------------------


def searches() -> dict[str, object]:
    space = {"quality": Float(0.0, 1.0)}
    return {
        "random": RandomSearch([2, 3], space, seed=1),
        "regevo": RegularizedEvolution([2, 3], space, population_size=8, sample_size=3, seed=1),
        "agebo": AgEBO(
            [2, 3], space, population_size=8, sample_size=3, num_candidates=50, num_trees=8, seed=1
        ),
        "ambs": AMBS([2, 3], space, num_candidates=50, num_trees=8, seed=1),
        "grid": GridSearch([2, 3], space, points=4, seed=1),
    }


@pytest.mark.parametrize("name", sorted(searches()))
@pytest.mark.parametrize("mode", ["promotion", "stopping"])
def test_asha_runs_over_every_search_and_resumes_exactly(name, mode):
    def cluster_curve(hyperparameters, epochs):
        return [hyperparameters["quality"] * (1 - math.exp(-e / 3)) for e in range(1, epochs + 1)]

    reference = FakeCluster(ASHA(searches()[name], 1, 9, 3, mode), workers=4, seed=6)
    for _ in range(15):
        reference.fill()
        reference.finish()
    resumed = reference.resumed(ASHA(searches()[name], 1, 9, 3, mode))
    reference.run(60)
    resumed.run(60)
    assert [job for _, job, _ in resumed.asked] == [job for _, job, _ in reference.asked]
    assert [s.score for s in resumed.told] == [s.score for s in reference.told]
    assert resumed.scheduler.live_checkpoints() == reference.scheduler.live_checkpoints()
    rungs = {job.info["rung"] for _, job, _ in reference.asked}
    assert rungs >= {0, 1}, rungs


def test_a_finished_grid_leaves_only_promotions_then_nothing():
    search = GridSearch([], {"quality": Float(0.0, 1.0)}, points=9)
    scheduler = ASHA(search, 1, 9, 3)
    cluster = FakeCluster(scheduler, workers=3)
    cluster.run(1000)
    assert scheduler.num_configurations == 9
    assert cluster.running == []  # finished by itself
    rungs = [job.info["rung"] for _, job, _ in cluster.asked]
    assert rungs.count(0) == 9 and rungs.count(2) >= 1


@pytest.mark.parametrize("workers", [1, 4, 27])
def test_a_fixed_set_of_configurations_ends_by_itself_with_every_rungs_top_third_promoted(
    workers,
):
    """With max_configurations (Ray Tune's num_samples) ASHA stops drawing new
    configurations and ends by itself once every rung has promoted its final top third
    (and, asynchronous, maybe some that led a rung while it was smaller)."""
    scheduler = ASHA(random_search(seed=workers), 1, 27, 3, max_configurations=27)
    cluster = FakeCluster(scheduler, workers=workers, seed=workers)
    cluster.run(10_000)
    assert cluster.running == []  # finished by itself, far below the budget
    assert scheduler.num_configurations == 27
    best: dict[int, dict[int, float]] = {}  # rung -> configuration -> its rung score
    for segment in cluster.told:
        best.setdefault(segment.job.info["rung"], {})[segment.job.info["config"]] = segment.score
    assert len(best[0]) == 27
    for rung in range(3):
        ranked = sorted(best[rung], key=best[rung].get, reverse=True)
        assert set(ranked[: len(ranked) // 3]) <= set(best[rung + 1])
    sizes = [len(best[k]) for k in range(4)]
    assert all(size >= least for size, least in zip(sizes, [27, 9, 3, 1]))
    assert sizes[3] <= sizes[2] <= sizes[1] < sizes[0]


def test_a_fixed_set_in_the_stopping_form_also_ends_by_itself():
    scheduler = ASHA(random_search(seed=2), 1, 9, 3, "stopping", max_configurations=10)
    cluster = FakeCluster(scheduler, workers=3, seed=2)
    cluster.run(10_000)
    assert cluster.running == [] and scheduler.num_configurations == 10
    assert {job.info["rung"] for _, job, _ in cluster.asked} == {0, 1, 2}


def test_the_search_hears_of_re_run_new_configurations_only():
    values = qualities(0.5, 0.6, 0.7, 0.8, 0.9)
    scheduler = ASHA(ListSearch(values), 1, 9, 3)
    jobs = scheduler.ask(3)
    for trial_id, job in enumerate(jobs):
        told(scheduler, job, trial_id, 0.1 * trial_id)
    promoted, new = scheduler.ask(1)[0], scheduler.ask(1)[0]
    assert (start(promoted), start(new)) == (("promoted", 1), ("new", 0))
    state = scheduler.get_state()  # as journaled with the last submission
    # Resumed with both running: the search is told of the new configuration only (the
    # promoted one was told to it when it finished its first rung).
    resumed_search = ListSearch(values)
    resumed = ASHA(resumed_search, 1, 9, 3)
    resumed.tell([Segment(t, job, 0, 1, 0.1 * t) for t, job in enumerate(jobs)])
    resumed.set_state(state)
    resumed.running([promoted, new])
    assert [p.hyperparameters for p in resumed_search.running_told] == [new.hyperparameters]
    next_jobs = resumed.ask(2)
    assert [job.info["config"] for job in next_jobs] == [4]
    assert next_jobs == scheduler.ask(2)


def test_parameters_are_validated_with_messages_that_name_them():
    def make(**params):
        return make_scheduler("asha", random_search(), CONTEXT, params)

    with pytest.raises(
        ValueError,
        match=r"unknown parameter\(s\) \['eta', 'rungs'\] for "
        r"scheduler 'asha'; valid parameters: \['max_configurations', 'max_epochs', "
        r"'min_epochs', 'mode', 'reduction_factor'\]",
    ):
        make(eta=3, rungs=4)
    with pytest.raises(ValueError, match=r"min_epochs \(--min-epochs, r\) must be an int >= 1"):
        make(min_epochs=0)
    with pytest.raises(ValueError, match=r"min_epochs \(--min-epochs, r\) = 30 exceeds max_"):
        make(min_epochs=30)
    with pytest.raises(
        ValueError,
        match=r"reduction_factor \(--reduction-factor, eta\) must "
        r"be an int >= 2, got 1",
    ):
        make(reduction_factor=1)
    with pytest.raises(ValueError, match=r"max_epochs \(--max-epochs, R\) must be an int"):
        make(max_epochs=2.5)
    with pytest.raises(
        ValueError,
        match=r"mode \(--asha-mode\) must be one of \['promotion', "
        r"'stopping'\], got 'halt'",
    ):
        make(mode="halt")
    with pytest.raises(
        ValueError, match=r"max_configurations \(--max-configurations\) must be an int >= 1"
    ):
        make(max_configurations=0)
    made = make(min_epochs=3)
    assert isinstance(made, ASHA)
    assert (made.resources, made.mode) == ([3, 9, 27], "promotion")  # R from the context
