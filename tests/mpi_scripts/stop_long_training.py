"""Rank script: rank 0 stops the MPI evaluator while long trainings run on the workers.

Run with ``mpirun -np 4 python stop_long_training.py OUT_DIR``, with
``NAS_TEST_STOP_RECORDS=OUT_DIR`` in the environment: one training on a group of two
ranks and one on a single rank, each asked for 100,000 epochs. Once every worker rank
says it is training (``long_training_problem.record_training`` writes
``OUT_DIR/started-<rank>``), rank 0 closes the evaluator. The workers' trainings must
stop at their next batch, so the job ends by itself; each worker writes what it
trained to ``OUT_DIR/training-<rank>.json``, and rank 0 writes ``OUT_DIR/stop.json``:
the trials that ended before the stop, the ranks that were training when it was sent,
and how long ``close`` took (for the record: it depends on the machine's load).
"""

import json
import sys
import time
from pathlib import Path

from long_training_problem import record_training
from mpi4py import MPI

from nas.evaluate import MPIEvaluator, serve
from nas.trial import Config

PROBLEM = "long_training_problem:problem"
WORKERS = (1, 2, 3)
#: A safety net, far past the start of TensorFlow and of training on a loaded machine:
#: rank 0 closes anyway then, and the test fails on the ranks that were not training.
GIVE_UP_SECONDS = 150.0

out_dir = Path(sys.argv[1])
comm = MPI.COMM_WORLD
if comm.Get_rank() == 0:
    with MPIEvaluator(PROBLEM, comm, function=record_training) as evaluator:
        evaluator.submit(Config(0, (1, 0, 1, 0, 0), {"num_ranks": 2}, seed=0))
        evaluator.submit(Config(1, (2, 0, 2, 0, 0), {"num_ranks": 1}, seed=1))
        early: list = []
        give_up = time.monotonic() + GIVE_UP_SECONDS
        training: list[int] = []
        while not early and len(training) < len(WORKERS) and time.monotonic() < give_up:
            early += evaluator.collect(timeout=0.2)
            training = [rank for rank in WORKERS if (out_dir / f"started-{rank}").exists()]
        started = time.monotonic()
    record = {
        "finished_early": len(early),
        "training_ranks": training,
        "close_seconds": time.monotonic() - started,
    }
    (out_dir / "stop.json").write_text(json.dumps(record))
else:
    serve(comm)
