"""``train(..., comm=...)`` on real ranks: one result shared by the group, one model saved."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from nas.train._group import warmup_plan
from nas.train._learning_rate import LearningRatePlan, LearningRateSchedule

pytestmark = [pytest.mark.mpi, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parent.parent / "mpi_scripts" / "train_on_group.py"


def test_a_group_of_two_ranks_trains_one_model_and_agrees_on_its_result(mpirun, tmp_path):
    mpirun(2, [sys.executable, SCRIPT, tmp_path], timeout=300)
    records = [json.loads((tmp_path / f"result-{rank}.json").read_text()) for rank in (0, 1)]
    results = [record["result"] for record in records]
    # ok includes the replica check: with batch normalisation the ranks' moving
    # statistics would differ unless averaged, and the evaluation would fail.
    assert [r["status"] for r in results] == ["ok", "ok"], [r["error"] for r in results]
    assert results[0]["objective"] == results[1]["objective"]
    assert results[0]["learning_curve"] == results[1]["learning_curve"]
    assert results[0]["epochs_trained"] == 3
    assert results[0]["num_ranks"] == 2 and results[0]["global_batch_size"] == 32
    assert results[0]["data_parallel"] in {"horovod", "mpi"}
    assert [record["saved"] for record in records] == [True, False]
    # The cosine schedule composes with the group's linear scaling (rate x 2, warmed up
    # over 8 of the 30 steps): the last step (epoch 2, batch 9 of 10) trains at 0.02
    # times the schedule's factor there.
    assert [r["scheduled"]["status"] for r in records] == ["ok", "ok"]
    schedule = LearningRateSchedule("cosine", warmup_epochs=1, final_fraction=0.1)
    ramp = warmup_plan(0.01, 2, steps_per_epoch=10, epochs=3)
    expected = LearningRatePlan(0.01, schedule, 3, 10, group=ramp).rate(2, 9)
    assert expected == pytest.approx(0.02 * schedule.factor(2.9, 3, 10))
    assert records[0]["last_learning_rate"] == pytest.approx(expected, rel=1e-6)
