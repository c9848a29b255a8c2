"""Benchmark: the MPI evaluator under ``mpirun``.

Measurements, each a function below, chosen with ``--measure``:

* ``utilisation``: for each job size N (``--ranks``, default 8, 32 and 64 ranks started
  with ``mpirun --oversubscribe -np N``), rank 0 runs the **real driver loop**
  (``nas.driver.Driver``: random search, journal, results.csv) with an ``MPIEvaluator``
  over 4 x (N - 1) evaluations that only sleep 0.5 to 2 s (drawn from each trial's
  seed) on groups of 1, 2 or 4 ranks (the width is a searched hyperparameter, drawn at
  random; groups of more than one rank really create their communicator and pass a
  barrier on it). Reported:

  - utilisation = busy rank-seconds (width x duration, summed over evaluations) /
    (worker ranks x wall time of the run), over the whole run, and over the part
    before the last evaluation started (after it comes the tail, where no work is left
    to place);
  - "policy alone": the same two figures for the same configs (widths and durations,
    in submission order) through ``RankPacker`` on a simulated clock with no latency.
    What the run loses beyond it is messaging, polling and the driver's own time. At a
    few ranks the comparison is loose: milliseconds of latency change which configs
    fit when, and so the whole placement that follows;
  - results per second, and rank 0's CPU time over the run.

  Target: >= 95 % at 64 ranks. With 4 evaluations per worker the tail alone costs
  several percent whatever the evaluator (see "policy alone"); ``--evals-per-worker 20``
  shows a longer run.

This script launches ``mpirun`` itself; the ranks run this same file with ``--rank-side``.

Run: ``PYTHONPATH=. .venv/bin/python scripts/bench_mpi.py --measure utilisation
[--ranks 8 32 64] [--evals-per-worker 4] [--widths 1 2 4] [--seed 0]``
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_UTILISATION = 0.95  # at 64 ranks
MPIRUN_TIMEOUT = 900  # seconds for one job


# -- launching the ranks -------------------------------------------------------------


def rank_env() -> dict[str, str]:
    """The environment of scripts/env.sh, with this checkout first on PYTHONPATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.geteuid() == 0:  # Open MPI refuses root without both
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def launch(ranks: int, measure: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run this script's rank side of ``measure`` on ``ranks`` ranks; rank 0's record."""
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        raise SystemExit("no mpirun on PATH: run scripts/setup.sh and source scripts/env.sh")
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "record.json"
        command = [
            mpirun,
            "--oversubscribe",
            "-np",
            str(ranks),
            sys.executable,
            __file__,
            "--rank-side",
            measure,
            "--out",
            str(out),
            *forwarded(args),
        ]
        started = time.perf_counter()
        done = subprocess.run(
            command,
            env=rank_env(),
            capture_output=True,
            text=True,
            timeout=MPIRUN_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if done.returncode != 0 or not out.exists():
            raise SystemExit(
                f"{' '.join(command)} exited with {done.returncode}\n"
                f"{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
            )
        record = json.loads(out.read_text())
        record["job_seconds"] = time.perf_counter() - started
        return record


def forwarded(args: argparse.Namespace) -> list[str]:
    """The options the rank side needs, as command-line arguments."""
    return [
        "--evals-per-worker",
        str(args.evals_per_worker),
        "--widths",
        *map(str, args.widths),
        "--min-sleep",
        str(args.min_sleep),
        "--max-sleep",
        str(args.max_sleep),
        "--seed",
        str(args.seed),
    ]


# -- utilisation ---------------------------------------------------------------------


def sleeping_evaluation(
    problem_reference: str,
    config: Any,
    timeout: float | None,
    models_directory: Path | None,
    comm: Any = None,
) -> Any:
    """Sleep for a time drawn from the trial's seed; a group first meets on its comm.

    The bounds come from the environment (``NAS_BENCH_SLEEP``, "min,max"), which mpirun
    passes to every rank.
    """
    from nas.train import Status, TrainingResult

    if comm is not None:
        comm.Barrier()  # the group's communicator is real and all its ranks are here
    low, high = (float(x) for x in os.environ.get("NAS_BENCH_SLEEP", "0.5,2.0").split(","))
    started = time.time()
    time.sleep(random.Random(config.seed).uniform(low, high))
    return TrainingResult(
        status=Status.OK,
        objective=float(config.seed % 1000),
        learning_curve={},
        num_parameters=0,
        epochs_trained=0,
        build_time=0.0,
        training_time=0.0,
        started_at=started,
        finished_at=time.time(),
        error=None,
        error_stage=None,
        hyperparameters=dict(config.hyperparameters),
        arch_seq=list(config.arch_seq),
        seed=config.seed,
    )


def utilisation_ranks(args: argparse.Namespace) -> None:
    """Rank side: ``serve()`` on workers; the real driver over sleeps on rank 0."""
    from mpi4py import MPI

    from nas.evaluate import MPIEvaluator, serve

    comm = MPI.COMM_WORLD
    if comm.Get_rank() != 0:
        comm.Barrier()  # every rank has started (64 Python start-ups on 2 cores take a while)
        serve(comm)
        return

    from nas.driver import Driver
    from nas.evaluate._rank_packing import largest_power_of_two
    from nas.problem import Categorical, Problem
    from nas.search import RandomSearch

    workers = comm.Get_size() - 1
    widths = [width for width in args.widths if width <= largest_power_of_two(workers)]
    problem = Problem(
        "mpi_bench_sleep",
        _no_data,
        "spaces.dense_skip:dense_skip_space",
        space_kwargs={"input_shape": [4], "output_units": 2, "num_layers": 3},
        hyperparameters={"num_ranks": Categorical(widths)},
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        objective="val_accuracy",
        direction="max",
    )
    search = RandomSearch(problem.build_space().choices, problem.hyperparameters, seed=args.seed)
    num_evals = args.evals_per_worker * workers
    comm.Barrier()
    with (
        tempfile.TemporaryDirectory() as directory,
        MPIEvaluator("bench:sleep", comm, function=sleeping_evaluation) as evaluator,
    ):
        driver = Driver(
            problem, search, evaluator, Path(directory), num_evals, {}, seed=args.seed,
            progress=False,
        )  # fmt: skip
        cpu, start_wall, start = time.process_time(), time.time(), time.perf_counter()
        trials = driver.run()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    spans = [
        (t.config.num_ranks, t.result.started_at, t.result.finished_at)
        for t in trials
        if t.result.ok
    ]
    last_start = max(begin for _, begin, _ in spans)
    busy = sum(width * (end - begin) for width, begin, end in spans)
    busy_before_last_start = sum(
        width * max(0.0, min(end, last_start) - begin) for width, begin, end in spans
    )
    ordered = sorted(trials, key=lambda trial: trial.config.trial_id)  # as submitted
    ideal, ideal_before_last_start = simulate_policy(
        workers,
        [trial.config.num_ranks for trial in ordered],
        [trial.result.finished_at - trial.result.started_at for trial in ordered],
    )
    record = {
        "ranks": comm.Get_size(),
        "workers": workers,
        "widths": widths,
        "evaluations": len(trials),
        "failed": len(trials) - len(spans),
        "mean_duration": sum(end - begin for _, begin, end in spans) / len(spans),
        "mean_width": sum(width for width, _, _ in spans) / len(spans),
        "seconds": elapsed,
        "busy_rank_seconds": busy,
        "utilisation": busy / (workers * elapsed),
        "utilisation_before_last_start": busy_before_last_start
        / (workers * (last_start - start_wall)),
        "ideal": ideal,
        "ideal_before_last_start": ideal_before_last_start,
        "results_per_second": len(trials) / elapsed,
        "rank0_cpu_fraction": cpu / elapsed,
    }
    Path(args.out).write_text(json.dumps(record))


def simulate_policy(
    workers: int, widths: list[int], durations: list[float]
) -> tuple[float, float]:
    """The utilisation the placement policy reaches with no latency at all.

    The same configs (widths and durations, in submission order) go through the same
    ``RankPacker`` and the driver's submit-while-free loop on a simulated clock: what
    the measured run loses beyond this is messaging, polling and the driver's own time;
    what this loses is the policy's (ranks held for wide configs, fragments too narrow
    for what waits) and the tail. Returns (whole run, before the last start).
    """
    from nas.evaluate._rank_packing import RankPacker

    packer: RankPacker[int] = RankPacker(range(1, workers + 1))
    clock, submitted, ending = 0.0, 0, []
    spans: list[tuple[int, float, float]] = []
    while submitted < len(widths) or ending:
        while submitted < len(widths) and packer.num_free > 0:
            packer.enqueue(submitted, widths[submitted])
            submitted += 1
        for key, ranks in packer.place():
            end = clock + durations[key]
            heapq.heappush(ending, (end, key, ranks))
            spans.append((len(ranks), clock, end))
        clock, _, ranks = heapq.heappop(ending)
        for rank in ranks:
            packer.release(rank)
    end = max(finish for _, _, finish in spans)
    last_start = max(begin for _, begin, _ in spans)
    busy = sum(width * (finish - begin) for width, begin, finish in spans)
    before = sum(
        width * max(0.0, min(finish, last_start) - begin) for width, begin, finish in spans
    )
    return busy / (workers * end), before / (workers * last_start)


def _no_data() -> Any:
    raise RuntimeError("the MPI benchmark never loads data")


def measure_utilisation(args: argparse.Namespace) -> None:
    """Rank utilisation and results/s of the real driver over sleeps, per job size."""
    os.environ["NAS_BENCH_SLEEP"] = f"{args.min_sleep},{args.max_sleep}"
    print(
        f"## Rank utilisation: real driver + MPIEvaluator, evaluations sleep "
        f"{args.min_sleep}-{args.max_sleep} s, widths {args.widths}, "
        f"{args.evals_per_worker} x workers evaluations\n"
    )
    print(
        "| ranks | workers | evals | mean width | mean s | run s | utilisation "
        "| before last start | policy alone | results/s | rank 0 CPU | job s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    records = []
    for ranks in args.ranks:
        record = launch(ranks, "utilisation", args)
        records.append(record)
        print(
            f"| {record['ranks']} | {record['workers']} | {record['evaluations']} "
            f"| {record['mean_width']:.2f} | {record['mean_duration']:.2f} "
            f"| {record['seconds']:.1f} | {record['utilisation']:.1%} "
            f"| {record['utilisation_before_last_start']:.1%} "
            f"| {record['ideal']:.1%} / {record['ideal_before_last_start']:.1%} "
            f"| {record['results_per_second']:.1f} | {record['rank0_cpu_fraction']:.1%} "
            f"| {record['job_seconds']:.0f} |",
            flush=True,
        )
    print(
        "\nutilisation: busy rank-seconds / (workers x run time); before last start: the "
        "same up to the\nlast start (no tail); policy alone: both figures for the same "
        "configs with zero latency."
    )
    at_64 = [r for r in records if r["ranks"] == 64]
    if at_64:
        value = at_64[0]["utilisation"]
        verdict = "met" if value >= TARGET_UTILISATION else "NOT met"
        print(f"\nTarget >= {TARGET_UTILISATION:.0%} at 64 ranks: {value:.1%}, {verdict}.")
    failed = sum(r["failed"] for r in records)
    if failed:
        print(f"\n{failed} evaluations failed: see the journal")


#: Measurements by the name ``--measure`` takes: (parent side, rank side).
MEASUREMENTS: dict[str, tuple[Callable[[argparse.Namespace], None], ...]] = {
    "utilisation": (measure_utilisation, utilisation_ranks),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--measure", nargs="+", choices=sorted(MEASUREMENTS), default=["utilisation"]
    )
    parser.add_argument("--ranks", nargs="+", type=int, default=[8, 32, 64])
    parser.add_argument("--evals-per-worker", type=int, default=4)
    parser.add_argument("--widths", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--min-sleep", type=float, default=0.5)
    parser.add_argument("--max-sleep", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    # The side a rank of a launched job runs (internal).
    parser.add_argument("--rank-side", choices=sorted(MEASUREMENTS), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rank_side:
        MEASUREMENTS[args.rank_side][1](args)
        return 0
    print(
        f"# {platform.node()}: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}\n"
    )
    for name in args.measure:
        MEASUREMENTS[name][0](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
