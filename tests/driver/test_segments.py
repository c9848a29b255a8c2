"""The driver runs a scheduler's segments: continuation from checkpoints, release of
checkpoints no job can continue, and resume of the scheduler's state."""

from __future__ import annotations

from collections.abc import Sequence

from toy_problems import problem

from nas.driver import read_journal
from nas.driver._driver import CHECKPOINTS_FOLDER, Driver, segment
from nas.evaluate import SerialEvaluator
from nas.schedule import Job, Scheduler, Segment
from nas.search import RandomSearch


class TwoStepScheduler(Scheduler):
    """Trains each proposal for 1 epoch, then continues it once to epoch 3."""

    def __init__(self, search) -> None:
        super().__init__(search)
        self.to_continue: list[Segment] = []
        self.told: list[Segment] = []

    def ask(self, n: int) -> list[Job]:
        jobs = []
        while self.to_continue and len(jobs) < n:
            first = self.to_continue.pop(0)
            jobs.append(
                Job(
                    first.job.arch_seq,
                    first.job.hyperparameters,
                    3,
                    first.trial_id,
                    info={"step": 2},
                )
            )
        for proposal in self.search.ask(n - len(jobs)) if len(jobs) < n else []:
            jobs.append(
                Job(proposal.arch_seq, proposal.hyperparameters, 1, None, True, {"step": 1})
            )
        return jobs

    def tell(self, segments: Sequence[Segment]) -> None:
        self.told.extend(segments)
        self.to_continue += [s for s in segments if s.job.info["step"] == 1 and not s.failed]

    def live_checkpoints(self) -> set[int]:
        return {segment.trial_id for segment in self.to_continue}


def test_segments_continue_checkpoints_which_are_deleted_once_continued(tmp_path):
    search = RandomSearch(problem.build_space().choices, problem.hyperparameters, seed=0)
    scheduler = TwoStepScheduler(search)
    evaluator = SerialEvaluator("toy_problems:problem")
    driver = Driver(
        problem, scheduler, evaluator, tmp_path, max_evals=4, settings={}, progress=False
    )
    trials = driver.run()
    assert [t.result.status.value for t in trials] == ["ok"] * 4, [t.result.error for t in trials]
    firsts = [t for t in trials if t.config.info["step"] == 1]
    seconds = [t for t in trials if t.config.info["step"] == 2]
    assert len(firsts) == 2 and len(seconds) == 2
    for second in seconds:
        first = next(t for t in firsts if t.config.trial_id == second.config.parent)
        assert second.config.arch_seq == first.config.arch_seq
        assert second.config.initial_epoch == 1 and second.config.epochs == 3
        assert second.config.start_from.endswith(f"trial_{first.config.trial_id}.keras")
        assert second.result.epochs_trained == 2
    # Continued checkpoints are released; nothing else was saved.
    assert list((tmp_path / CHECKPOINTS_FOLDER).glob("*.keras")) == []
    # The journal keeps the segments' budget and lineage for a resume.
    journal = read_journal(tmp_path)
    assert {t.config.parent for t in journal.finished} == {None} | {
        t.config.trial_id for t in firsts
    }
    assert [segment(t, problem).epochs_reached for t in seconds] == [3, 3]
