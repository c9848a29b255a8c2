"""Searches whose segments continue warm: ASHA's promotions go to the worker keeping the
model, continue it in memory, and the search goes as it goes with every segment cold."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import nas
from nas.evaluate import ProcessPoolEvaluator, SerialEvaluator

ASHA = {"min_epochs": 1, "max_epochs": 3, "reduction_factor": 3}


def asha_search(problem, out, evaluator, max_evals, **options):
    return nas.Study(
        problem,
        out,
        "random",
        max_evals,
        scheduler="asha",
        scheduler_options=ASHA,
        evaluator=evaluator,
        seed=2,
        keep_models=0,
        progress=False,
        **options,
    ).run()


def promoted(results):
    return [t for t in results.trials if t.config.start_from is not None]


def assert_same_search(warm, cold):
    """The same configurations, segments and objectives, warm or cold."""
    assert [t.config.arch_seq for t in warm.trials] == [t.config.arch_seq for t in cold.trials]
    assert [t.config.epochs for t in warm.trials] == [t.config.epochs for t in cold.trials]
    np.testing.assert_allclose(
        [t.result.objective for t in warm.trials],
        [t.result.objective for t in cold.trials],
        rtol=1e-5,
    )


@pytest.mark.slow
def test_a_serial_asha_search_continues_its_promotions_warm(tmp_path):
    from nas.problem import load_problem

    problem = load_problem("problems.breast_cancer:problem")
    warm = asha_search(problem, tmp_path / "warm", "serial", 7)
    cold = asha_search(problem, tmp_path / "cold", "serial", 7, warm_memory=0)

    assert promoted(warm), "the search must promote a configuration"
    assert all(t.result.warm for t in promoted(warm))
    assert not any(t.result.warm for t in cold.trials)
    assert_same_search(warm, cold)
    # Where the time went, in the table and the DataFrame.
    with open(tmp_path / "warm" / "results.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert {row["warm"] for row in rows} == {"True", "False"}
    assert all(row["startup_seconds"] and row["epoch_seconds"] for row in rows)
    frame = nas.load_results(tmp_path / "warm").to_dataframe()
    assert frame["warm"].dtype == bool and frame["warm"].sum() == len(promoted(warm))
    # Warm segments built and loaded nothing; every cold one built or loaded its model.
    # (The work, not the seconds: one warm segment's startup on a busy machine says
    # nothing; the traced steps being kept is checked in tests/train/test_warm_models.py.)
    assert (frame.loc[frame["warm"], "build_time"] == 0).all()
    assert (frame.loc[~frame["warm"], "build_time"] > 0).all()


@pytest.mark.slow
def test_a_pool_worker_keeping_the_model_gets_the_promotion_and_continues_it_warm(tmp_path):
    problem = "problems.breast_cancer:problem"
    with ProcessPoolEvaluator(problem, num_workers=2) as pool:
        warm = asha_search(problem, tmp_path / "warm", pool, 10)
    assert promoted(warm)
    # A promotion goes to the worker that trained its configuration when that worker is
    # free, and continues warm there; on the other worker (never left idle for it), cold.
    trials = {t.config.trial_id: t for t in warm.trials}
    for trial in promoted(warm):
        assert trial.result.warm == (trial.worker == trials[trial.config.parent].worker)
    assert any(t.result.warm for t in promoted(warm))


def test_a_budget_that_is_not_bytes_is_refused_before_any_worker_starts(tmp_path):
    with pytest.raises(
        ValueError, match="warm_memory must be a non-negative int of bytes, got -1"
    ):
        ProcessPoolEvaluator("problems.breast_cancer:problem", num_workers=1, warm_memory=-1)
    with pytest.raises(ValueError, match="give warm_memory only with an evaluator given by name"):
        nas.Study(
            "problems.breast_cancer:problem",
            tmp_path,
            evaluator=SerialEvaluator("problems.breast_cancer:problem"),
            warm_memory=2**20,
        )
