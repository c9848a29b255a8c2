"""What nas-search prints at the end: the best trials with their hyperparameters, and
the commands to run next with the search's own folder. No training: the search is
replaced by one that returns made-up trials."""

from __future__ import annotations

import time

import pytest

import nas.cli._search as search_cli
from nas.cli import search_main
from nas.driver import SearchResults
from nas.problem import Categorical, Dataset, Float, Problem
from nas.train import Stage, Status, TrainingResult
from nas.trial import Config, Trial

PROBLEM = Problem(
    "summary",
    lambda: Dataset(train=([[0.0]], [0]), valid=([[0.0]], [0])),
    "spaces.dense_skip:dense_skip_space",
    hyperparameters={
        "learning_rate": Float(1e-4, 1e-1, log=True),
        "optimizer": Categorical(["adam", "sgd"]),
        "epochs": 5,
    },
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    objective="val_accuracy",
    direction="max",
)


def trial(trial_id: int, objective: float | None, learning_rate: float) -> Trial:
    hyperparameters = {"learning_rate": learning_rate, "optimizer": "sgd", "epochs": 5}
    config = Config(trial_id, (trial_id, 1), hyperparameters, seed=trial_id)
    now = time.time()
    result = TrainingResult(
        status=Status.OK if objective is not None else Status.FAILED,
        objective=objective,
        learning_curve={},
        num_parameters=10,
        epochs_trained=5,
        build_time=0.1,
        training_time=1.0,
        started_at=now,
        finished_at=now + 1,
        error=None if objective is not None else "ValueError: boom",
        error_stage=None if objective is not None else Stage.TRAIN,
        hyperparameters=hyperparameters,
        arch_seq=[trial_id, 1],
        seed=trial_id,
    )
    return Trial(config, result, "process-0", now)


TRIALS = [trial(0, 0.81, 0.0123), trial(1, 0.93, 0.000456), trial(2, None, 0.05)]


def summary(monkeypatch, capsys, tmp_path, argv: list[str], **outcome) -> str:
    """What ``nas-search`` prints when its search returns TRIALS and ``outcome``."""
    out = tmp_path / "my run"
    outcome.setdefault("num_distinct", 3)
    results = SearchResults(list(TRIALS), PROBLEM, out, **outcome)
    monkeypatch.setattr(search_cli, "run_search", lambda **settings: results)
    argv = ["--problem", "summary:PROBLEM", "--out", str(out), "--max-evals", "3", *argv]
    search_main(argv)
    return capsys.readouterr().out


def test_the_best_trials_are_shown_with_their_searched_hyperparameters(
    monkeypatch, capsys, tmp_path
):
    lines = summary(monkeypatch, capsys, tmp_path, ["--top", "2"]).splitlines()
    assert lines[0] == (
        f"3 evaluations (1 failed), 3 distinct configurations, written to {tmp_path / 'my run'}"
    )
    start = lines.index("best 2 by val_accuracy (maximised):")
    header, first, second = (line.split() for line in lines[start + 1 : start + 4])
    # Constants (epochs) are left out: every trial has the same.
    assert header == ["trial", "val_accuracy", "learning_rate", "optimizer", "arch_seq"]
    assert first == ["1", "0.93", "0.000456", "sgd", "[1,", "1]"]
    assert second == ["0", "0.81", "0.0123", "sgd", "[0,", "1]"]


def test_the_next_commands_name_the_searchs_folder(monkeypatch, capsys, tmp_path):
    output = summary(monkeypatch, capsys, tmp_path, [])
    folder = f"'{tmp_path / 'my run'}'"  # quoted for the shell
    assert f"nas-plot {folder}" in output
    assert f"nas-export {folder} --top 2" in output  # 2 succeeded, 3 models kept
    assert f"nas-search --resume {folder} --max-evals 6" in output


def test_without_kept_models_export_trains_again(monkeypatch, capsys, tmp_path):
    output = summary(monkeypatch, capsys, tmp_path, ["--keep-models", "0"])
    assert f"nas-export '{tmp_path / 'my run'}' --top 2 --retrain" in output


@pytest.mark.parametrize("unfinished", [0, 2])
def test_a_stopped_search_is_continued_as_it_was(monkeypatch, capsys, tmp_path, unfinished):
    outcome = {"stop_reason": "received SIGTERM", "num_unfinished": unfinished}
    output = summary(monkeypatch, capsys, tmp_path, ["--max-evals", "6"], **outcome)
    assert "stopped early: received SIGTERM" in output
    resume = [line for line in output.splitlines() if "--resume" in line]
    assert len(resume) == 1 and "--max-evals" not in resume[0]
    assert ("2 unfinished evaluation(s) run again" in resume[0]) == bool(unfinished)


def test_a_stop_after_the_budget_was_met_is_no_early_stop(monkeypatch, capsys, tmp_path):
    # The evaluations running at a timeout completed the budget in the grace period.
    outcome = {"stop_reason": "timeout of 60 s reached", "num_unfinished": 0}
    output = summary(monkeypatch, capsys, tmp_path, [], **outcome)
    assert "stopped early" not in output
    resume = [line for line in output.splitlines() if "--resume" in line]
    assert len(resume) == 1 and "--max-evals 6  # continue, to a larger budget" in resume[0]
