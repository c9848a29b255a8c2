"""RASDA's widths per rung, their cap, and the learning-rate rule of each resize: pure."""

from __future__ import annotations

import logging
import math

import pytest
from multifidelity_runs import FakeCluster, ListSearch, by_config, qualities, random_search

from nas.schedule import ASHA, RASDA, SchedulingContext, make_scheduler
from nas.train._group import LearningRateScaling, warmup_plan


def context(max_width: int, max_epochs: int = 27, widths=(1, 2, 4, 8)) -> SchedulingContext:
    """The run as RASDA sees it: ``widths`` are the problem's ``num_ranks`` values."""
    return SchedulingContext(
        max_epochs=max_epochs, max_width=max_width, num_workers=8, seed=0, widths=tuple(widths)
    )


def climb(scheduler: ASHA, rungs: int) -> list:
    """Jobs that take one configuration (the best of each rung) to rung ``rungs - 1``."""
    cluster = FakeCluster(scheduler, workers=4, seed=0)
    cluster.run(400)
    jobs = max(by_config(cluster.asked).values(), key=len)
    assert [job.info["rung"] for _, job, _ in jobs] == list(range(rungs))
    return [job for _, job, _ in jobs]


def test_each_rung_doubles_the_width_up_to_the_ranks_that_exist():
    search = random_search(seed=1)
    rasda = make_scheduler("rasda", search, context(max_width=4), {"min_epochs": 1})
    assert isinstance(rasda, RASDA)
    assert rasda.resources == [1, 3, 9, 27]
    assert rasda.desired_widths == [1, 2, 4, 8]
    assert rasda.widths == [1, 2, 4, 4]  # 8 is declared, but only 4 ranks exist
    jobs = climb(rasda, 4)
    assert [job.hyperparameters["num_ranks"] for job in jobs] == [1, 2, 4, 4]
    assert [job.info["width"] for job in jobs] == [1, 2, 4, 4]
    assert [job.info.get("width_capped_from") for job in jobs] == [None, None, None, 8]
    rule = "sqrt" if jobs[0].hyperparameters["optimizer"] == "adam" else "linear"
    assert [job.info.get("resize") for job in jobs] == [
        None,
        {"from": 1, "to": 2, "rule": rule, "warmup_epochs": 0.5},  # a quarter of 2 epochs
        {"from": 2, "to": 4, "rule": rule, "warmup_epochs": 1.0},  # at most one epoch
        None,  # capped: no resize, no warm-up
    ]
    assert [job.info["learning_rate_scaling"] for job in jobs] == [
        {"rule": rule, "from_width": 1, "warmup_epochs": 0.25},
        {"rule": rule, "from_width": 1, "warmup_epochs": 0.5},
        {"rule": rule, "from_width": 2, "warmup_epochs": 1.0},
        {"rule": rule, "from_width": 4, "warmup_epochs": 0.0},
    ]


def test_widths_snap_down_to_the_declared_ones_and_follow_the_width_factor():
    rasda = RASDA(ListSearch([]), 1, 16, 2, widths=[1, 4, 16], width_factor=2)
    assert rasda.desired_widths == [1, 2, 4, 8, 16]
    assert rasda.widths == [1, 1, 4, 4, 16]
    rasda = RASDA(ListSearch([]), 1, 27, 3, widths=[2, 8, 32, 64], width_factor=4)
    assert rasda.widths == [2, 8, 32, 64]  # the smallest declared width starts
    assert rasda.desired_widths == [2, 8, 32, 128]


def test_the_search_is_told_its_own_proposal_not_the_width():
    search = ListSearch(qualities(*[i / 40 for i in range(40)], num_ranks=2, optimizer="sgd"))
    rasda = RASDA(search, 1, 9, 3, widths=[1, 2, 4])
    cluster = FakeCluster(rasda, workers=3, seed=2)
    cluster.run(40)
    widths = {(job.info["rung"], job.hyperparameters["num_ranks"]) for _, job, _ in cluster.asked}
    assert widths == {(0, 1), (1, 2), (2, 4)}
    assert {job.info["proposed_num_ranks"] for _, job, _ in cluster.asked} == {2}
    assert {obs.hyperparameters["num_ranks"] for obs in search.told} == {2}
    assert {job.info["learning_rate_scaling"]["rule"] for _, job, _ in cluster.asked} == {"linear"}


@pytest.mark.parametrize("mode", ["promotion", "stopping"])
def test_a_resumed_rasda_continues_exactly(mode):
    def make() -> RASDA:
        return RASDA(random_search(seed=3, num_ranks=[1, 2]), 1, 9, 3, mode, widths=[1, 2, 4])

    reference = FakeCluster(make(), workers=4, seed=9)
    for _ in range(20):
        reference.fill()
        reference.finish()
    resumed = reference.resumed(make())
    reference.run(70)
    resumed.run(70)
    assert [job for _, job, _ in resumed.asked] == [job for _, job, _ in reference.asked]
    told = resumed.scheduler.search.num_told
    assert told == reference.scheduler.search.num_told == 70


