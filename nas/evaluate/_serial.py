"""Evaluate in the calling process, one config at a time (debugging, notebooks, tests)."""

from __future__ import annotations

import time
from collections import deque

from nas.evaluate._base import Evaluator
from nas.evaluate._evaluation import evaluate
from nas.trial import Config, Trial


class SerialEvaluator(Evaluator):
    """Runs each config in this process when its trial is collected.

    Exceptions and tracebacks surface in the caller's process, where a debugger can
    reach them; there is no isolation, so a crash of TensorFlow ends the search.

    Args:
        problem_reference: the problem as ``"module:attribute"``.
        timeout: seconds of training allowed per evaluation (None: no limit).
    """

    num_workers = 1

    def __init__(self, problem_reference: str, timeout: float | None = None) -> None:
        self.problem_reference = problem_reference
        self.timeout = timeout
        self._queue: deque[tuple[Config, float]] = deque()

    def submit(self, config: Config) -> None:
        self._queue.append((config, time.time()))

    def collect(self, timeout: float | None = None) -> list[Trial]:
        if not self._queue:
            return []
        config, submitted_at = self._queue.popleft()
        result = evaluate(self.problem_reference, config, self.timeout)
        return [Trial(config, result, "serial", submitted_at)]

    @property
    def num_running(self) -> int:
        return len(self._queue)
