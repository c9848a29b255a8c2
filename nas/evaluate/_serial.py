"""Evaluate in the calling process, one config at a time (debugging, notebooks, tests)."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

from nas.evaluate._base import Evaluator
from nas.evaluate._evaluation import (
    EvaluationFunction,
    evaluate,
    keep_warm_models,
    problem_source,
    warm_memory_budget,
)
from nas.problem import Problem
from nas.trial import Config, Trial


class SerialEvaluator(Evaluator):
    """Runs each config in this process when its trial is collected.

    Exceptions and tracebacks surface in the caller's process, where a debugger can
    reach them; there is no isolation, so a crash of TensorFlow ends the search.

    Args:
        problem: the :class:`~nas.problem.Problem`, or its reference ``"module:attribute"``
            (see :func:`problem_source` for how workers get it).
        timeout: seconds of training allowed per evaluation (None: no limit).
        models_directory: where to save each successful model (None: nowhere).
        function: what evaluates a config (default: train it on the problem).
        warm_memory: bytes of trained models this process may keep to continue the next
            segment of a configuration warm (None: 1 GiB, at most a quarter of the
            machine's memory; 0: every segment loads its checkpoint); freed at close.
    """

    num_workers = 1

    def __init__(
        self,
        problem: Problem | str,
        timeout: float | None = None,
        models_directory: Path | None = None,
        function: EvaluationFunction = evaluate,
        warm_memory: int | None = None,
    ) -> None:
        self.problem_source = problem_source(problem)
        self.warm_memory = warm_memory_budget(warm_memory, 1)
        keep_warm_models(self.warm_memory)
        self.function = function
        self.timeout = timeout
        self.models_directory = models_directory
        self._queue: deque[tuple[Config, float]] = deque()

    def submit(self, config: Config) -> None:
        self._queue.append((config, time.time()))

    def collect(self, timeout: float | None = None) -> list[Trial]:
        if not self._queue:
            return []
        config, submitted_at = self._queue.popleft()
        result = self.function(self.problem_source, config, self.timeout, self.models_directory)
        return [Trial(config, result, "serial", submitted_at)]

    @property
    def num_running(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        """Drop the models kept warm: the search is over."""
        keep_warm_models(0)