def test_a_problem_that_cannot_widen_is_refused_at_the_start(caplog):
    search = random_search()
    fixed = context(max_width=4, widths=[1])  # no num_ranks: the trainer only accepts 1
    with pytest.raises(
        ValueError,
        match=r"allows only num_ranks=1 while the evaluator can run "
        r"up to 4 ranks.*Categorical\(\[1, 2, 4, 8\]\)",
    ):
        make_scheduler("rasda", search, fixed)
    too_wide = context(max_width=4, widths=[8, 16])
    with pytest.raises(ValueError, match=r"num_ranks values \[8, 16\] are all wider than the 4"):
        make_scheduler("rasda", search, too_wide)
    # On an evaluator of one rank (the process pool) it runs as ASHA, with the caps.
    with caplog.at_level(logging.WARNING, logger="nas.schedule"):
        pool = make_scheduler("rasda", search, context(max_width=1, max_epochs=9, widths=[1]))
    assert "every rung keeps width 1" in caplog.text
    assert pool.widths == [1, 1, 1]
    assert [job.info for job in pool.ask(1)][0]["width"] == 1


def test_parameters_are_validated_with_messages_that_name_them():
    search = random_search(num_ranks=[1, 2])
    with pytest.raises(
        ValueError,
        match=r"unknown parameter\(s\) \['scaling_factor'\] for "
        r"scheduler 'rasda'; valid parameters: \[.*'width_factor'\]",
    ):
        make_scheduler("rasda", search, context(2), {"scaling_factor": 2})
    with pytest.raises(ValueError, match=r"width_factor \(--width-factor\) must be an int >= 2"):
        make_scheduler("rasda", search, context(2), {"width_factor": 1})
    with pytest.raises(ValueError, match=r"learning_rate_rule must be one of \['auto', "):
        make_scheduler("rasda", search, context(2), {"learning_rate_rule": "cubic"})
    with pytest.raises(ValueError, match=r"min_epochs \(--min-epochs, r\) = 40 exceeds"):
        make_scheduler("rasda", search, context(2), {"min_epochs": 40})


# -- the learning-rate rule the trainer applies -----------------------------------------


def test_the_default_rule_is_linear_with_a_warmup_that_continues_across_segments():
    plan = warmup_plan(0.01, 4, steps_per_epoch=10, epochs=8, initial_epoch=3)
    assert (plan.start, plan.target) == (0.01, pytest.approx(0.04))
    assert (plan.steps, plan.first_step) == (20, 30)  # 2 epochs, resumed at epoch 3


@pytest.mark.parametrize(
    ("optimizer", "factor"), [("sgd", 2.0), ("adam", math.sqrt(2)), ("rmsprop", math.sqrt(2))]
)
def test_a_resize_ramps_from_the_old_widths_rate_to_the_new_one(optimizer, factor):
    search = ListSearch(qualities(*[0.5] * 9, optimizer=optimizer))
    rasda = RASDA(search, 1, 9, 3, widths=[1, 2, 4])
    jobs = climb(rasda, 3)
    scaling = LearningRateScaling.from_dict(jobs[1].info["learning_rate_scaling"])
    plan = warmup_plan(0.01, 2, steps_per_epoch=8, epochs=3, initial_epoch=1, scaling=scaling)
    # From width 1's rate to width 2's, over half an epoch from the segment's first step.
    assert (plan.start, plan.target) == (0.01, pytest.approx(0.01 * factor))
    assert (plan.steps, plan.first_step) == (4, 0)
    scaling = LearningRateScaling.from_dict(jobs[2].info["learning_rate_scaling"])
    plan = warmup_plan(0.01, 4, steps_per_epoch=4, epochs=9, initial_epoch=3, scaling=scaling)
    assert plan.start == pytest.approx(0.01 * factor)
    assert plan.target == pytest.approx(0.01 * factor**2)
    assert (plan.steps, plan.first_step) == (4, 0)  # one epoch


def test_without_a_resize_the_rate_stays_at_the_widths_rate():
    scaling = LearningRateScaling("sqrt", from_width=4, warmup_epochs=0.0)
    plan = warmup_plan(0.01, 4, steps_per_epoch=5, epochs=27, initial_epoch=9, scaling=scaling)
    assert plan.start == plan.target == pytest.approx(0.02)
    assert plan.first_step >= plan.steps  # the ramp is over before it starts


def test_scaling_entries_are_validated():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['width'\]"):
        LearningRateScaling.from_dict({"rule": "sqrt", "width": 2})
    with pytest.raises(ValueError, match=r"scaling rule 'cube'"):
        LearningRateScaling.from_dict({"rule": "cube"})
    with pytest.raises(ValueError, match=r"warmup_epochs must be a number >= 0"):
        LearningRateScaling("linear", 1, -1.0)
    assert LearningRateScaling.from_dict(None) is None
