"""``train(..., comm=...)`` on real ranks: one result shared by the group, one model saved."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

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
