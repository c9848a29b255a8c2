"""Benchmark: the cost of one eager collective outside the train step, per call.

Data-parallel training takes a stop vote after every batch (``DataParallel.any``) and
sums metric states every epoch. This compares, in one ``mpirun`` job of ``--ranks``
ranks (default 2) with the same calls in rotation:

* ``horovod eager allreduce``: Horovod's ``allreduce`` of a one-element tensor, what
  the Horovod backend used for these calls before (the baseline);
* ``DataParallel.any (horovod)``: the vote as the Horovod backend takes it now (mpi4py
  ``Allreduce`` on a duplicate communicator, Horovod initialised alongside);
* ``DataParallel.any (mpi)``: the same on the plain mpi4py backend.

    PYTHONPATH=. .venv/bin/python scripts/bench_collectives.py [--calls 500] [--ranks 2]

It starts ``mpirun --oversubscribe`` itself; the ranks run this file with ``--rank-side``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence


def _per_call_ms(function: Callable[[], object], calls: int) -> float:
    function()  # the first call sets things up (Horovod's first op negotiates)
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls * 1e3


def rank_side(calls: int, rounds: int) -> None:
    import numpy as np
    import tensorflow as tf
    from mpi4py import MPI

    from nas.parallel import data_parallel

    comm = MPI.COMM_WORLD
    import horovod.tensorflow as hvd  # the baseline: Horovod's own eager op

    samples: dict[str, list[float]] = {}
    flag = tf.constant(np.zeros(1, np.int32))

    def eager() -> object:
        return hvd.allreduce(flag, op=hvd.Sum, name="bench_vote").numpy()

    for _ in range(rounds):
        with data_parallel(comm, "horovod") as horovod:
            timings = {
                "horovod eager allreduce (before)": _per_call_ms(eager, calls),
                "DataParallel.any (horovod)": _per_call_ms(lambda: horovod.any(False), calls),
            }
        with data_parallel(comm, "mpi") as plain:
            timings["DataParallel.any (mpi)"] = _per_call_ms(lambda: plain.any(False), calls)
        for name, value in timings.items():
            samples.setdefault(name, []).append(value)
    if comm.Get_rank() == 0:
        print(json.dumps(samples), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per timing (500)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds in rotation (3)")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--rank-side", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rank_side:
        rank_side(args.calls, args.rounds)
        return 0
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        raise SystemExit("no mpirun on PATH: run scripts/setup.sh and source scripts/env.sh")
    command = [mpirun, "--oversubscribe", "-np", str(args.ranks), sys.executable, __file__]
    command += ["--rank-side", "--calls", str(args.calls), "--rounds", str(args.rounds)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"mpirun failed ({done.returncode}):\n{done.stderr[-3000:]}")
    samples = json.loads(lines[-1])
    print(f"{args.ranks} ranks, {args.calls} calls per timing, {args.rounds} rounds")
    print(f"{'collective':>34} | ms per call: median [min-max]")
    print(f"{'-' * 34}-|-{'-' * 30}")
    for name, values in samples.items():
        ordered = sorted(values)
        median = ordered[len(ordered) // 2]
        print(f"{name:>34} | {median:.4f} [{ordered[0]:.4f}-{ordered[-1]:.4f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
