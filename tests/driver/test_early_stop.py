"""The driver's early stops: timeout, SIGINT/SIGTERM, consecutive failures.

An in-process evaluator with scripted durations stands in for workers, so the tests
control exactly what is running when the search is asked to stop.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import replace

import pytest
from toy_problems import problem

from nas.driver import read_journal
from nas.driver._driver import Driver
from nas.evaluate import Evaluator, unreported_result
from nas.search import RandomSearch
from nas.train import Status
from nas.trial import Config, Trial


class ScriptedEvaluator(Evaluator):
    """Evaluations that take ``duration`` seconds and succeed (or fail, if ``failing``).

    It records what the driver asked of it (the configs submitted, the timeout of every
    collect), and calls ``on_submit`` after each submit and ``on_collect`` at the start
    of each collect: the tests act (send a signal) at a point of the driver's progress,
    not at a point in time, so that a slow machine changes nothing.
    """

    def __init__(
        self,
        num_workers: int,
        duration: float,
        failing: bool = False,
        on_submit: Callable[[], None] | None = None,
        on_collect: Callable[[], None] | None = None,
    ) -> None:
        self.num_workers = num_workers
        self.duration = duration
        self.failing = failing
        self.running: dict[int, tuple[Config, float]] = {}
        self.submitted: list[int] = []
        self.waits: list[float] = []  # each collect's timeout (inf: none)
        self.on_submit = on_submit
        self.on_collect = on_collect

    def submit(self, config: Config) -> None:
        self.running[config.trial_id] = (config, time.monotonic())
        self.submitted.append(config.trial_id)
        if self.on_submit is not None:
            self.on_submit()

    def collect(self, timeout: float | None = None) -> list[Trial]:
        self.waits.append(math.inf if timeout is None else timeout)
        if self.on_collect is not None:
            self.on_collect()
        end = time.monotonic() + (timeout or 0)
        while True:
            done = [
                trial_id
                for trial_id, (_, start) in self.running.items()
                if time.monotonic() - start >= self.duration
            ]
            if done or time.monotonic() >= end:
                return [self._trial(*self.running.pop(trial_id)) for trial_id in done]
            time.sleep(0.01)

    def _trial(self, config: Config, start: float) -> Trial:
        result = unreported_result(config, time.time(), Status.FAILED, "OSError: no data")
        if not self.failing:
            result = replace(result, status=Status.OK, objective=0.5, error=None, error_stage=None)
        return Trial(config, result, "scripted", start)

    @property
    def num_running(self) -> int:
        return len(self.running)


def make_driver(tmp_path, evaluator, **options) -> Driver:
    search = RandomSearch(problem.build_space().choices, problem.hyperparameters, seed=0)
    return Driver(problem, search, evaluator, tmp_path, settings={}, progress=False, **options)


def test_a_search_whose_evaluations_all_fail_stops_after_the_limit(tmp_path):
    driver = make_driver(
        tmp_path,
        ScriptedEvaluator(1, 0.0, failing=True),
        max_evals=50,
        max_consecutive_failures=4,
    )
    trials = driver.run()
    assert len(trials) == 4
    assert driver.stop_reason == "4 evaluations in a row failed (the last: OSError: no data)"


def test_successes_reset_the_count_of_consecutive_failures(tmp_path):
    evaluator = ScriptedEvaluator(1, 0.0)
    driver = make_driver(tmp_path, evaluator, max_evals=6, max_consecutive_failures=2)
    assert len(driver.run()) == 6 and driver.stop_reason is None


def test_timeout_lets_running_evaluations_finish_within_the_grace(tmp_path):
    driver = make_driver(
        tmp_path, ScriptedEvaluator(2, 0.6), max_evals=20, timeout=0.3, stop_grace=5
    )
    trials = driver.run()
    # The two evaluations started before the timeout finished during the grace.
    assert len(trials) == 2 and all(trial.result.ok for trial in trials)
    assert driver.stop_reason == "timeout of 0.3 s reached"
    assert driver.num_unfinished == 0


def test_evaluations_still_running_after_the_grace_are_left_for_resume(tmp_path):
    evaluator = ScriptedEvaluator(2, 30.0)
    driver = make_driver(tmp_path, evaluator, max_evals=20, timeout=0.2, stop_grace=0.3)
    assert driver.run() == []
    # The driver waited for results its timeout, then the grace, and no longer: the
    # waits it asked for add up to at most 0.5 s (each is capped by what is left, and
    # lasts that long, as nothing finishes), not to the 30 s of the evaluations.
    assert sum(evaluator.waits) <= 0.2 + 0.3 + 1e-9, evaluator.waits
    assert driver.num_unfinished == 2
    assert len(read_journal(tmp_path).unfinished) == 2


def kill_self(signal_number: int) -> None:
    """Send ``signal_number`` to this process, from the main thread: its handler runs
    before the next statement, so the driver sees it exactly where it was sent."""
    os.kill(os.getpid(), signal_number)


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_search_after_running_evaluations(tmp_path, signal_number):
    def on_submit() -> None:
        if len(evaluator.submitted) == 4:  # the second round has started
            kill_self(signal_number)

    evaluator = ScriptedEvaluator(2, 0.5, on_submit=on_submit)
    driver = make_driver(tmp_path, evaluator, max_evals=100, stop_grace=5)
    trials = driver.run()
    name = signal.Signals(signal_number).name
    assert driver.stop_reason == f"received {name}"
    # Nothing started after the signal; the round it interrupted finished.
    assert len(evaluator.submitted) == 4
    assert len(trials) == 4 and driver.num_unfinished == 0
    assert signal.getsignal(signal_number) is not driver  # handlers restored
    assert len(read_journal(tmp_path).finished) == 4


def test_a_second_signal_stops_waiting_at_once(tmp_path):
    second_sent_at: list[int] = []  # the collect during which the second signal came

    def on_submit() -> None:
        if len(evaluator.submitted) == 2:  # both workers busy: the first signal
            kill_self(signal.SIGTERM)

    def on_collect() -> None:
        # The driver has stopped and waits out its grace: the second signal.
        if driver.stop_reason is not None and not second_sent_at:
            second_sent_at.append(len(evaluator.waits))
            kill_self(signal.SIGTERM)

    evaluator = ScriptedEvaluator(2, 60.0, on_submit=on_submit, on_collect=on_collect)
    driver = make_driver(tmp_path, evaluator, max_evals=100, stop_grace=60)
    assert driver.run() == []
    assert driver.stop_reason == "received SIGTERM"
    # The wait under way when the second signal came was the last one: the driver did
    # not go on waiting out its 60 s grace (counted in calls, not in seconds).
    assert second_sent_at and len(evaluator.waits) == second_sent_at[0], evaluator.waits
    assert len(evaluator.submitted) == 2 and driver.num_unfinished == 2
