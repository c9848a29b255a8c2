"""A search resumed from its journal proposes exactly what the interrupted one would.

A deterministic in-process evaluator (results in submission order, scores computed
from the configuration) makes two runs comparable: one uninterrupted, one killed
(an exception out of the evaluator, with evaluations still running) and resumed.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from toy_problems import problem

from nas import Callback, Study
from nas.driver import read_journal
from nas.evaluate import Evaluator, unreported_result
from nas.search import AgEBO
from nas.train import Status
from nas.trial import Config, Trial


class Killed(Exception):
    """Stands for SIGKILL: the driver's loop ends at once, the journal as flushed."""


class FifoEvaluator(Evaluator):
    """Four workers; each collect returns the oldest running config, scored by formula."""

    num_workers = 4
    trains = False  # scores by formula: nothing to check before the search starts

    def __init__(self, kill_at_collect: int | None = None) -> None:
        self.running: list[Config] = []
        self.collects = 0
        self.kill_at_collect = kill_at_collect

    def submit(self, config: Config) -> None:
        self.running.append(config)

    def collect(self, timeout: float | None = None) -> list[Trial]:
        self.collects += 1
        if self.collects == self.kill_at_collect:
            raise Killed
        config = self.running.pop(0)
        score = sum(config.arch_seq) / 100 + config.hyperparameters["learning_rate"]
        result = unreported_result(config, 0.0, Status.FAILED, "x")
        result = replace(result, status=Status.OK, objective=score, error=None, error_stage=None)
        return [Trial(config, result, "fifo", 0.0)]

    @property
    def num_running(self) -> int:
        return len(self.running)


def proposals(directory) -> list[tuple]:
    journal = read_journal(directory)
    configs = sorted(
        [trial.config for trial in journal.finished] + journal.unfinished,
        key=lambda config: config.trial_id,
    )
    return [(c.trial_id, c.arch_seq, c.hyperparameters["learning_rate"]) for c in configs]


class PendingLies(Callback):
    """Checks, as the run starts, that the resumed search counts every evaluation still
    running at the kill as a pending lie, as it did before the kill."""

    def __init__(self, history) -> None:
        self.expected = len(history.unfinished) if history is not None else 0

    def on_search_start(self, study) -> None:
        assert study.search.optimizer.num_pending == self.expected


def run(directory, evaluator, history=None, **search_kwargs):
    search = AgEBO.for_problem(problem, seed=7, **search_kwargs)
    Study(
        problem,
        directory,
        search,
        max_evals=14,
        evaluator=evaluator,
        seed=7,
        keep_models=0,
        callbacks=[PendingLies(history)],
        if_exists="resume" if history is not None else "error",
        progress=False,
    ).run()
    return search


@pytest.mark.parametrize("kill_at", [3, 8])
def test_a_resumed_agebo_proposes_what_the_uninterrupted_one_did(tmp_path, kill_at):
    # Small initial design and population, so that the surrogate and the evolution
    # drive the proposals well before the kill.
    options = {"population_size": 4, "sample_size": 2, "num_initial": 3}
    reference = run(tmp_path / "reference", FifoEvaluator(), **options)

    interrupted = tmp_path / "interrupted"
    with pytest.raises(Killed):
        run(interrupted, FifoEvaluator(kill_at_collect=kill_at), **options)
    history = read_journal(interrupted)
    assert history.unfinished, "the kill must leave evaluations running"
    resumed = run(interrupted, FifoEvaluator(), history=history, **options)

    assert proposals(interrupted) == proposals(tmp_path / "reference")
    assert list(resumed.population) == list(reference.population)
    assert resumed.optimizer.num_pending == reference.optimizer.num_pending == 0
