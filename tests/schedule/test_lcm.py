"""Learning-curve matching on synthetic learning curves: pure, no training.

A small simulated driver gives trial ids, continues segments from their parent's epoch
and finishes jobs in the order they started, with curves computed from the
hyperparameters, so every decision can be checked against an independent oracle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from nas.problem import Float
from nas.schedule import Job, LearningCurveMatching, SchedulingContext, Segment, make_scheduler
from nas.schedule._curve_library import CurveLibrary, RecordedCurve
from nas.schedule._lcm import default_checkpoints
from nas.search import Observation, Proposal, RandomSearch, Search

MAX_EPOCHS = 8
CHECKPOINTS = [2, 4, 6]


def synthetic_curve(hyperparameters: dict[str, Any]) -> list[float]:
    """Saturating curves: ``quality`` is where they end, ``speed`` how fast they rise
    (or the ``curve`` given)."""
    if "curve" in hyperparameters:
        return list(hyperparameters["curve"])
    quality, speed = hyperparameters["quality"], hyperparameters["speed"]
    return [quality * (1 - math.exp(-speed * epoch)) for epoch in range(1, MAX_EPOCHS + 1)]


class ListSearch(Search):
    """Proposes the given hyperparameters in order and keeps what it is told."""

    def __init__(self, configs: Sequence[dict[str, Any]]) -> None:
        super().__init__([], {})
        self.configs = list(configs)
        self.told: list[Observation] = []

    def ask(self, n: int = 1) -> list[Proposal]:
        taken, self.configs = self.configs[:n], self.configs[n:]
        return [Proposal((), config) for config in taken]

    def _tell_one(self, observation: Observation) -> None:
        self.told.append(observation)


class SimulatedDriver:
    """Runs jobs like the driver does, finishing them in the order they started."""

    def __init__(
        self,
        scheduler: LearningCurveMatching,
        curve: Callable[[dict[str, Any]], list[float | None]] = synthetic_curve,
        workers: int = 1,
    ) -> None:
        self.scheduler = scheduler
        self.curve = curve
        self.workers = workers
        self.next_id = 0
        self.reached: dict[int, int] = {}
        self.running: list[tuple[int, Job]] = []
        self.told: list[Segment] = []
        self.asked: list[Job] = []
        self.state: dict[str, Any] | None = None

    def fill(self) -> None:
        free = self.workers - len(self.running)
        if free <= 0:
            return
        jobs = self.scheduler.ask(free)
        self.state = self.scheduler.get_state()  # what the journal keeps at each submit
        for job in jobs:
            self.running.append((self.next_id, job))
            self.next_id += 1
        self.asked += jobs

    def finish_one(self) -> Segment:
        trial_id, job = self.running.pop(0)
        start = 0 if job.continue_from is None else self.reached[job.continue_from]
        full = self.curve(dict(job.hyperparameters))
        curve = tuple(full[start : job.epochs])
        finite = [value for value in curve if value is not None]
        score = max(finite) if finite and job.hyperparameters.get("fails") is None else None
        curve = curve if score is not None else ()
        self.reached[trial_id] = start + len(curve)
        segment = Segment(trial_id, job, start, len(curve), score, curve)
        self.told.append(segment)
        self.scheduler.tell([segment])
        return segment

    def run(self, max_evals: int) -> None:
        while len(self.told) < max_evals:
            self.fill()
            if not self.running:
                return
            self.finish_one()


def lcm(search: Search, **kwargs: Any) -> LearningCurveMatching:
    kwargs = {"checkpoints": CHECKPOINTS, "accumulate": 4, "percentile": 50, **kwargs}
    return LearningCurveMatching(search, MAX_EPOCHS, **kwargs)


def configs(count: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {"quality": float(rng.uniform(0.2, 1.0)), "speed": float(rng.uniform(0.1, 1.5))}
        for _ in range(count)
    ]


def random_search(seed: int = 0) -> RandomSearch:
    space = {"quality": Float(0.2, 1.0), "speed": Float(0.1, 1.5)}
    return RandomSearch([], space, seed=seed)


# -- the library -----------------------------------------------------------------------


def test_the_prediction_is_the_final_of_the_nearest_recorded_curve():
    library = CurveLibrary(percentile=50)
    library.add(RecordedCurve(10, (0.1, 0.2, 0.3), 0.4))
    library.add(RecordedCurve(11, (0.5, 0.6, 0.7), 0.9))
    library.add(RecordedCurve(12, (0.5, 0.9), 0.95))  # ended before the third checkpoint
    library.add(RecordedCurve(13, (0.3, 0.35, 0.4), 0.5))
    # Over the first checkpoint only: 0.32 is nearest to run 13 (0.3).
    first = library.predict([0.32])
    assert (first.final, first.nearest) == (0.5, 13)
    assert first.distance == pytest.approx(0.02)
    # Over two: (0.5, 0.85) is nearest to run 12, though run 11 ties at the first.
    second = library.predict([0.5, 0.85])
    assert (second.final, second.nearest) == (0.95, 12)
    # Over three: run 12 has no third value and takes no part.
    third = library.predict([0.5, 0.9, 0.95])
    assert (third.final, third.nearest) == (0.9, 11)
    assert third.distance == pytest.approx(math.hypot(0.3, 0.25))
    assert third.threshold == pytest.approx(np.percentile([0.4, 0.9, 0.95, 0.5], 50))
    assert third.num_recorded == 4
    assert library.predict([0.1, 0.2, 0.3, 0.4]) is None  # nobody has four values


def test_ties_go_to_the_curve_recorded_first():
    library = CurveLibrary(percentile=50)
    library.add(RecordedCurve(1, (0.4,), 0.6))
    library.add(RecordedCurve(2, (0.6,), 0.8))
    assert library.predict([0.5]).nearest == 1


def test_a_prediction_below_the_percentile_stops():
    library = CurveLibrary(percentile=50)
    for run_id, final in enumerate([0.5, 0.6, 0.7, 0.8]):
        library.add(RecordedCurve(run_id, (final - 0.2,), final))
    assert library.threshold() == pytest.approx(0.65)
    assert library.predict([0.41]).below_threshold  # like run 1: 0.6 < 0.65
    assert not library.predict([0.49]).below_threshold  # like run 2: 0.7


def test_predicted_finals_of_stopped_runs_count_in_the_percentile():
    # Complete trainings alone are survivors: their percentile would rise with each stop.
    library = CurveLibrary(percentile=50)
    for run_id, final in enumerate([0.6, 0.7, 0.8, 0.9]):
        library.add(RecordedCurve(run_id, (final,), final))
    assert library.threshold() == pytest.approx(0.75)
    library.add_estimate(0.2)
    library.add_estimate(0.3)
    assert library.threshold() == pytest.approx(0.65)
    prediction = library.predict([0.62])
    assert (prediction.num_recorded, prediction.num_estimated) == (6, 2)
    assert len(library) == 4  # matching uses curves only


# -- the scheduler ---------------------------------------------------------------------


def test_default_checkpoints_are_quarters_of_the_training():
    assert default_checkpoints(20) == [5, 10, 15]
    assert default_checkpoints(10) == [3, 5, 8]
    assert default_checkpoints(4) == [1, 2, 3]
    assert default_checkpoints(3) == [1, 2]
    assert default_checkpoints(2) == [1]
    scheduler = LearningCurveMatching(ListSearch([]), 20)
    assert (scheduler.checkpoints, scheduler.accumulate, scheduler.percentile) == (
        [5, 10, 15],
        10,
        50.0,
    )


def test_accumulation_trains_fully_then_runs_train_in_segments_to_the_checkpoints():
    # The worst recorded final is a flat zero and the percentile tiny: only curves nearest
    # to it would stop, and the later ones rise far above it.
    proposals = [
        {"quality": 0.0, "speed": 1.0},
        *configs(3),
        *[{"quality": 0.8 + 0.05 * i, "speed": 1.0} for i in range(4)],
    ]
    search = ListSearch(proposals)
    driver = SimulatedDriver(lcm(search, percentile=1e-9))
    driver.run(max_evals=100)
    full = [job for job in driver.asked if job.info["lcm_mode"] == "full"]
    assert len(full) == 4 and all(job.epochs == MAX_EPOCHS for job in full)
    assert not any(job.checkpoint for job in full)
    # After them, each configuration trains 0-2, 2-4, 4-6, 6-8, continuing its checkpoint.
    segmented = driver.told[4:]
    assert [s.job.epochs for s in segmented] == [2, 4, 6, 8] * 4
    assert [s.initial_epoch for s in segmented] == [0, 2, 4, 6] * 4
    assert [s.job.checkpoint for s in segmented] == [True, True, True, False] * 4
    for index, segment in enumerate(segmented):
        first = segmented[index - index % 4]
        if segment.initial_epoch:
            assert segment.job.continue_from == segmented[index - 1].trial_id
            assert segment.job.info["lcm_run"] == first.trial_id
    # The search is told each configuration once, when its run ends: its best epoch.
    assert [o.score for o in search.told] == [
        pytest.approx(max(synthetic_curve(c))) for c in proposals
    ]


def test_it_never_stops_during_accumulation():
    # Six workers: two configurations start in segments before accumulation ends; two
    # of four complete trainings are recorded when their worst-possible curves are told.
    bad = {"quality": 0.01, "speed": 0.1}
    search = ListSearch([*configs(4), bad, bad])
    scheduler = lcm(search, percentile=100)
    jobs = scheduler.ask(6)
    assert [job.info["lcm_mode"] for job in jobs] == ["full"] * 4 + ["segmented"] * 2
    flat = [(0, [0.5] * MAX_EPOCHS), (1, [0.9] * MAX_EPOCHS)]
    scheduler.tell([Segment(i, jobs[i], 0, MAX_EPOCHS, max(c), tuple(c)) for i, c in flat])
    assert len(scheduler.library) == 2 and scheduler.accumulating
    segments = [
        Segment(4 + i, job, 0, 2, 0.001, (0.0005, 0.001)) for i, job in enumerate(jobs[4:])
    ]
    scheduler.tell(segments)
    assert [scheduler.notes(s.trial_id)["lcm_decision"] for s in segments] == ["continue"] * 2
    assert scheduler.notes(4)["lcm_stage"] == "accumulate"
    assert "accumulating: 2 of 4 complete trainings" in scheduler.notes(4)["lcm_reason"]
    assert len(search.told) == 2  # the complete ones only
    # Their next segments come before any new configuration.
    search.configs = configs(3, seed=1)
    following = scheduler.ask(3)
    assert [job.continue_from for job in following] == [4, 5, None]
    assert scheduler.live_checkpoints() == {4, 5}


def oracle_decisions(told: Sequence[Segment], accumulate: int, percentile: float) -> dict:
    """Replays the told segments with a plain reimplementation of the rule."""
    recorded: list[tuple[int, list[float], float]] = []  # run id, checkpoint values, final
    estimates: list[float] = []  # what stopped runs were predicted to end at
    curves: dict[int, tuple[int, list[float]]] = {}  # tip -> run id, curve so far
    expected = {}
    for segment in told:
        if segment.job.continue_from is None:
            run_id, curve = segment.trial_id, []
        else:
            run_id, curve = curves.pop(segment.job.continue_from)
        curve = curve + list(segment.curve)
        values = [curve[c - 1] for c in CHECKPOINTS if c <= len(curve)]
        if len(curve) == MAX_EPOCHS:
            recorded.append((run_id, values, max(curve)))
            expected[segment.trial_id] = ("complete", None)
            continue
        if len(recorded) < accumulate:
            expected[segment.trial_id] = ("continue", None)
            curves[segment.trial_id] = (run_id, curve)
            continue
        distances = [math.dist(values, past[: len(values)]) for _, past, _ in recorded]
        nearest = int(np.argmin(distances))
        predicted = recorded[nearest][2]
        finals = [final for _, _, final in recorded] + estimates
        threshold = np.percentile(finals, percentile)
        estimate = max(predicted, max(curve))
        decision = "stop" if estimate < threshold else "continue"
        expected[segment.trial_id] = (decision, (predicted, recorded[nearest][0], threshold))
        if decision == "continue":
            curves[segment.trial_id] = (run_id, curve)
        else:
            estimates.append(estimate)
    return expected


@pytest.mark.parametrize("percentile", [25, 50, 80])
def test_it_stops_exactly_the_runs_predicted_below_the_percentile(percentile):
    search = ListSearch(configs(40, seed=3))
    scheduler = lcm(search, accumulate=5, percentile=percentile)
    driver = SimulatedDriver(scheduler)
    driver.run(max_evals=1000)
    expected = oracle_decisions(driver.told, 5, percentile)
    stops = 0
    for segment in driver.told:
        notes = scheduler.notes(segment.trial_id)
        decision, prediction = expected[segment.trial_id]
        assert notes["lcm_decision"] == decision, (segment.trial_id, notes)
        if prediction is not None:
            predicted, nearest, threshold = prediction
            assert notes["lcm_predicted"] == pytest.approx(predicted)
            assert notes["lcm_nearest"] == nearest
            assert notes["lcm_threshold"] == pytest.approx(threshold)
            assert notes["lcm_stage"] == "check"
        if decision == "stop":
            stops += 1
            assert "is worse than" in notes["lcm_reason"]
            assert notes["lcm_epoch"] in CHECKPOINTS
    assert 3 < stops < 35  # the rule bites, but not everything
    assert len(search.told) == 40


def test_what_the_search_is_told():
    # Recorded finals 0.3, 0.5, 0.7, 0.9 (curves flat from epoch 1, speed huge).
    flat = [{"quality": q, "speed": 50.0} for q in (0.3, 0.5, 0.7, 0.9)]
    # Like the 0.3 run at epoch 2: predicted 0.3, but it already reached 0.31.
    above = {"quality": 0.31, "speed": 50.0}
    # Like the 0.5 run; predicted 0.5 though it reached 0.49 at epoch 2.
    lower = {"quality": 0.49, "speed": 50.0}
    search = ListSearch([*flat, above, lower, {"quality": 0.88, "speed": 50.0}])
    scheduler = lcm(search, percentile=60)  # threshold 0.66, then 0.58 with 0.31 counted
    SimulatedDriver(scheduler).run(max_evals=100)
    scores = [o.score for o in search.told]
    assert scores[:4] == pytest.approx([0.3, 0.5, 0.7, 0.9])
    assert scores[4] == pytest.approx(0.31)  # max(prediction 0.3, best seen 0.31)
    assert scores[5] == pytest.approx(0.5)  # the prediction
    assert scores[6] == pytest.approx(0.88)  # complete: its best epoch
    assert [scheduler.notes(t)["lcm_decision"] for t in (4, 5)] == ["stop", "stop"]
    assert scheduler.notes(4)["lcm_told"] == pytest.approx(0.31)
    assert scheduler.notes(5)["lcm_predicted"] == pytest.approx(0.5)


def test_a_run_that_already_reached_the_percentile_is_not_stopped():
    # Finals 0.1 and 0.9: the median is 0.5. The run peaked at 0.6 in epoch 1, then fell
    # to 0.2 at the checkpoint: nearest to the 0.1 curve, but its final (a best epoch)
    # is at least 0.6.
    peaked = [0.6, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]
    search = ListSearch([{"curve": [0.1] * 8}, {"curve": [0.9] * 8}, {"curve": peaked}])
    scheduler = lcm(search, accumulate=2, checkpoints=[2])
    SimulatedDriver(scheduler).run(max_evals=3)
    notes = scheduler.notes(2)
    assert notes["lcm_decision"] == "continue"
    assert (notes["lcm_predicted"], notes["lcm_best"]) == (0.1, 0.6)
    assert "predicted final 0.6 (what it has already reached; the nearest" in notes["lcm_reason"]
    assert "is not worse than 0.5, the 50th percentile of 2 finals" in notes["lcm_reason"]


def test_failed_and_self_stopped_runs():
    def curve(hyperparameters):
        if hyperparameters.get("patience_at"):  # the problem's EarlyStopping ends it
            return synthetic_curve(hyperparameters)[: hyperparameters["patience_at"]]
        return synthetic_curve(hyperparameters)

    failing = {"quality": 0.9, "speed": 1.0, "fails": True}
    patient = {"quality": 0.8, "speed": 1.0, "patience_at": 5}
    search = ListSearch([failing, patient, *configs(3)])
    scheduler = lcm(search, accumulate=2)
    driver = SimulatedDriver(scheduler, curve)
    driver.run(max_evals=3)
    assert scheduler.notes(0)["lcm_decision"] == "failed"
    assert search.told[0].score is None
    ended = scheduler.notes(1)
    assert (ended["lcm_decision"], ended["lcm_epoch"]) == ("ended", 5)
    assert search.told[1].score == pytest.approx(max(curve(patient)))
    assert scheduler.library.curves[0].values == pytest.approx(
        [synthetic_curve(patient)[1], synthetic_curve(patient)[3]]
    )
    assert scheduler.library.curves[0].run_id == 1


def test_a_minimised_objective_is_reported_in_its_units():
    search = ListSearch(configs(6))
    scheduler = LearningCurveMatching(
        search, MAX_EPOCHS, checkpoints=[4], accumulate=2, percentile=100, direction="min"
    )
    driver = SimulatedDriver(scheduler)
    driver.run(max_evals=100)
    checked = [
        scheduler.notes(s.trial_id)
        for s in driver.told
        if "lcm_predicted" in scheduler.notes(s.trial_id)
    ]
    assert checked
    for notes in checked:
        assert notes["lcm_predicted"] < 0 and notes["lcm_threshold"] < 0  # -(score)


def test_checkpoints_are_live_while_a_run_waits_or_continues():
    search = ListSearch(configs(10))
    scheduler = lcm(search, accumulate=2, percentile=1e-9)
    driver = SimulatedDriver(scheduler, workers=3)
    driver.run(max_evals=9)
    waiting = {
        s.trial_id
        for s in driver.told
        if scheduler.notes(s.trial_id).get("lcm_decision") == "continue"
    }
    continued = {s.job.continue_from for s in driver.told}
    running_parents = {job.continue_from for _, job in driver.running} - {None}
    assert running_parents and scheduler.live_checkpoints() >= running_parents
    assert scheduler.live_checkpoints() == (waiting - continued) | running_parents


def test_resume_by_telling_again_and_restoring_the_state_gives_the_same_jobs():
    def simulated(seed):
        return SimulatedDriver(lcm(random_search(seed), accumulate=3), workers=3)

    for kill_at, collected_after_last_ask in [(5, 0), (11, 2), (17, 1), (26, 2)]:
        original = simulated(0)
        original.run(max_evals=kill_at)
        for _ in range(collected_after_last_ask):
            original.finish_one()
        kill_at += collected_after_last_ask
        asked_before = len(original.asked)
        # Killed here: the journal holds the told segments and the state of the last ask.
        resumed_scheduler = lcm(random_search(123), accumulate=3)  # seed irrelevant: restored
        resumed_scheduler.tell(original.told)
        resumed_scheduler.set_state(original.state)
        assert resumed_scheduler.live_checkpoints() == original.scheduler.live_checkpoints()
        resumed = SimulatedDriver(resumed_scheduler, workers=3)
        # The driver re-runs the unfinished jobs under their trial ids.
        resumed.next_id, resumed.reached = original.next_id, dict(original.reached)
        resumed.running = list(original.running)
        original.run(max_evals=kill_at + 30)
        resumed.run(max_evals=30)
        assert resumed.asked == original.asked[asked_before:]
        assert [s.job for s in resumed.told] == [s.job for s in original.told[kill_at:]]
        assert [resumed_scheduler.notes(s.trial_id) for s in resumed.told] == [
            original.scheduler.notes(s.trial_id) for s in original.told[kill_at:]
        ]
        stops = [n for n in map(original.scheduler.notes, range(original.next_id)) if n]
        assert any(n["lcm_decision"] == "stop" for n in stops)


# -- parameters ------------------------------------------------------------------------


def context(max_epochs: int = 10) -> SchedulingContext:
    return SchedulingContext(max_epochs=max_epochs, max_width=1, num_workers=2, seed=0)


def test_make_scheduler_builds_it_from_the_flags_keywords():
    scheduler = make_scheduler(
        "lcm",
        ListSearch([]),
        context(),
        {"accumulate": 3, "checkpoints": [6, 2], "percentile": 75.0},
    )
    assert isinstance(scheduler, LearningCurveMatching)
    assert (scheduler.accumulate, scheduler.checkpoints, scheduler.percentile) == (3, [2, 6], 75)
    assert scheduler.max_epochs == 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"accumlate": 3}, "unknown parameter.*accumlate.*accumulate, checkpoints, percentile"),
        ({"eta": 3, "min_epochs": 1}, "eta, min_epochs"),
        ({"accumulate": 1}, "accumulate must be an int >= 2.*got 1"),
        ({"accumulate": 2.5}, "accumulate must be an int"),
        ({"accumulate": True}, "accumulate must be an int"),
        ({"checkpoints": [0, 5]}, r"epochs from 1 to 9 .*last 10\), got \[0, 5\]"),
        ({"checkpoints": [5, 10]}, "epochs from 1 to 9"),
        ({"checkpoints": [2, 2]}, "distinct"),
        ({"checkpoints": []}, "at least one epoch"),
        ({"checkpoints": "2 4"}, "a list of epochs"),
        ({"checkpoints": [2.0]}, "epochs from 1 to 9"),
        ({"percentile": 0}, r"percentile must be a number in \(0, 100\].*got 0"),
        ({"percentile": 101}, "got 101"),
        ({"percentile": "50"}, "got '50'"),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_scheduler("lcm", ListSearch([]), context(), kwargs)


def test_a_one_epoch_problem_is_refused():
    with pytest.raises(ValueError, match="at least 2 epochs.*trains 1"):
        make_scheduler("lcm", ListSearch([]), context(max_epochs=1))
