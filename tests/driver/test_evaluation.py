"""What a worker runs for one config: set-up errors become failed results, not crashes."""

from __future__ import annotations

from nas.evaluate import evaluate
from nas.train import Stage, Status
from nas.trial import Config


def test_invalid_hyperparameters_fail_at_setup_naming_the_value():
    config = Config(3, (0,) * 17, {"learning_rate": 5.0}, seed=0)
    result = evaluate("problems.breast_cancer:problem", config, None)
    assert result.status is Status.FAILED and result.error_stage is Stage.SETUP
    assert "learning_rate" in result.error and "5.0" in result.error
    assert result.objective is None and result.arch_seq == [0] * 17


def test_a_problem_that_does_not_import_fails_at_setup():
    result = evaluate("no_such_module:problem", Config(0, (), {}, seed=0), None)
    assert result.error_stage is Stage.SETUP and "no_such_module" in result.error
