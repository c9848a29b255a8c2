"""Closing the MPI evaluator interrupts trainings in progress: the job ends in seconds."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import MPI_SCRIPTS

pytestmark = [pytest.mark.mpi, pytest.mark.slow]


def test_closing_the_evaluator_stops_running_trainings(mpirun, tmp_path):
    mpirun(4, [sys.executable, MPI_SCRIPTS / "stop_long_training.py", tmp_path], timeout=240)
    record = json.loads((tmp_path / "stop.json").read_text())
    assert record["finished_early"] == 0
    # Without the interrupt, close() would wait for 100,000 epochs.
    assert record["close_seconds"] < 30, record
