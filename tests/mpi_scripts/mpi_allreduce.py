"""Rank script: every rank adds its rank number with an MPI allreduce.

Run with ``mpirun -np N python mpi_allreduce.py OUT_DIR``. Each rank writes
``OUT_DIR/allreduce-<rank>.json`` with its rank, the world size, the sum
(0 + 1 + ... + N-1) and the MPI library's name. Files, not stdout: mpirun may
interleave the ranks' output within a line.
"""

import json
import sys
from pathlib import Path

from mpi4py import MPI

out_dir = Path(sys.argv[1])
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
total = comm.allreduce(rank, op=MPI.SUM)
# The version string is NUL-terminated and may span lines; keep its first line.
library = MPI.Get_library_version().replace("\x00", "").strip().splitlines()[0]
record = {"rank": rank, "size": size, "sum": total, "library": library}
(out_dir / f"allreduce-{rank}.json").write_text(json.dumps(record))
print(record, flush=True)
if total != size * (size - 1) // 2:
    raise SystemExit(f"rank {rank}: allreduce gave {total}, expected {size * (size - 1) // 2}")
