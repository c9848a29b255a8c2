"""ASHA and RASDA through ``run_search`` with real (tiny) trainings: the serial evaluator
and the process pool, results.csv, and a resume that continues as if never stopped."""

from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path

import pytest

from nas.driver import run_search

# Under a minute on an idle 2-core machine; the timeout leaves room for a busy one.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "driver"))  # toy_problems
ASHA = {"min_epochs": 1, "max_epochs": 4, "reduction_factor": 2}


def jobs(results) -> list[tuple]:
    """What the scheduler asked for, trial by trial."""
    return [
        (
            t.config.trial_id,
            t.config.arch_seq,
            t.config.hyperparameters["learning_rate"],
            t.config.epochs,
            t.config.parent,
            t.config.info["config"],
            t.config.info["rung"],
        )
        for t in sorted(results.trials, key=lambda trial: trial.config.trial_id)
    ]


def test_asha_resumed_continues_as_if_it_had_not_stopped(tmp_path):
    def search(out: Path, max_evals: int, resume: bool = False):
        return run_search(
            "toy_problems:problem",
            out,
            "regevo",
            max_evals,
            evaluator="serial",
            seed=2,
            scheduler="asha",
            scheduler_kwargs=ASHA,
            search_kwargs={"population_size": 4, "sample_size": 2},
            keep_models=0,
            resume=resume,
            progress=False,
        )

    whole = search(tmp_path / "whole", 7)
    search(tmp_path / "parts", 4)
    parts = search(tmp_path / "parts", 7, resume=True)
    assert jobs(parts) == jobs(whole)
    rungs = [job[-1] for job in jobs(whole)]
    assert max(rungs) >= 1, rungs
    rows = list(csv.DictReader((tmp_path / "parts" / "results.csv").open()))
    assert len(rows) == 7
    for row, trial in zip(rows, parts.trials):
        info = json.loads(row["info"])
        assert info["rung"] == trial.config.info["rung"]
        assert info["decision"] in {"candidate", "complete", "failed"}  # replayed notes too
        assert int(row["epochs_reached"]) == trial.config.epochs
        assert row["parent"] == ("" if trial.config.parent is None else str(trial.config.parent))


def test_rasda_on_the_process_pool_runs_with_every_width_capped_at_one(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="nas.schedule"):
        results = run_search(
            "toy_problems:problem",
            tmp_path,
            "random",
            6,
            evaluator="process",
            num_workers=2,
            seed=0,
            scheduler="rasda",
            scheduler_kwargs={**ASHA, "mode": "stopping"},
            keep_models=0,
            progress=False,
        )
    assert "every rung keeps width 1" in caplog.text
    assert [t.result.status.value for t in results.trials] == ["ok"] * 6
    for trial in results.trials:
        info = trial.config.info
        assert trial.result.num_ranks == info["width"] == 1
        assert info.get("width_capped_from") == {0: None, 1: 2, 2: 4}[info["rung"]]
        assert "resize" not in info
