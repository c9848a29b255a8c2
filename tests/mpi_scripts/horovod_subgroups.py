"""Rank script: Horovod on a sub-communicator, then again on COMM_WORLD.

Run with ``mpirun -np 3 python horovod_subgroups.py OUT_DIR``. This is what
the MPI evaluator does: one long-lived MPI job runs several data-parallel
trainings, one after another, on changing groups of ranks.

1. Ranks 1 and 2 make a communicator of their own with ``Create_group`` (rank 0
   takes no part) and initialise Horovod on it: size 2, Horovod ranks 0 and 1,
   and the allreduce average of their world ranks is (1 + 2) / 2 = 1.5.
   Each writes ``OUT_DIR/sub-<world rank>.json``.
2. They shut Horovod down; then all three ranks initialise it on COMM_WORLD:
   size 3, and the average of 0, 1, 2 is 1.0 (``OUT_DIR/world-<rank>.json``).

Results go to files, not stdout: mpirun may interleave the ranks' output
within a line.
"""

import json
import sys
from pathlib import Path

import horovod.tensorflow as hvd
import tensorflow as tf
from mpi4py import MPI

out_dir = Path(sys.argv[1])
world = MPI.COMM_WORLD
world_rank = world.Get_rank()
if world.Get_size() != 3:
    raise SystemExit(f"run with 3 ranks, not {world.Get_size()}")


def report(stage: str) -> dict:
    """Allreduce-average the world ranks with Horovod; record what Horovod sees."""
    mean = float(hvd.allreduce(tf.constant([float(world_rank)]), op=hvd.Average)[0])
    record = {"world_rank": world_rank, "rank": hvd.rank(), "size": hvd.size(), "mean": mean}
    (out_dir / f"{stage}-{world_rank}.json").write_text(json.dumps(record))
    print(stage, record, flush=True)
    return record


members = [1, 2]
if world_rank in members:
    # MPI_Comm_create_group is collective over the group's ranks only.
    sub = world.Create_group(world.Get_group().Incl(members))
    hvd.init(comm=sub)
    report("sub")
    hvd.shutdown()
    sub.Free()

world.Barrier()
hvd.init(comm=world)
report("world")
hvd.shutdown()
