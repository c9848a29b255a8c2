"""``nas.load_results`` on searches run for real, finished and running, as a notebook
would use it: typed records in trial order, best-k, progress, decisions, DataFrames."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from datetime import datetime, timezone

import pandas as pd
import pytest

import nas
from nas.driver import run_search
from nas.exceptions import ProblemError
from nas.results import Results, TrialRecord

#: The finished search's budget and ASHA's rung resources (tests/conftest.py).
MAX_EVALS = 12
ASHA_RESOURCES = [1, 3, 9]
#: A problem whose objective (val_mse of a forecast) is minimised.
MINIMISED = "problems.time_series:problem"


def journal_events(directory) -> list[dict]:
    return [json.loads(line) for line in (directory / "journal.jsonl").open()]


def test_a_finished_search_loads_as_typed_records_in_trial_order(finished_search):
    results = nas.load_results(finished_search)
    assert isinstance(results, Results) and results.running == []
    assert [trial.trial_id for trial in results.trials] == list(range(MAX_EVALS))
    finish_order = [e["trial"]["config"]["trial_id"] for e in journal_events(finished_search)
                    if e["event"] == "finish"]  # fmt: skip
    assert finish_order != sorted(finish_order), "three ranks finish out of trial order"
    assert (results.objective, results.direction) == ("val_accuracy", "max")
    for trial in results.trials:
        assert isinstance(trial, TrialRecord) and trial.ok and trial.status == "ok"
        assert isinstance(trial.arch_seq, list) and all(type(c) is int for c in trial.arch_seq)
        assert isinstance(trial.hyperparameters["learning_rate"], float)
        assert isinstance(trial.objective, float) and trial.error is None
        for moment in (trial.submitted_at, trial.started_at, trial.finished_at):
            assert isinstance(moment, datetime) and moment.tzinfo is timezone.utc
        elapsed = (trial.finished_at - trial.started_at).total_seconds()
        assert trial.duration == pytest.approx(elapsed, abs=1e-5)
        assert trial.worker.startswith("rank ") and trial.num_ranks == 1
        assert trial.learning_curve["val_accuracy"]
    progress = results.progress
    assert (progress.done, progress.failed, progress.running) == (MAX_EVALS, 0, 0)
    assert progress.budget_reached and progress.time_left.total_seconds() == 0
    assert progress.evaluations_per_minute > 0 and progress.sessions == 1


def test_scheduler_decisions_are_fields_and_columns_of_results_csv(finished_search):
    results = nas.load_results(finished_search)
    rungs = {trial.rung for trial in results.trials}
    assert rungs >= {0, 1}, rungs
    for trial in results.trials:
        assert trial.rung == trial.info["rung"]
        assert trial.resource == ASHA_RESOURCES[trial.rung] == trial.epochs_reached
        assert trial.decision == trial.info["decision"] in {"candidate", "complete"}
        assert trial.reason == trial.info["reason"]
        assert f"rung {trial.rung}" in trial.reason or trial.decision == "complete"
    with (finished_search / "results.csv").open() as file:
        rows = list(csv.DictReader(file))
    # Rewritten in trial order when the search ended, decisions in their own columns.
    assert [int(row["trial_id"]) for row in rows] == [t.trial_id for t in results.trials]
    for row, trial in zip(rows, results.trials):
        assert int(row["rung"]) == trial.rung and int(row["resource"]) == trial.resource
        assert (row["decision"], row["reason"]) == (trial.decision, trial.reason)
        assert json.loads(row["arch_seq"]) == trial.arch_seq
        assert float(row["objective"]) == trial.objective
    columns = list(rows[0])
    assert columns[-3:] == ["info", "epochs_reached", "parent"]  # the old tail, unchanged
    hyperparameters = [c for c in columns if c.startswith("hp_")]
    at = columns.index("rung")
    assert columns[at - len(hyperparameters) : at + 5] == [
        *hyperparameters, "rung", "resource", "decision", "reason", "objective"
    ]  # fmt: skip
    assert not list(finished_search.glob(".*.tmp")), "the rewrite leaves no temporary file"


def test_best_follows_the_problem_direction(simulated_search, tmp_path):
    simulated_search(MINIMISED, tmp_path / "run")
    results = nas.load_results(tmp_path / "run")
    assert (results.objective, results.direction) == ("val_mse", "min")
    objectives = sorted(trial.objective for trial in results.trials)
    assert [trial.objective for trial in results.best(3)] == objectives[:3]
    maximised = nas.load_results(tmp_path / "run", direction="max")
    assert maximised.best(1)[0].objective == objectives[-1]


def test_best_leaves_out_failures_and_keeps_the_earlier_of_equal_trials(finished_search):
    results = nas.load_results(finished_search)
    first, second, third, *rest = results.trials
    failed = dataclasses.replace(first, status="failed", objective=None, error="E: boom")
    tied = [dataclasses.replace(trial, objective=0.5) for trial in (second, third)]
    copy = dataclasses.replace(results, trials=[failed, *tied, *rest])
    for trial in rest:
        copy.trials[copy.trials.index(trial)] = dataclasses.replace(trial, objective=0.1)
    assert [trial.trial_id for trial in copy.best(3)] == [1, 2, 3]
    assert copy.failed == [failed] and len(copy.best(100)) == MAX_EVALS - 1
    with pytest.raises(ValueError, match="k must be an int >= 1, got 0"):
        copy.best(0)


def test_every_moment_of_a_running_search_loads(finished_search, running_snapshot):
    events = journal_events(finished_search)
    for lines in range(1, len(events) + 1):
        seen = events[:lines]
        submitted = {c["trial_id"] for e in seen if e["event"] == "submit" for c in e["configs"]}
        finished = [e["trial"]["config"]["trial_id"] for e in seen if e["event"] == "finish"]
        # Half of the next line: the driver is writing it.
        results = nas.load_results(running_snapshot(lines, torn='{"event": "fin'))
        assert [trial.trial_id for trial in results.trials] == sorted(finished)
        assert [trial.trial_id for trial in results.running] == sorted(submitted - set(finished))
        assert results.progress.done == len(finished) and results.progress.max_evals == MAX_EVALS
        assert results.progress.running == len(submitted) - len(finished)
        assert results.progress.budget_reached == (len(finished) == MAX_EVALS)
        for trial in results.running:
            assert trial.running and trial.status == "running" and not trial.ok
            assert trial.objective is None and trial.started_at is None and trial.worker is None
            assert trial.rung in (0, 1, 2) and trial.resource in ASHA_RESOURCES
            assert isinstance(trial.submitted_at, datetime) and trial.arch_seq
        if finished:
            assert results.best(1)[0].trial_id in finished
        else:
            assert results.best(1) == [] and results.progress.evaluations_per_minute is None
            assert results.progress.time_left is None


def test_to_dataframe_has_typed_columns_in_trial_order(finished_search):
    results = nas.load_results(finished_search)
    frame = results.to_dataframe()
    assert list(frame.trial_id) == list(range(MAX_EVALS)) and frame.trial_id.dtype == "int64"
    types = pd.api.types
    assert types.is_float_dtype(frame.objective) and types.is_float_dtype(frame.duration)
    for name in ("submitted_at", "started_at", "finished_at"):
        assert types.is_datetime64_any_dtype(frame[name]) and str(frame[name].dt.tz) == "UTC"
    for name in ("seed", "num_ranks"):
        assert frame[name].dtype == "int64"
    for name in ("rung", "resource", "epochs_trained", "epochs_reached", "parent"):
        assert frame[name].dtype == "Int64", name
    assert frame.parent.isna().sum() == sum(t.parent is None for t in results.trials)
    for name in ("status", "decision", "reason", "worker", "error"):
        assert frame[name].dtype == "string", name
    assert frame.error.isna().all() and set(frame.status) == {"ok"}
    assert frame.arch_seq[0] == results.trials[0].arch_seq
    # Hyperparameters: their own columns, ints as ints, floats as floats, words as strings.
    assert frame.hp_batch_size.dtype == "Int64" and frame.hp_num_ranks.dtype == "Int64"
    assert frame.hp_learning_rate.dtype == "float64"
    assert types.is_string_dtype(frame.hp_optimizer)
    assert frame.hp_learning_rate.tolist() == [
        t.hyperparameters["learning_rate"] for t in results.trials
    ]
    best = frame.loc[frame.objective.idxmax()]
    assert best.trial_id == results.best(1)[0].trial_id
    assert "learning_curve" not in frame and "hyperparameters" not in frame


def test_to_dataframe_adds_running_trials_on_request(running_snapshot):
    results = nas.load_results(running_snapshot(12))
    assert results.running, "a snapshot that early has trials running"
    assert len(results.to_dataframe()) == len(results.trials)
    frame = results.to_dataframe(include_running=True)
    assert len(frame) == len(results.trials) + len(results.running)
    assert list(frame.trial_id) == sorted(frame.trial_id)
    running = frame[frame.status == "running"]
    assert running.objective.isna().all() and running.finished_at.isna().all()
    assert running.epochs_trained.isna().all() and frame.epochs_trained.dtype == "Int64"


def test_to_dataframe_without_pandas_says_how_to_install_it(finished_search, monkeypatch):
    results = nas.load_results(finished_search)
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails
    with pytest.raises(ImportError, match=r"pip install 'nas\[pandas\]'"):
        results.to_dataframe()


def test_a_resumed_search_loads_whole_with_its_latest_budget(simulated_search, tmp_path):
    out = tmp_path / "run"
    simulated_search(MINIMISED, out, max_evals=5)
    simulated_search(MINIMISED, out, max_evals=9, resume=True)
    results = nas.load_results(out)
    assert [trial.trial_id for trial in results.trials] == list(range(9))
    assert results.progress.sessions == 2 and results.progress.max_evals == 9
    assert results.settings["max_evals"] == 9 and results.progress.budget_reached
    with (out / "results.csv").open() as file:
        assert [int(row["trial_id"]) for row in csv.DictReader(file)] == list(range(9))


def test_a_folder_without_a_search_is_refused_by_name(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path} holds no search"):
        nas.load_results(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing is not a folder"):
        nas.load_results(tmp_path / "missing")
    with pytest.raises(ValueError, match="direction must be 'max' or 'min', got 'up'"):
        nas.load_results(tmp_path, direction="up")


def test_a_folder_of_an_earlier_version_takes_the_direction_from_its_problem(
    earlier_version_snapshot,
):
    results = nas.load_results(earlier_version_snapshot("problems.breast_cancer:problem"))
    assert (results.objective, results.direction) == ("val_accuracy", "max")


def test_a_problem_that_cannot_be_imported_needs_a_direction(earlier_version_snapshot):
    # A folder written before the direction was recorded, its problem moved away.
    out = earlier_version_snapshot("moved_away:problem")
    with pytest.raises(ProblemError, match="moved_away.*pass direction='max' or 'min'"):
        nas.load_results(out)
    results = nas.load_results(out, direction="max")
    assert results.objective is None and results.best(1)


@pytest.mark.parametrize(
    ("scheduler", "kwargs"),
    [("none", {}), ("sha", {"min_epochs": 1, "max_epochs": 9}), ("pbt", {}),
     ("lcm", {"accumulate": 3})],
)  # fmt: skip
def test_each_scheduler_s_decisions_are_read_into_the_same_fields(scheduler, kwargs, tmp_path):
    run_search(
        "problems.breast_cancer:problem", tmp_path, "random", 8, evaluator="simulated",
        num_workers=2, seed=0, scheduler=scheduler, scheduler_kwargs=kwargs, keep_models=0,
        progress=False,
    )  # fmt: skip
    results = nas.load_results(tmp_path)
    with (tmp_path / "results.csv").open() as file:
        rows = list(csv.DictReader(file))
    for trial, row in zip(results.trials, rows, strict=True):
        fields = (trial.rung, trial.resource, trial.decision, trial.reason)
        assert [row[name] for name in ("rung", "resource", "decision", "reason")] == [
            "" if value is None else str(value) for value in fields
        ]
        if scheduler == "none":
            assert fields == (None, None, None, None)
        elif scheduler == "sha":
            assert trial.resource == trial.info["resource"] == [1, 3, 9][trial.rung]
        elif scheduler == "pbt":
            assert trial.decision == trial.info["pbt"]["action"] and trial.rung is None
            assert trial.resource == trial.epochs_reached
        else:
            assert (trial.decision, trial.reason) == (
                trial.info["lcm_decision"], trial.info["lcm_reason"]
            )  # fmt: skip
            assert trial.resource == trial.epochs_reached
