"""A search resumed from its journal proposes exactly what the interrupted one would.

A deterministic in-process evaluator (results in submission order, scores computed
from the configuration) makes two runs comparable: one uninterrupted, one killed
(an exception out of the evaluator, with evaluations still running) and resumed.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from toy_problems import problem

from nas.driver import read_journal
from nas.driver._driver import Driver
from nas.driver._run_search import make_search, replay
from nas.evaluate import Evaluator, unreported_result
from nas.schedule import FullTraining
from nas.train import Status
from nas.trial import Config, Trial


class Killed(Exception):
    """Stands for SIGKILL: the driver's loop ends at once, the journal as flushed."""


class FifoEvaluator(Evaluator):
    """Four workers; each collect returns the oldest running config, scored by formula."""

    num_workers = 4

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


def run(directory, evaluator, history=None, **search_kwargs):
    search = make_search("agebo", problem, 7, search_kwargs)
    scheduler = FullTraining(search)
    if history is not None:
        replay(scheduler, history, problem)
        # As before the kill: every evaluation still running counts as a pending lie.
        assert search.optimizer.num_pending == len(history.unfinished)
    driver = Driver(
        problem,
        scheduler,
        evaluator,
        directory,
        max_evals=14,
        settings={},
        seed=7,
        history=history,
        progress=False,
    )
    driver.run()
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
