"""Closing the MPI evaluator interrupts trainings in progress: they stop at their next batch."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import MPI_SCRIPTS

from nas.train._interrupt import INTERRUPTED

pytestmark = [pytest.mark.mpi, pytest.mark.slow]


def test_closing_the_evaluator_stops_running_trainings(mpirun, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(MPI_SCRIPTS))
    from long_training_problem import EPOCHS, RECORDS, STARTED_AFTER_BATCHES

    mpirun(
        4,
        [sys.executable, MPI_SCRIPTS / "stop_long_training.py", tmp_path],
        timeout=240,
        env={RECORDS: str(tmp_path)},
    )
    record = json.loads((tmp_path / "stop.json").read_text())
    assert record["finished_early"] == 0
    # The stop came while every worker rank was training, not before training began.
    assert record["training_ranks"] == [1, 2, 3], record
    trainings = [json.loads(path.read_text()) for path in tmp_path.glob("training-*.json")]
    by_rank = {training["world_rank"]: training for training in trainings}
    assert {rank: t["trial_id"] for rank, t in by_rank.items()} == {1: 0, 2: 0, 3: 1}
    # The work done, not the seconds (which depend on the machine and its load): without
    # the interrupt, close() would wait for 100,000 epochs; with it, each training stops
    # at the batch after the stop: at most the batch under way as the stop came has begun
    # since (an interrupt seen only between epochs would let a whole epoch's batches begin).
    for rank, training in by_rank.items():
        result = training["result"]
        assert result["status"] == "timeout", (rank, training)
        assert result["epochs_trained"] < EPOCHS
        assert training["batches"] >= STARTED_AFTER_BATCHES, (rank, training)
        assert training["batches_after_stop"] <= 1, (rank, training, record)
    # A group stops on the first of its ranks to see the stop, which records why.
    for trial_id in (0, 1):
        errors = [t["result"]["error"] for t in trainings if t["trial_id"] == trial_id]
        assert INTERRUPTED in errors, (trial_id, errors)
