"""Benchmark: the MPI evaluator under ``mpirun``.

Measurements, each a function below, chosen with ``--measure``:

* ``utilisation``: for each job size N (``--ranks``, default 8, 32 and 64 ranks started
  with ``mpirun --oversubscribe -np N``), rank 0 runs the **real driver loop**
  (a ``nas.Study``: random search, journal, results.csv) with an ``MPIEvaluator``
  over ``--evals-per-worker`` x (N - 1) evaluations (default 20) that only sleep 0.5 to
  2 s (drawn from each trial's seed) on groups of 1, 2 or 4 ranks (the width is a
  searched hyperparameter, drawn at random; groups of more than one rank really create
  their communicator and pass a barrier on it). Reported:

  - utilisation = busy rank-seconds (width x duration, summed over evaluations) /
    (worker ranks x wall time of the run), over the whole run, and over the part
    before the last evaluation started (after it comes the tail, where no work is left
    to place);
  - "policy alone": the same two figures for the same configs (widths and durations,
    in submission order) through the MPI evaluator's placement policy on a simulated
    clock with no latency (``SimulatedEvaluator``, which places by that policy).
    What the run loses beyond it is messaging, polling and the driver's own time. At a
    few ranks the comparison is loose: milliseconds of latency change which configs
    fit when, and so the whole placement that follows;
  - results per second, and rank 0's CPU time over the run.

  Target: >= 95 % at 64 ranks. The default of 20 evaluations per worker makes the
  headline figure the steady state of a search (about a minute of run per job size):
  with 4 per worker (the earlier default) the start and the tail, where no work is left
  to place, cost several percent whatever the evaluator (see "policy alone": 90 % at
  64 ranks with 4 per worker, 99 % with 20).

* ``throughput``: training throughput (samples/s over the training batches, as
  ``TrainingResult.samples_per_second`` reports) of one architecture of ``--problem``
  (default Covertype, 96,000 training rows), sampled with ``--seed``, with fixed
  hyperparameters (``--batch-size`` per rank, the problem's learning rate and
  optimizer, ``--epochs``): width 1 with no communicator, and width 2 with Horovod and
  with the mpi4py fallback (``NAS_DATA_PARALLEL``), each in its own ``mpirun`` job,
  repeated ``--repeats`` times in rotation (the median is reported). TensorFlow's intra-
  and inter-op threads per rank are set to cores / ranks before TensorFlow runs
  anything, so every configuration gets the same cores; width 1 also runs with the
  threads one rank of width 2 gets, which is the baseline a perfect width 2 would double.
  Besides the figure the result reports (whose first epoch includes tracing the train
  step, seconds here), the steady-state rate of the epochs after the first is measured
  by timing each epoch's batches.

* ``fixed_vs_tuned``: in the spirit of AgEBO's table (Egele et al. 2021: with a fixed
  batch size and learning rate, R^2 fell from 0.92 at 1 GPU to 0.81 at 8; AgEBO's tuned
  hyperparameters held 0.93). For each width w of ``--widths``, two real searches under
  ``mpirun`` with the MPI evaluator, the same seed and ``--evals`` evaluations each: a
  regularized evolution over architectures only, with the problem's default batch size
  (per rank) and learning rate (scaled by w by the trainer), and AgEBO, which also
  searches batch size, learning rate and optimizer. The problems are
  ``fixed_width_<w>`` and ``tuned_width_<w>`` of this module (see ``__getattr__``): a
  subset of Covertype, to fit the machine. All searches run in one job of
  ``1 + --workers`` ranks (default: the widest width), so every width has the same ranks
  and cores.

This script launches ``mpirun`` itself; the ranks run this same file with ``--rank-side``.
Workers import the problems of ``fixed_vs_tuned`` as ``scripts.bench_mpi:NAME``
(``scripts`` is a namespace package once the checkout is on ``PYTHONPATH``, as
``rank_env`` puts it).

Run: ``PYTHONPATH=. .venv/bin/python scripts/bench_mpi.py --measure utilisation
[--ranks 8 32 64] [--evals-per-worker 20] [--widths 1 2 4] [--seed 0]``;
``--measure throughput [--repeats 3] [--epochs 3] [--batch-size 256]``;
``--measure fixed_vs_tuned [--widths 1 2 4] [--evals 10] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_UTILISATION = 0.95  # at 64 ranks
MPIRUN_TIMEOUT = 900  # seconds for one job
FIXED_VS_TUNED_TIMEOUT = 3600  # seconds for its one job (all its searches)
#: The environment variable that picks the data-parallel backend (nas.parallel.ENV_VAR).
ENV_DATA_PARALLEL = "NAS_DATA_PARALLEL"


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


def launch(
    ranks: int,
    measure: str,
    args: argparse.Namespace,
    *,
    extra: list[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = MPIRUN_TIMEOUT,
    stream: bool = False,
) -> dict[str, Any]:
    """Run this script's rank side of ``measure`` on ``ranks`` ranks; rank 0's record.

    ``extra`` are more arguments for the rank side, ``env`` more environment variables;
    with ``stream`` the ranks' output goes to this terminal (progress of long jobs).
    """
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
            *(extra or []),
        ]
        started = time.perf_counter()
        load_before = os.getloadavg()[0]
        done = subprocess.run(
            command,
            env={**rank_env(), **(env or {})},
            capture_output=not stream,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if done.returncode != 0 or not out.exists():
            raise SystemExit(
                f"{' '.join(command)} exited with {done.returncode}\n"
                f"{(done.stdout or '')[-5000:]}\n{(done.stderr or '')[-5000:]}"
            )
        record = json.loads(out.read_text())
        record["job_seconds"] = time.perf_counter() - started
        record["load_average"] = (load_before + os.getloadavg()[0]) / 2
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
        "--problem",
        args.problem,
        "--batch-size",
        str(args.batch_size),
        "--epochs",
        str(args.epochs),
        "--evals",
        str(args.evals),
    ]


def set_tensorflow_threads(threads: int) -> None:
    """Give TensorFlow ``threads`` intra-op and inter-op threads in this process.

    TensorFlow accepts this only before it runs anything, so call it before anything
    imports Keras (the trainer, the evaluator's workers).
    """
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


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

    from _harness import Stopwatch

    from nas import Study
    from nas.problem import Categorical, Problem
    from nas.search import RandomSearch

    workers = comm.Get_size() - 1
    num_evals = args.evals_per_worker * workers
    comm.Barrier()
    stopwatch = Stopwatch()
    with (
        tempfile.TemporaryDirectory() as directory,
        MPIEvaluator("bench:sleep", comm, function=sleeping_evaluation) as evaluator,
    ):
        evaluator.trains = False  # the evaluations sleep: no data or model to check
        widths = [width for width in args.widths if width <= evaluator.max_width]
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
        study = Study(
            problem,
            Path(directory) / "run",
            RandomSearch.for_problem(problem, seed=args.seed),
            num_evals,
            evaluator=evaluator,
            seed=args.seed,
            keep_models=0,
            callbacks=[stopwatch],
            progress=False,
        )
        trials = study.run().trials
    elapsed, cpu, start_wall = stopwatch.wall, stopwatch.cpu, stopwatch.started_at
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

    The same configs (widths and durations, in submission order) go through the MPI
    evaluator's placement policy and the driver's submit-while-free loop on a simulated
    clock: the :class:`~nas.evaluate.SimulatedEvaluator` places by that policy, here
    with no start-up time and each config's measured duration. What the measured run
    loses beyond this is messaging, polling and the driver's own time; what this loses
    is the policy's (ranks held for wide configs, fragments too narrow for what waits)
    and the tail. Returns (whole run, before the last start).
    """
    from nas.evaluate import SimulatedEvaluator, SyntheticTraining
    from nas.trial import Config

    class MeasuredDurations(SyntheticTraining):
        """Config ``i`` (its arch_seq is ``(i,)``, one epoch) takes ``durations[i]``."""

        def epoch_seconds(self, arch_seq: Any, width: int) -> float:
            return durations[arch_seq[0]]

    cluster = SimulatedEvaluator(workers, MeasuredDurations(startup_time=0.0))
    submitted, starts = 0, []
    while submitted < len(widths) or cluster.num_running:
        for _ in range(min(cluster.num_free, len(widths) - submitted)):
            hyperparameters = {"epochs": 1, "num_ranks": widths[submitted]}
            cluster.submit(Config(submitted, (submitted,), hyperparameters, submitted))
            submitted += 1
        starts += [trial.result.started_at for trial in cluster.collect()]
    last_start = max(starts)
    return (
        cluster.utilisation(),
        cluster.busy_rank_seconds(last_start) / (workers * last_start),
    )


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


# -- throughput ----------------------------------------------------------------------


@dataclass(frozen=True)
class ThroughputCase:
    """One row of the throughput table: a width, a data-parallel backend, threads."""

    width: int
    backend: str | None  # None: width 1, no communicator
    threads: int  # TensorFlow intra- and inter-op threads per rank

    @property
    def label(self) -> str:
        return self.backend or "none (comm=None)"


def epoch_timer() -> Any:
    """A Keras callback that appends each epoch's (first batch s, all batches s) to its
    ``times``, given to ``train(callbacks=...)``.

    ``TrainingResult.samples_per_second`` is a mean over all epochs, and the first
    epoch's first batch traces the train step (seconds here, more than a whole epoch of
    this model): this separates that one-off cost from the steady rate. It only takes
    timestamps; what the trainer does is unchanged.
    """
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[tuple[float, float]] = []

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._start = self._last = time.perf_counter()
            self._first: float | None = None

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            self._last = time.perf_counter()
            if self._first is None:
                self._first = self._last - self._start

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.times.append((self._first or 0.0, self._last - self._start))

    return EpochTimer()


def throughput_ranks(args: argparse.Namespace) -> None:
    """Rank side: every rank trains the same config; rank 0 writes the record."""
    set_tensorflow_threads(args.threads)  # first: TensorFlow must not have run yet
    import numpy as np
    import tensorflow as tf
    from mpi4py import MPI

    from nas.problem import load_problem
    from nas.train import train

    comm = MPI.COMM_WORLD
    problem = load_problem(args.problem)
    arch_seq = problem.build_space().sample(np.random.default_rng(args.seed))
    problem.load_data()  # cached: not part of the figures
    timer = epoch_timer()
    result = train(
        problem,
        arch_seq,
        {"batch_size": args.batch_size},
        epochs=args.epochs,
        seed=args.seed,
        comm=comm if comm.Get_size() > 1 else None,
        callbacks=[timer],
    )
    epochs = timer.times
    if comm.Get_rank() != 0:
        return
    if not result.ok:
        raise SystemExit(f"training failed: {result.error}")
    train_rows = problem.load_data().num_train
    samples_per_epoch = train_rows // result.num_ranks * result.num_ranks  # equal shards
    later = epochs[1:]
    record = {
        "width": result.num_ranks,
        "data_parallel": result.data_parallel,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "global_batch_size": result.global_batch_size,
        "samples_per_second": result.samples_per_second,
        "steady_samples_per_second": (
            samples_per_epoch * len(later) / sum(t for _, t in later) if later else None
        ),
        "first_batch_seconds": epochs[0][0],
        "epoch_seconds": [t for _, t in epochs],
        "objective": result.objective,
        "num_parameters": result.num_parameters,
        "arch_seq": list(arch_seq),
    }
    Path(args.out).write_text(json.dumps(record))


def throughput_cases(cores: int, backends: list[str]) -> list[ThroughputCase]:
    """Width 1 on all cores and on half of them; width 2 on each backend, half each."""
    half = max(1, cores // 2)
    cases = [ThroughputCase(1, None, cores)]
    if half != cores:
        cases.append(ThroughputCase(1, None, half))
    cases += [ThroughputCase(2, backend, half) for backend in backends]
    return cases


def measure_throughput(args: argparse.Namespace) -> None:
    """Samples/s of one architecture at width 1 and 2, with each data-parallel backend."""
    from nas.parallel import available_backends

    cores = os.cpu_count() or 1
    backends = [b for b in ("horovod", "mpi") if b in available_backends()]
    cases = throughput_cases(cores, backends)
    print(
        f"## Training throughput: {args.problem}, one architecture (seed {args.seed}), "
        f"batch {args.batch_size} per rank, {args.epochs} epochs, median of "
        f"{args.repeats} runs\n"
    )
    if "horovod" not in backends:
        print("Horovod is not installed here: its row is missing.\n")
    runs: dict[ThroughputCase, list[dict[str, Any]]] = {case: [] for case in cases}
    for repeat in range(args.repeats):
        for case in cases:  # in rotation, so that the load drifts over all alike
            record = launch(
                case.width,
                "throughput",
                args,
                extra=["--threads", str(case.threads)],
                env={ENV_DATA_PARALLEL: case.backend or ""},
            )
            runs[case].append(record)
            print(
                f"  run {repeat + 1}: width {case.width} {case.label}, {case.threads} "
                f"thread(s): {record['samples_per_second']:,.0f} samples/s, steady "
                f"{record['steady_samples_per_second']:,.0f}, first batch "
                f"{record['first_batch_seconds']:.1f} s, load {record['load_average']:.1f}",
                flush=True,
            )
    baseline = statistics.median(r["steady_samples_per_second"] for r in runs[cases[0]])
    print(
        "\n| width | data-parallel | TF threads per rank | global batch "
        "| samples/s (as reported) | steady samples/s (epochs 2+) | vs width 1 (steady) "
        "| first batch s | val_accuracy | load |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        records = runs[case]
        reported = [r["samples_per_second"] for r in records]
        steady = [r["steady_samples_per_second"] for r in records]
        first = records[0]
        print(
            f"| {case.width} | {first['data_parallel'] or 'none (comm=None)'} "
            f"| {first['intra_op_threads']} | {first['global_batch_size']} "
            f"| {_spread(reported)} | {_spread(steady)} "
            f"| {statistics.median(steady) / baseline:.2f} "
            f"| {statistics.median(r['first_batch_seconds'] for r in records):.1f} "
            f"| {statistics.median(r['objective'] for r in records):.4f} "
            f"| {statistics.mean(r['load_average'] for r in records):.1f} |",
            flush=True,
        )
    print(
        f"\nMedian [min-max] over {args.repeats} runs; one mpirun job per run, jobs in "
        "rotation. TF threads: intra-op = inter-op threads per rank (cores / ranks). "
        "Steady: the\nepochs after the first (no tracing). vs width 1: against the first "
        "row. Load: the 1-minute load average at the start and end of each job, averaged."
    )


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} [{min(values):,.0f}-{max(values):,.0f}]"


# -- fixed vs tuned hyperparameters ---------------------------------------------------

#: The subset of Covertype the searches train on (the first rows of each shuffled split).
SUBSET_TRAIN, SUBSET_VALID = 24_000, 6_000
#: Epochs of every evaluation (Covertype's own setting).
SUBSET_EPOCHS = 3
#: Small budgets need small populations (or evolution is random search throughout);
#: AgEBO's surrogate starts proposing after ``num_initial`` results instead of 10.
EVOLUTION_KWARGS = {"population_size": 6, "sample_size": 3}
AGEBO_KWARGS = {**EVOLUTION_KWARGS, "num_initial": 4}
#: How a problem of this module is named: fixed_width_4, tuned_width_2, ...
_PROBLEM_NAME = re.compile(r"(fixed|tuned)_width_([1-9][0-9]*)")
#: This module as the worker ranks import it (the checkout is on their PYTHONPATH).
PROBLEM_MODULE = "scripts.bench_mpi"
_problems: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """``fixed_width_<w>`` and ``tuned_width_<w>``: the problems of ``fixed_vs_tuned``.

    Made on first access (PEP 562), so that importing this module costs nothing on the
    64 ranks of ``utilisation``; workers import them as ``scripts.bench_mpi:NAME``.
    """
    match = _PROBLEM_NAME.fullmatch(name)
    if match is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _problems:
        _problems[name] = width_problem(int(match[2]), tuned=match[1] == "tuned")
    return _problems[name]


def width_problem(width: int, *, tuned: bool) -> Any:
    """Covertype's problem on a subset, at data-parallel width ``width``.

    Fixed: batch size (per rank) and learning rate at Covertype's defaults, Adam (the
    trainer scales the rate by the width, with warm-up). Tuned: Covertype's own ranges
    for batch size, learning rate and optimizer. Epochs and patience are Covertype's.
    """
    from nas.problem import Problem
    from problems import covertype

    base = covertype.HYPERPARAMETERS
    searched = {key: base[key] for key in ("batch_size", "learning_rate", "optimizer")}
    fixed = {key: value.default() for key, value in searched.items()}
    hyperparameters = {
        **(searched if tuned else fixed),
        "epochs": SUBSET_EPOCHS,
        "patience": base["patience"],
        "num_ranks": width,
    }
    kind = "tuned" if tuned else "fixed"
    return Problem(
        f"covertype_subset_{kind}_width_{width}",
        covertype_subset,
        covertype.problem.space,
        space_kwargs=dict(covertype.problem.space_kwargs),
        hyperparameters=hyperparameters,
        loss=covertype.problem.loss,
        metrics=covertype.problem.metrics,
        objective=covertype.problem.objective,
        direction=covertype.problem.direction,
        description=f"Covertype, {SUBSET_TRAIN:,} + {SUBSET_VALID:,} rows, width {width}, "
        f"hyperparameters {kind}.",
    )


@functools.cache
def covertype_subset() -> Any:
    """The first rows of Covertype's training and validation splits (both shuffled)."""
    from nas.problem import Dataset
    from problems._baselines import majority_class_accuracy
    from problems.covertype import load_data

    data = load_data()
    (x_train, y_train), (x_valid, y_valid) = data.train, data.valid
    train = x_train[:SUBSET_TRAIN], y_train[:SUBSET_TRAIN]
    valid = x_valid[:SUBSET_VALID], y_valid[:SUBSET_VALID]
    return Dataset(
        train=train,
        valid=valid,
        baselines={"majority_class": majority_class_accuracy(train[1], valid[1])},
    )


def fixed_vs_tuned_ranks(args: argparse.Namespace) -> None:
    """Rank side: for each width, both searches; every rank calls ``run_search``."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    workers = comm.Get_size() - 1
    set_tensorflow_threads(max(1, (os.cpu_count() or 1) // workers))
    from nas.driver import run_search

    records = []
    with tempfile.TemporaryDirectory() as directory:
        for width in args.widths:
            for kind, search, kwargs in (
                ("fixed", "regevo", EVOLUTION_KWARGS),
                ("tuned", "agebo", AGEBO_KWARGS),
            ):
                started = time.perf_counter()
                results = run_search(
                    f"{PROBLEM_MODULE}:{kind}_width_{width}",
                    Path(directory) / f"{kind}_width_{width}",
                    search,
                    args.evals,
                    evaluator="mpi",
                    seed=args.seed,
                    search_kwargs=kwargs,
                    keep_models=0,
                    progress=False,
                )
                if results is None:  # a worker rank: the search is over
                    continue
                record = search_record(results, width, kind, search)
                record["seconds"] = time.perf_counter() - started
                records.append(record)
                print(
                    f"  width {width}, {kind} ({search}): best {record['best']:.4f} of "
                    f"{record['evaluations']} evaluations in {record['seconds'] / 60:.1f} "
                    f"min, load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    if comm.Get_rank() == 0:
        Path(args.out).write_text(json.dumps({"searches": records, "workers": workers}))


def search_record(results: Any, width: int, kind: str, search: str) -> dict[str, Any]:
    """What the table shows of one search."""
    ok = [trial for trial in results.trials if trial.result.ok]
    best = results.best(1)
    record: dict[str, Any] = {
        "width": width,
        "kind": kind,
        "search": search,
        "evaluations": len(results.trials),
        "failed": len(results.trials) - len(ok),
        "best": best[0].result.objective if best else float("nan"),
        "median": statistics.median(t.result.objective for t in ok) if ok else float("nan"),
        "data_parallel": sorted({str(t.result.data_parallel) for t in ok}),
    }
    if best:
        hyperparameters = best[0].result.hyperparameters
        record["best_hyperparameters"] = {
            key: hyperparameters[key] for key in ("batch_size", "learning_rate", "optimizer")
        }
        record["best_global_batch"] = best[0].result.global_batch_size
    return record


def measure_fixed_vs_tuned(args: argparse.Namespace) -> None:
    """Best objective per width: fixed hyperparameters vs AgEBO-tuned, same budget."""
    workers = args.workers or max(args.widths)
    if max(args.widths) > workers:
        raise SystemExit(f"width {max(args.widths)} needs at least as many workers")
    print(
        f"## Fixed vs tuned hyperparameters: Covertype subset ({SUBSET_TRAIN:,} training, "
        f"{SUBSET_VALID:,} validation rows), {SUBSET_EPOCHS} epochs, {args.evals} "
        f"evaluations per search, seed {args.seed}, {workers} workers + the driver\n",
        flush=True,
    )
    record = launch(
        workers + 1,
        "fixed_vs_tuned",
        args,
        extra=["--workers", str(workers)],
        timeout=FIXED_VS_TUNED_TIMEOUT,
        stream=True,
    )
    searches = {(r["width"], r["kind"]): r for r in record["searches"]}
    print(
        "\n| width | fixed: best | tuned: best | fixed: median | tuned: median "
        "| evaluations (failed) | wall min fixed / tuned | tuned best: batch/rank, lr, "
        "optimizer (global batch) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for width in args.widths:
        fixed, tuned = searches[(width, "fixed")], searches[(width, "tuned")]
        hps = tuned.get("best_hyperparameters", {})
        print(
            f"| {width} | {fixed['best']:.4f} | {tuned['best']:.4f} | {fixed['median']:.4f} "
            f"| {tuned['median']:.4f} | {fixed['evaluations']} ({fixed['failed']}) / "
            f"{tuned['evaluations']} ({tuned['failed']}) "
            f"| {fixed['seconds'] / 60:.1f} / {tuned['seconds'] / 60:.1f} "
            f"| {hps.get('batch_size')}, {hps.get('learning_rate', float('nan')):.2g}, "
            f"{hps.get('optimizer')} ({tuned.get('best_global_batch')}) |",
            flush=True,
        )
    backends = sorted({b for r in record["searches"] for b in r["data_parallel"]} - {"None"})
    fixed = width_problem(1, tuned=False).hyperparameters.validate({})
    print(
        f"\nFixed: batch {fixed['batch_size']} per rank, learning rate "
        f"{fixed['learning_rate']:g} x width (after warm-up), {fixed['optimizer']}; "
        f"regularized evolution {EVOLUTION_KWARGS}. Tuned: AgEBO {AGEBO_KWARGS}. "
        f"Data-parallel backend: {', '.join(backends) or 'none'}. "
        f"Job: {record['job_seconds'] / 60:.1f} min, load {record['load_average']:.1f}."
    )


#: Measurements by the name ``--measure`` takes: (parent side, rank side).
MEASUREMENTS: dict[str, tuple[Callable[[argparse.Namespace], None], ...]] = {
    "utilisation": (measure_utilisation, utilisation_ranks),
    "throughput": (measure_throughput, throughput_ranks),
    "fixed_vs_tuned": (measure_fixed_vs_tuned, fixed_vs_tuned_ranks),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--measure", nargs="+", choices=sorted(MEASUREMENTS), default=["utilisation"]
    )
    parser.add_argument("--ranks", nargs="+", type=int, default=[8, 32, 64])
    parser.add_argument("--evals-per-worker", type=int, default=20)
    parser.add_argument("--widths", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--min-sleep", type=float, default=0.5)
    parser.add_argument("--max-sleep", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--problem", default="problems.covertype:problem")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--evals", type=int, default=10)
    parser.add_argument("--workers", type=int, default=None)
    # The side a rank of a launched job runs (internal).
    parser.add_argument("--rank-side", choices=sorted(MEASUREMENTS), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
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
