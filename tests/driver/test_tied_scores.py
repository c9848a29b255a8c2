"""Trials that tie rank the same way for the models kept and the models exported.

A search keeps the files of its best models and ``nas-export --top k`` loads them; when
scores tie (a small problem where many trials reach an accuracy of 1), both must pick the
same trials whatever order they finished in, or the export asks for a model not kept.
"""

from __future__ import annotations

from dataclasses import replace

from toy_problems import problem

from nas.driver._driver import best_trials, observation
from nas.driver._model_keeper import ModelKeeper, kept_model_path
from nas.evaluate import unreported_result
from nas.train import Status
from nas.trial import Config, Trial


def scored_trial(trial_id: int, score: float) -> Trial:
    config = Config(trial_id, (0,) * 3, {"learning_rate": 0.01})
    result = unreported_result(config, 0.0, Status.FAILED, "x")
    result = replace(result, status=Status.OK, objective=score, error=None, error_stage=None)
    return Trial(config, result, "test", 0.0)


def test_tied_trials_finishing_out_of_order_export_the_kept_models(tmp_path):
    # Finish order as a pool gives it: trial 3 before trial 2, four ties at the top.
    finished = [scored_trial(i, s) for i, s in [(1, 1.0), (0, 1.0), (3, 1.0), (2, 1.0), (4, 0.5)]]
    keeper = ModelKeeper(tmp_path, keep=3)
    for trial in finished:
        path = kept_model_path(tmp_path, trial.config.trial_id)
        path.parent.mkdir(exist_ok=True)
        path.touch()
        keeper.update([(trial, observation(trial, problem))])

    exported = [trial.config.trial_id for trial in best_trials(finished, problem, 3)]
    assert exported == keeper.kept == [0, 1, 2]
    assert all(kept_model_path(tmp_path, trial_id).exists() for trial_id in exported)
