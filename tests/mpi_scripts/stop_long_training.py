"""Rank script: rank 0 stops the MPI evaluator while long trainings run on the workers.

Run with ``mpirun -np 4 python stop_long_training.py OUT_DIR``: one training on a group
of two ranks and one on a single rank, each asked for 100,000 epochs; after a few
seconds rank 0 closes the evaluator. The workers' trainings must stop at their next
batch, so the job ends within seconds; rank 0 writes how long ``close`` took.
"""

import json
import sys
import time
from pathlib import Path

from mpi4py import MPI

from nas.evaluate import MPIEvaluator, serve
from nas.trial import Config

PROBLEM = "long_training_problem:problem"

out_dir = Path(sys.argv[1])
comm = MPI.COMM_WORLD
if comm.Get_rank() == 0:
    with MPIEvaluator(PROBLEM, comm) as evaluator:
        evaluator.submit(Config(0, (1, 0, 1, 0), {"num_ranks": 2}, seed=0))
        evaluator.submit(Config(1, (2, 0, 2, 0), {"num_ranks": 1}, seed=1))
        early = evaluator.collect(timeout=8.0)
        started = time.monotonic()
    record = {"finished_early": len(early), "close_seconds": time.monotonic() - started}
    (out_dir / "stop.json").write_text(json.dumps(record))
else:
    serve(comm)
