"""Learning-rate schedules as hyperparameters: their shapes, how they compose with a
group's ramp and with continued segments, and that the trainer applies them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nas._imports import import_keras
from nas.exceptions import ProblemError
from nas.problem import Categorical, Dataset, Float, Problem
from nas.train import train
from nas.train._group import WarmupPlan, warmup_plan
from nas.train._learning_rate import LearningRatePlan, LearningRateSchedule

SPE = 4  # steps per epoch in the pure tests


def rates(plan: LearningRatePlan, epochs: range) -> list[float]:
    return [plan.rate(epoch, batch) for epoch in epochs for batch in range(plan.steps_per_epoch)]


def test_constant_is_the_base_rate_throughout():
    plan = LearningRatePlan(0.01, LearningRateSchedule(), total_epochs=3, steps_per_epoch=SPE)
    assert plan.is_constant
    assert rates(plan, range(3)) == [0.01] * 12


def test_warmup_rises_linearly_from_one_step_to_the_base_rate():
    schedule = LearningRateSchedule("constant", warmup_epochs=1)
    plan = LearningRatePlan(0.08, schedule, total_epochs=3, steps_per_epoch=SPE)
    assert not plan.is_constant
    assert rates(plan, range(2)) == pytest.approx([0.02, 0.04, 0.06, 0.08] + [0.08] * 4)


def test_exponential_multiplies_by_the_decay_rate_each_epoch_after_the_warmup():
    schedule = LearningRateSchedule("exponential", warmup_epochs=1, decay_rate=0.5)
    plan = LearningRatePlan(0.1, schedule, total_epochs=4, steps_per_epoch=SPE)
    at_epoch_starts = [plan.rate(epoch, 0) for epoch in (1, 2, 3)]
    assert at_epoch_starts == pytest.approx([0.1, 0.05, 0.025])
    # Continuous within an epoch: half way through an epoch, times sqrt(0.5).
    assert plan.rate(1, 2) == pytest.approx(0.1 * math.sqrt(0.5))


def test_cosine_falls_to_the_final_fraction_at_the_end_of_training():
    schedule = LearningRateSchedule("cosine", final_fraction=0.1)
    plan = LearningRatePlan(1.0, schedule, total_epochs=4, steps_per_epoch=SPE)
    assert plan.rate(0, 0) == pytest.approx(1.0)
    assert plan.rate(2, 0) == pytest.approx(0.55)  # half way: the mean of 1 and 0.1
    values = rates(plan, range(4))
    assert all(a > b for a, b in zip(values, values[1:]))  # strictly falling
    # The position one past the last step is the end of training.
    assert schedule.factor(4.0, 4, SPE) == pytest.approx(0.1)
    # A segment past the cosine's length (a larger budget than declared) stays at the end.
    assert plan.rate(6, 0) == pytest.approx(0.1)


def test_a_continued_segment_resumes_the_schedule_where_its_checkpoint_left_it():
    schedule = LearningRateSchedule("cosine", warmup_epochs=1)
    whole = LearningRatePlan(0.01, schedule, total_epochs=9, steps_per_epoch=SPE)
    segment = LearningRatePlan(0.01, schedule, 9, steps_per_epoch=SPE, initial_epoch=3)
    assert rates(segment, range(3, 9)) == rates(whole, range(3, 9))
    # On another width (RASDA), an epoch has other steps but the same positions.
    wider = LearningRatePlan(0.01, schedule, 9, steps_per_epoch=SPE // 2, initial_epoch=3)
    assert wider.rate(5, 1) == pytest.approx(whole.rate(5, 2))


def test_on_a_group_the_schedule_multiplies_the_groups_ramp():
    schedule = LearningRateSchedule("exponential", decay_rate=0.5)
    ramp = warmup_plan(0.01, 4, steps_per_epoch=SPE, epochs=8)  # 0.01 -> 0.04 over 8 steps
    assert (ramp.start, ramp.target, ramp.steps) == (0.01, 0.04, 8)
    plan = LearningRatePlan(0.01, schedule, 8, steps_per_epoch=SPE, group=ramp)
    for epoch, batch in [(0, 0), (0, 3), (1, 2), (3, 1)]:
        step = epoch * SPE + batch
        expected = ramp.rate(step) * 0.5 ** (epoch + batch / SPE)
        assert plan.rate(epoch, batch) == pytest.approx(expected)
    # A continued segment on a group resumes both where they were.
    later = warmup_plan(0.01, 4, steps_per_epoch=SPE, epochs=8, initial_epoch=1)
    segment = LearningRatePlan(0.01, schedule, 8, SPE, initial_epoch=1, group=later)
    assert rates(segment, range(1, 8)) == pytest.approx(rates(plan, range(1, 8)))


def test_on_a_group_the_rate_is_set_even_past_the_ramp():
    # The optimizer is compiled at the base rate; a group trains at the scaled one.
    done = WarmupPlan(0.01, 0.02, steps=4, first_step=8)
    plan = LearningRatePlan(0.01, LearningRateSchedule(), 8, SPE, 2, group=done)
    assert not plan.is_constant
    assert plan.rate(2, 0) == 0.02


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lr_schedule": "step"}, r"'lr_schedule' = 'step': expected one of \['constant'"),
        ({"lr_warmup_epochs": -1}, r"'lr_warmup_epochs' = -1: expected a number >= 0"),
        ({"lr_decay_rate": 0}, r"'lr_decay_rate' = 0: expected a number in \(0, 1\]"),
        ({"lr_decay_rate": 1.5}, r"'lr_decay_rate' = 1.5: expected a number in \(0, 1\]"),
        ({"lr_final_fraction": 1}, r"'lr_final_fraction' = 1: expected a number in \[0, 1\)"),
    ],
)
def test_bad_schedule_hyperparameters_are_refused_when_the_problem_is_defined(values, message):
    with pytest.raises(ProblemError, match=message):
        schedule_problem(**values)


def test_a_schedule_can_be_searched():
    problem = schedule_problem(lr_schedule=Categorical(["constant", "exponential", "cosine"]))
    space = problem.hyperparameters
    drawn = {space.sample(np.random.default_rng(seed))["lr_schedule"] for seed in range(30)}
    assert drawn == {"constant", "exponential", "cosine"}


# -- the trainer applies it ------------------------------------------------------------


def linear_data() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32)).reshape(-1, 1)
    return Dataset(train=(x[:160], y[:160]), valid=(x[160:], y[160:]))


def schedule_problem(**hyperparameters) -> Problem:
    return Problem(
        "schedule",
        linear_data,
        "spaces.dense_skip:dense_skip_space",
        space_kwargs={
            "input_shape": [3],
            "output_units": 1,
            "num_layers": 1,
            "output_activation": None,
        },
        # 160 samples in batches of 40: 4 steps per epoch.
        hyperparameters={"learning_rate": 0.01, "batch_size": 40, "epochs": 4, **hyperparameters},
        loss="mse",
        objective="val_loss",
        direction="min",
    )


DENSE = [2, 0]  # one Dense 16 relu layer, no skip


def final_rate(path) -> float:
    return float(import_keras().saving.load_model(path).optimizer.learning_rate.numpy())


def test_the_trainer_trains_each_step_at_the_schedules_rate(tmp_path):
    problem = schedule_problem(lr_schedule="cosine", lr_warmup_epochs=1, lr_final_fraction=0.2)
    result = train(problem, DENSE, seed=1, checkpoint_path=tmp_path / "whole.keras")
    assert result.ok, result.error
    schedule = LearningRateSchedule("cosine", warmup_epochs=1, final_fraction=0.2)
    expected = LearningRatePlan(0.01, schedule, total_epochs=4, steps_per_epoch=4).rate(3, 3)
    assert final_rate(tmp_path / "whole.keras") == pytest.approx(expected, rel=1e-6)


def test_a_decayed_rate_stops_learning_and_a_constant_one_does_not():
    # With the rate times 1e-9 per epoch, the weights stop moving after the first epoch:
    # the next epochs' training losses are those of one model (equal up to rounding).
    decayed = train(schedule_problem(lr_schedule="exponential", lr_decay_rate=1e-9), DENSE, seed=1)
    constant = train(schedule_problem(), DENSE, seed=1)
    assert decayed.ok and constant.ok
    late, later = decayed.learning_curve["loss"][2:4]
    assert later == pytest.approx(late, rel=1e-4)
    first = constant.learning_curve["loss"]
    assert first[3] < 0.9 * first[2]


def test_segments_follow_the_whole_trainings_schedule(tmp_path):
    """What schedulers do: a first segment of 1 epoch, continued to 4, with the schedule
    spanning the configuration's 4 epochs; and a new base rate (PBT) rescales it."""
    learning_rate = Float(0.001, 0.1, default=0.01)
    problem = schedule_problem(
        learning_rate=learning_rate, lr_schedule="exponential", lr_decay_rate=0.5
    )
    first, second = tmp_path / "first.keras", tmp_path / "second.keras"
    one = train(problem, DENSE, epochs=1, schedule_epochs=4, seed=1, checkpoint_path=first)
    assert one.ok, one.error
    assert final_rate(first) == pytest.approx(0.01 * 0.5 ** (3 / 4))  # its last step: 0.75
    two = train(
        problem,
        DENSE,
        {"learning_rate": 0.02},  # as population-based training changes it
        epochs=4,
        schedule_epochs=4,
        initial_epoch=1,
        start_from=first,
        checkpoint_path=second,
        seed=1,
    )
    assert two.ok, two.error
    assert final_rate(second) == pytest.approx(0.02 * 0.5 ** (3 + 3 / 4))


def test_schedule_epochs_must_be_a_positive_int():
    with pytest.raises(ValueError, match="schedule_epochs must be an int >= 1 or None, got 0"):
        train(schedule_problem(), DENSE, schedule_epochs=0)
