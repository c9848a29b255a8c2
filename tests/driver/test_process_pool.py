"""The process pool kills an evaluation that overruns its timeout and carries on."""

from __future__ import annotations

import pytest
from toy_problems import hanging_evaluation

from nas.evaluate import ProcessPoolEvaluator
from nas.train import Status
from nas.trial import Config

pytestmark = pytest.mark.slow


def test_an_evaluation_past_its_timeout_is_killed_and_recorded():
    with ProcessPoolEvaluator(
        "toy_problems:problem",
        num_workers=1,
        timeout=0.5,
        grace=1.0,
        function=hanging_evaluation,
    ) as pool:
        pool.submit(Config(7, (0, 1), {}, seed=0))
        trials = []
        while not trials:
            trials = pool.collect(timeout=120)
        (trial,) = trials
        assert trial.config.trial_id == 7 and trial.result.status is Status.TIMEOUT
        assert "overran its timeout of 0.5 s" in trial.result.error
        assert pool.num_free == 1  # a fresh worker took the killed one's place
        assert trial.worker == "process-0" and pool._workers[0].name == "process-1"


def test_bad_pool_parameters_are_refused():
    with pytest.raises(ValueError, match="num_workers must be a positive int, got 0"):
        ProcessPoolEvaluator("toy_problems:problem", num_workers=0)
    with pytest.raises(ValueError, match="max_evals_per_worker must be a positive int"):
        ProcessPoolEvaluator("toy_problems:problem", num_workers=1, max_evals_per_worker=0)
