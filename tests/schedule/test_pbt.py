"""Population-based training as a pure scheduler: a fake search space, synthetic scores,
and a fake driver that plays the real one's part (trial ids, epochs from the parent)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest

from nas.problem import Categorical, Float, HyperparameterSpace, Int
from nas.schedule import Job, PopulationBasedTraining, SchedulingContext, Segment, make_scheduler
from nas.search import RandomSearch

BOUNDS = (1e-4, 1e-1)
SPACE = HyperparameterSpace(
    {
        "learning_rate": Float(*BOUNDS, log=True),
        "batch_size": Int(16, 128, log=True),
        "optimizer": Categorical(["adam", "rmsprop"]),
    }
)
CHOICES = [3, 2, 4]
SCORES = [0.9, 0.5, 0.7, 0.8]  # member 1 is the bottom, member 0 the top


def make_pbt(seed: int = 0, **kwargs) -> PopulationBasedTraining:
    kwargs = {"max_epochs": 10, "population": 4, "interval": 2, **kwargs}
    return PopulationBasedTraining(RandomSearch(CHOICES, SPACE, seed=seed), seed=seed, **kwargs)


def pbt_info(job: Job) -> dict:
    return dict(job.info["pbt"])


def synthetic_score(job: Job, initial_epoch: int, trial_id: int) -> float:
    """Better with epochs and a learning rate near 1e-2, plus noise per trial."""
    noise = np.random.default_rng(trial_id).normal(0, 0.02)
    rate = math.log10(job.hyperparameters["learning_rate"])
    return job.epochs / 10 - 0.1 * (rate + 2) ** 2 + noise


class FakeDriver:
    """Runs jobs on ``workers`` fake workers; a random running one finishes next."""

    def __init__(
        self,
        scheduler: PopulationBasedTraining,
        workers: int = 2,
        seed: int = 0,
        fails: Callable[[Job, int], bool] = lambda job, trial_id: False,
    ) -> None:
        self.scheduler, self.workers, self.fails = scheduler, workers, fails
        self.rng = np.random.default_rng(seed)
        self.running: list[tuple[int, Job, int]] = []
        self.reached: dict[int, int] = {}
        self.segments: list[Segment] = []
        self.jobs: dict[int, Job] = {}
        # What happened, in order: ("ask", n, jobs, state) and ("tell", segment).
        self.events: list[tuple] = []

    def fill(self) -> list[Job]:
        free = self.workers - len(self.running)
        if free <= 0:
            return []
        jobs = self.scheduler.ask(free)
        # As the journal keeps it: JSON, after the ask.
        state = json.loads(json.dumps(self.scheduler.get_state()))
        self.events.append(("ask", free, jobs, state))
        for job in jobs:
            trial_id = len(self.jobs)
            initial = 0 if job.continue_from is None else self.reached[job.continue_from]
            assert initial < job.epochs
            self.jobs[trial_id] = job
            self.running.append((trial_id, job, initial))
        return jobs

    def finish_one(self) -> Segment:
        trial_id, job, initial = self.running.pop(int(self.rng.integers(len(self.running))))
        if self.fails(job, trial_id):
            segment = Segment(trial_id, job, initial, 0, None)
        else:
            score = synthetic_score(job, initial, trial_id)
            segment = Segment(trial_id, job, initial, job.epochs - initial, score)
        self.reached[trial_id] = segment.epochs_reached
        self.segments.append(segment)
        self.events.append(("tell", segment))
        self.scheduler.tell([segment])
        return segment

    def run(self, max_segments: int = 1000) -> list[Segment]:
        while len(self.segments) < max_segments:
            self.fill()
            if not self.running:
                break
            self.finish_one()
        return self.segments


def start_population(pbt: PopulationBasedTraining, scores: list[float]) -> list[Segment]:
    """Start every member and tell its first segment with the given scores."""
    jobs = pbt.ask(len(scores))
    segments = [
        Segment(trial_id, job, 0, job.epochs, score)
        for trial_id, (job, score) in enumerate(zip(jobs, scores))
    ]
    pbt.tell(segments)
    return segments


# -- the population and its segments --------------------------------------------------


def test_the_population_is_the_searchs_proposals_trained_in_segments():
    pbt = make_pbt(seed=3)
    twin = RandomSearch(CHOICES, SPACE, seed=3)
    jobs = pbt.ask(6)
    assert len(jobs) == 4  # the population; the others wait for results
    for member, (job, proposal) in enumerate(zip(jobs, twin.ask(4))):
        assert job.arch_seq == proposal.arch_seq
        assert job.hyperparameters == proposal.hyperparameters
        assert (job.epochs, job.continue_from, job.checkpoint) == (2, None, True)
        assert pbt_info(job) == {
            "member": member,
            "step": 0,
            "action": "start",
            "learning_rate": proposal.hyperparameters["learning_rate"],
        }
    assert pbt.ask(2) == []


def test_the_bottom_member_copies_the_top_one_and_changes_only_the_learning_rate():
    for seed in range(20):
        pbt = make_pbt(seed=seed)
        firsts = start_population(pbt, [0.9, 0.5, 0.7, 0.8])  # member 1 is the bottom
        jobs = {pbt_info(job)["member"]: job for job in pbt.ask(4)}
        assert sorted(jobs) == [0, 1, 2, 3]
        copy, source = jobs[1], firsts[0]  # the top quantile of 4 is member 0
        assert copy.continue_from == source.trial_id and copy.checkpoint
        assert copy.epochs == 4 and copy.arch_seq == source.job.arch_seq
        changed = {
            name
            for name, value in copy.hyperparameters.items()
            if value != source.job.hyperparameters[name]
        }
        assert changed <= {"learning_rate"}
        info = pbt_info(copy)
        old, new = (
            source.job.hyperparameters["learning_rate"],
            copy.hyperparameters["learning_rate"],
        )
        assert info["action"] == "exploit" and info["reason"] == "bottom quantile"
        assert (info["copied_member"], info["copied_trial"], info["copied_epoch"]) == (0, 0, 2)
        assert info["copied_learning_rate"] == old and info["learning_rate"] == new
        assert info["previous_learning_rate"] == firsts[1].job.hyperparameters["learning_rate"]
        if info["explore"] == "perturb":
            assert info["factor"] in (1.2, 0.8)
            assert new == pytest.approx(min(max(old * info["factor"], BOUNDS[0]), BOUNDS[1]))
        else:
            assert info["explore"] == "resample" and info["factor"] is None
            assert BOUNDS[0] <= new <= BOUNDS[1]
        for member in (0, 2, 3):  # the others continue their own, unchanged
            job, own = jobs[member], firsts[member]
            assert pbt_info(job)["action"] == "continue"
            assert job.continue_from == own.trial_id and job.epochs == 4
            assert job.hyperparameters == own.job.hyperparameters
            assert job.arch_seq == own.job.arch_seq


def test_exploration_follows_the_factors_and_the_resample_probability():
    explored = []
    for seed in range(60):
        pbt = make_pbt(seed=seed, factors=[0.5, 2.0, 3.0], resample_probability=0.3)
        start_population(pbt, [0.9, 0.5, 0.7, 0.8])
        explored += [pbt_info(job) for job in pbt.ask(4) if pbt_info(job)["action"] == "exploit"]
    kinds = [info["explore"] for info in explored]
    assert len(explored) == 60 and 8 <= kinds.count("resample") <= 30
    assert {info["factor"] for info in explored if info["explore"] == "perturb"} == {0.5, 2.0, 3.0}
    for probability, kind in ((0.0, "perturb"), (1.0, "resample")):
        pbt = make_pbt(seed=1, resample_probability=probability)
        start_population(pbt, [0.9, 0.5, 0.7, 0.8])
        assert pbt_info(pbt.ask(4)[1])["explore"] == kind


def test_perturbed_rates_are_clipped_to_the_bounds():
    pbt = make_pbt(seed=0, factors=[10.0], resample_probability=0.0)
    jobs = pbt.ask(4)
    high = Job(
        jobs[0].arch_seq, {**jobs[0].hyperparameters, "learning_rate": 0.05}, 2, info=jobs[0].info
    )
    pbt.tell(
        [Segment(0, high, 0, 2, 0.9)]
        + [Segment(i, jobs[i], 0, 2, 0.5 + i / 10) for i in (1, 2, 3)]
    )
    copy = next(job for job in pbt.ask(4) if pbt_info(job)["action"] == "exploit")
    assert copy.hyperparameters["learning_rate"] == BOUNDS[1]


def test_exactly_the_bottom_quantile_is_replaced_by_copies_of_the_top_quantile():
    rng = np.random.default_rng(0)
    for seed in range(10):
        pbt = make_pbt(seed=seed, population=8)  # 25% of 8: the 2 worst copy the 2 best
        scores = list(rng.permutation(8) / 10)
        firsts = start_population(pbt, scores)
        ranked = sorted(range(8), key=lambda member: scores[member])
        jobs = {pbt_info(job)["member"]: job for job in pbt.ask(8)}
        copies = {member for member, job in jobs.items() if pbt_info(job)["action"] == "exploit"}
        assert copies == set(ranked[:2])
        for member in copies:
            assert pbt_info(jobs[member])["copied_member"] in ranked[-2:]
            assert jobs[member].continue_from in {firsts[m].trial_id for m in ranked[-2:]}


def test_a_member_copies_only_members_as_far_as_itself_and_strictly_better():
    pbt = make_pbt(seed=0, population=4, quantile=0.5)
    start_population(pbt, [0.5, 0.5, 0.5, 0.5])  # all equal: nobody is better
    assert {pbt_info(job)["action"] for job in pbt.ask(4)} == {"continue"}

    pbt = make_pbt(seed=0, population=4, quantile=0.5)
    firsts = start_population(pbt, [0.9, 0.8, 0.1, 0.2])
    continued = {pbt_info(job)["member"]: job for job in pbt.ask(4)}
    # Members 2 and 3 copied; member 0 runs ahead to epoch 4 and drops to the bottom.
    ahead = Segment(10, continued[0], 2, 2, 0.05)
    pbt.tell([ahead])
    job = pbt.ask(1)[0]
    assert pbt_info(job)["member"] == 0
    assert pbt_info(job)["action"] == "continue"  # the better ones are behind, at epoch 2
    assert job.continue_from == ahead.trial_id and job.epochs == 6
    del firsts


def test_a_failed_member_is_replaced_by_a_copy_or_restarted():
    pbt = make_pbt(seed=0)
    jobs = pbt.ask(4)
    # The first segment to finish failed: nobody has a score to copy, so it restarts.
    pbt.tell([Segment(0, jobs[0], 0, 0, None)])
    restart = pbt.ask(1)[0]
    info = pbt_info(restart)
    assert (info["member"], info["step"], info["action"], info["reason"]) == (
        0,
        1,
        "restart",
        "failed",
    )
    assert restart.continue_from is None and restart.epochs == 2
    assert (
        restart.arch_seq != jobs[0].arch_seq or restart.hyperparameters != jobs[0].hyperparameters
    )
    # Once others have scores, a failed member copies a top one, whatever their ranking.
    pbt.tell([Segment(1, jobs[1], 0, 2, 0.3), Segment(2, jobs[2], 0, 2, 0.9)])
    pbt.tell([Segment(4, restart, 0, 0, None)])
    by_member = {pbt_info(job)["member"]: job for job in pbt.ask(3)}
    copy = by_member[0]
    assert pbt_info(copy)["action"] == "exploit" and pbt_info(copy)["reason"] == "failed"
    assert copy.continue_from == 2  # member 2, the top of the two scored
    assert copy.epochs == 4


def test_a_full_run_ends_by_itself_with_every_member_at_the_last_epoch():
    pbt = make_pbt(seed=4, population=6, interval=3, max_epochs=10)
    driver = FakeDriver(pbt, workers=4, seed=4)
    segments = driver.run()
    assert pbt.ask(4) == [] and not driver.running
    # At most population * ceil(max_epochs / interval) segments, boundaries 3, 6, 9, 10.
    assert len(segments) <= 6 * 4
    assert {segment.job.epochs for segment in segments} <= {3, 6, 9, 10}
    last = {}
    for segment in segments:
        last[pbt_info(segment.job)["member"]] = segment
        assert segment.job.checkpoint == (segment.job.epochs < 10)
    assert sorted(last) == list(range(6))
    assert all(segment.epochs_reached == 10 for segment in last.values())
    actions = [pbt_info(segment.job)["action"] for segment in segments]
    assert actions.count("start") == 6 and actions.count("exploit") >= 3
    # Members learn: the learning rates of the last segments gather near the best (1e-2).
    final_rates = [math.log10(s.job.hyperparameters["learning_rate"]) for s in last.values()]
    first_rates = [math.log10(s.job.hyperparameters["learning_rate"]) for s in segments[:6]]
    distance = np.mean(np.abs(np.array(final_rates) + 2))
    assert distance < np.mean(np.abs(np.array(first_rates) + 2))


def test_live_checkpoints_are_the_latest_of_members_that_train_on_and_those_given_to_jobs():
    pbt = make_pbt(seed=0)
    firsts = start_population(pbt, [0.9, 0.5, 0.7, 0.8])
    assert pbt.live_checkpoints() == {0, 1, 2, 3}
    jobs = {pbt_info(job)["member"]: job for job in pbt.ask(4)}
    # Member 1 copies member 0's checkpoint; its own is still live until it is told.
    assert jobs[1].continue_from == firsts[0].trial_id
    pbt.tell([Segment(4, jobs[0], 2, 2, 0.95)])  # member 0 moved on to trial 4
    assert pbt.live_checkpoints() == {4, 1, 2, 3, 0}  # trial 0 is still being copied
    pbt.tell([Segment(5, jobs[1], 2, 2, 0.96)])
    assert pbt.live_checkpoints() == {4, 5, 2, 3}


@pytest.mark.parametrize("workers", [2, 4])
def test_a_resumed_scheduler_asks_for_the_same_jobs(workers):
    """On resume, the driver tells the finished segments again, restores the state of
    the last submission and declares the unfinished jobs running (they are re-run); from
    there on, every ask must give what it gave."""
    pbt = make_pbt(seed=7, population=5, interval=2, max_epochs=8)
    driver = FakeDriver(
        pbt, workers=workers, seed=7, fails=lambda job, trial_id: trial_id % 7 == 3
    )
    driver.run()
    events = driver.events
    asks = [index for index, event in enumerate(events) if event[0] == "ask"]
    assert len(asks) > 5 and any(seg.failed for seg in driver.segments)
    for cut in asks[1:]:
        resumed = make_pbt(seed=7, population=5, interval=2, max_epochs=8)
        told = [event[1] for event in events[:cut] if event[0] == "tell"]
        resumed.tell(told)
        resumed.set_state([e[3] for e in events[:cut] if e[0] == "ask" and e[2]][-1])
        asked = [job for event in events[:cut] if event[0] == "ask" for job in event[2]]
        done = {id(segment.job) for segment in told}
        resumed.running([job for job in asked if id(job) not in done])
        for event in events[cut:]:
            if event[0] == "ask":
                assert resumed.ask(event[1]) == event[2], f"cut at event {cut}"
            else:
                resumed.tell([event[1]])
        assert resumed.live_checkpoints() == pbt.live_checkpoints()


def test_only_the_searchs_own_proposals_are_declared_running_to_it():
    """A model-based search counts what it proposed as pending until told: on resume it
    must hear of the re-run starts, not of continued or copied members."""
    pbt = make_pbt(seed=0)
    starts = pbt.ask(4)
    state_after_starts = pbt.get_state()
    firsts = [Segment(i, job, 0, 2, score) for i, (job, score) in enumerate(zip(starts, SCORES))]
    pbt.tell(firsts)
    continued = pbt.ask(4)
    declared: list = []
    resumed = make_pbt(seed=0)
    resumed.search.running = declared.extend
    resumed.tell(firsts)
    resumed.set_state(pbt.get_state())
    resumed.running(continued)
    assert declared == []
    assert resumed.ask(4) == []  # every member is running
    fresh = make_pbt(seed=0)
    fresh.search.running = declared.extend
    fresh.set_state(state_after_starts)
    fresh.running(starts)
    assert [proposal.arch_seq for proposal in declared] == [job.arch_seq for job in starts]
    assert fresh.ask(4) == []


# -- validation ------------------------------------------------------------------------


def context(**kwargs) -> SchedulingContext:
    return SchedulingContext(
        **{"max_epochs": 10, "max_width": 1, "num_workers": 2, "seed": 0, **kwargs}
    )


def search(space: HyperparameterSpace = SPACE) -> RandomSearch:
    return RandomSearch(CHOICES, space, seed=0)


def test_defaults_come_from_the_context():
    pbt = make_scheduler("pbt", search(), context(num_workers=2, max_epochs=12))
    assert (pbt.population, pbt.interval, pbt.quantile) == (4, 2, 0.25)
    assert (pbt.resample_probability, pbt.factors) == (0.25, (1.2, 0.8))
    pbt = make_scheduler("pbt", search(), context(num_workers=16, max_epochs=3))
    assert (pbt.population, pbt.interval) == (16, 1)


def test_unknown_parameters_are_named_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['rate', 'size'\]") as error:
        make_scheduler("pbt", search(), context(), {"size": 4, "rate": 0.1, "interval": 2})
    for name in ("population", "interval", "quantile", "resample_probability", "factors"):
        assert name in str(error.value)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"population": 1}, r"population must be an int >= 2, got 1"),
        ({"population": True}, r"population must be an int >= 2, got True"),
        ({"interval": 0}, r"interval must be an int >= 1, got 0"),
        ({"interval": 10}, r"interval=10 must be smaller than the epochs members train \(10\)"),
        ({"quantile": 0}, r"quantile must be a number in \(0, 0.5\], got 0"),
        ({"quantile": 0.75}, r"quantile must be a number in \(0, 0.5\], got 0.75"),
        ({"resample_probability": 1.5}, r"resample_probability must be a number in \[0, 1\]"),
        ({"factors": []}, r"factors must be a non-empty list of numbers, got \[\]"),
        ({"factors": "1.2"}, r"factors must be a non-empty list of numbers"),
        ({"factors": [1.2, 0]}, r"factors must be positive numbers, got 0 in \[1.2, 0\]"),
        ({"factors": [1.2, float("inf")]}, r"factors must be positive numbers, got inf"),
    ],
)
def test_bad_values_are_refused_naming_them(params, message):
    with pytest.raises(ValueError, match=message):
        make_scheduler("pbt", search(), context(), params)


def test_a_problem_of_one_epoch_or_a_fixed_learning_rate_is_refused():
    with pytest.raises(ValueError, match=r"max_epochs must be an int >= 2, got 1"):
        make_scheduler("pbt", search(), context(max_epochs=1))
    fixed = HyperparameterSpace({"learning_rate": 0.01, "batch_size": Int(16, 128)})
    with pytest.raises(ValueError, match=r"'learning_rate' must be a Float range .* got Constant"):
        make_scheduler("pbt", search(fixed), context())


def test_only_pbt_segments_can_be_told():
    pbt = make_pbt()
    with pytest.raises(ValueError, match="trial 5 was not scheduled by pbt"):
        pbt.tell([Segment(5, Job((0, 0, 0), {"learning_rate": 0.01}), 0, 1, 0.5)])


def test_the_pbt_flags_become_the_schedulers_parameters(tmp_path):
    from nas.cli._base import _Parser
    from nas.cli._search import SearchCommand, _settings

    parser = _Parser()
    SearchCommand().add_arguments(parser)
    argv = ["--problem", "p:q", "--out", str(tmp_path), "--scheduler", "pbt"]
    argv += ["--pbt-population", "6", "--pbt-interval", "3", "--pbt-quantile", "0.5"]
    argv += ["--pbt-resample-probability", "0", "--pbt-factors", "1.5", "0.5"]
    settings = _settings(parser.parse_args(argv))
    assert settings["scheduler"] == "pbt"
    assert settings["scheduler_kwargs"] == {
        "population": 6,
        "interval": 3,
        "quantile": 0.5,
        "resample_probability": 0.0,
        "factors": [1.5, 0.5],
    }
    pbt = make_scheduler("pbt", search(), context(), settings["scheduler_kwargs"])
    assert (pbt.population, pbt.interval, pbt.factors) == (6, 3, (1.5, 0.5))
