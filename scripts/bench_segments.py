"""Segments that continue warm against segments that load their checkpoint: one run,
side by side, on real training.

For each problem (``--problems``), scheduler (``--schedulers``) and seed (``--seeds``),
the same search runs twice over a fresh pool of ``--workers`` worker processes: with warm
continuation (each worker keeps the models it trained, ``warm_memory`` by default) and
without (``warm_memory=0``: every continued segment loads, compiles and traces its
checkpoint). The two runs of a seed alternate which goes first, so that a drift in the
machine's load does not favour one.

The problems are the shipped breast cancer and Covertype-shaped ones, trained up to 9
epochs and without their own patience (Keras' patience restarts with every segment, so
that it would end segments the schedulers are meant to end):

* ``asha``: ASHA in its promotion form, r = 1, R = 9, eta = 3, over random search;
* ``lcm``: learning-curve matching (``--early-stopping lcm``) with its defaults.

Columns, per problem, scheduler and mode (medians over the seeds): wall ``seconds`` of
the search; ``segments`` run and ``epochs`` trained (the work, which warm continuation
does not change); ``warm`` (segments that continued warm / segments that continued);
the median fixed cost of a segment (``startup``: from its start to the end of its first
training batch) for segments that started a configuration (``new``), continued it cold
(``cold``) and continued it warm (``warm``); ``epoch`` the median epoch time; and worker
``utilisation``, the evaluations' seconds summed over the workers' seconds (the rest is
the driver's dispatch and workers waiting for one, the search's start and end included);
``between s`` the median time a worker waits between two of its segments (dispatch, and
any wait for the worker holding a warm model: affinity must not make workers idle).
``speed-up`` is the cold run's wall time over the warm run's, per seed, median.

    PYTHONPATH=. .venv/bin/python scripts/bench_segments.py [--problems breast_cancer
        covertype] [--schedulers asha lcm] [--seeds 3] [--workers 2] [--max-evals N]

Needs the machine otherwise idle for figures to compare with others; the side-by-side
ratio holds under steady load.

``--memory`` measures instead what a kept model costs in memory, to check the budget's
accounting (``WarmModels.nbytes``: the variables of the model and its optimizer plus a
fixed overhead per model): in one process, after a few trainings to warm it up, the
growth of the resident set per training when the models are not kept, then when they
are; the difference is what keeping costs.

    PYTHONPATH=. .venv/bin/python scripts/bench_segments.py --memory

``--startup`` measures instead the fixed cost of a new segment (its ``startup``, from
the start to the end of the first training batch, 1 epoch) with ``nas.train.train``
against plain Keras on the same architectures, data and defaults in the same process:
build, ``compile``, ``fit`` with validation data. Plain Keras makes the optimizer's and
the metrics' variables inside the first trace of its train step, which TensorFlow then
traces a second time; ``train`` makes them beforehand. The order alternates per
architecture.

    PYTHONPATH=. .venv/bin/python scripts/bench_segments.py --startup
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Beside this file: this folder is on the path when it runs as a script (and on its
# spawned workers', which import the problems below by name).
from _harness import Stopwatch
from _harness import format_table as text_table

from nas import Study
from nas.evaluate import ProcessPoolEvaluator
from nas.problem import OPTIMIZERS
from nas.train import WarmModels, resolve_hyperparameters, train
from problems import breast_cancer, covertype

#: The shipped problems, 9 epochs and no patience (see the notes above).
breast_cancer_problem = breast_cancer._problem(
    "breast_cancer_9_epochs",
    {**breast_cancer.HYPERPARAMETERS, "epochs": 9, "patience": 0},
    "Wisconsin breast cancer, 9 epochs, no patience: the segments benchmark's problem.",
)
covertype_problem = covertype._problem(
    "covertype_9_epochs",
    {**covertype.HYPERPARAMETERS, "epochs": 9, "patience": 0},
    "Covertype-shaped data, 9 epochs, no patience: the segments benchmark's problem.",
)
PROBLEMS = {"breast_cancer": breast_cancer_problem, "covertype": covertype_problem}
#: Segments per search: enough for ASHA's three rungs and LCM's checkpoints.
MAX_EVALS = {"breast_cancer": 40, "covertype": 24}
SCHEDULERS = {
    "asha": {"min_epochs": 1, "max_epochs": 9, "reduction_factor": 3},
    "lcm": {},
}
MODES = {"warm": None, "cold": 0}
COLUMNS = (
    "problem",
    "scheduler",
    "mode",
    "seconds",
    "segments",
    "epochs",
    "warm",
    "startup new",
    "startup cold",
    "startup warm",
    "epoch",
    "utilisation",
    "between s",
    "speed-up",
)


def run_once(
    problem_name: str, scheduler: str, seed: int, mode: str, workers: int, folder: Path
) -> dict[str, Any]:
    """One search; what it cost and where the time went."""
    reference = f"bench_segments:{problem_name}_problem"
    stopwatch = Stopwatch()
    with ProcessPoolEvaluator(reference, workers, warm_memory=MODES[mode]) as pool:
        results = Study(
            PROBLEMS[problem_name],
            folder / f"{problem_name}-{scheduler}-{seed}-{mode}",
            "random",
            MAX_EVALS[problem_name],
            scheduler=scheduler,
            scheduler_options=SCHEDULERS[scheduler],
            evaluator=pool,
            seed=seed,
            keep_models=0,
            callbacks=[stopwatch],
            progress=False,
        ).run()
    trials = [trial for trial in results.trials if trial.result.ok]
    continued = [t for t in trials if t.config.start_from is not None]
    busy = sum(t.result.finished_at - t.result.started_at for t in results.trials)

    def startup(selected: list[Any]) -> float | None:
        values = [t.result.startup_seconds for t in selected if t.result.startup_seconds]
        return statistics.median(values) if values else None

    return {
        "seconds": stopwatch.wall,
        "segments": len(results.trials),
        "epochs": sum(t.result.epochs_trained or 0 for t in results.trials),
        "warm": sum(t.result.warm for t in continued) / len(continued) if continued else 0.0,
        "startup new": startup([t for t in trials if t.config.start_from is None]),
        "startup cold": startup([t for t in continued if not t.result.warm]),
        "startup warm": startup([t for t in continued if t.result.warm]),
        "epoch": statistics.median(
            t.result.epoch_seconds for t in trials if t.result.epoch_seconds
        ),
        "utilisation": busy / (workers * stopwatch.wall),
        "between s": between_segments(results.trials),
    }


def between_segments(trials: list[Any]) -> float:
    """The median time a worker waits between the end of one of its segments and the
    start of its next (the driver's dispatch, and any wait for a warm model): the
    search's start and end, where a worker has no segment yet or none left, excluded."""
    by_worker: dict[str, list[Any]] = {}
    for trial in trials:
        by_worker.setdefault(trial.worker, []).append(trial.result)
    gaps = [
        later.started_at - earlier.finished_at
        for results in by_worker.values()
        for earlier, later in itertools.pairwise(sorted(results, key=lambda r: r.started_at))
    ]
    return statistics.median(gaps)


def resident_bytes() -> int:
    """This process's resident set (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_row(problem_name: str, folder: Path, models: int = 5) -> list[str]:
    """Resident growth per model, not kept and kept, and what the budget counts."""
    problem = PROBLEMS[problem_name]
    space = problem.build_space()
    store = WarmModels(2**40)
    architectures = iter(space.sample(seed) for seed in range(3 * models + 3))

    def trainings(count: int, keep: bool) -> int:
        for _ in range(count):
            arch_seq = next(architectures)
            checkpoint = folder / f"{problem_name}-{len(store)}-{keep}.keras"
            train(
                problem,
                arch_seq,
                epochs=1,
                checkpoint_path=checkpoint,
                warm_models=store if keep else None,
            )
        gc.collect()
        return resident_bytes()

    start = trainings(3, keep=False)  # TensorFlow's own start-up, the data
    not_kept = trainings(models, keep=False)
    kept = trainings(models, keep=True)
    mib = 2**20
    return [
        problem_name,
        f"{(not_kept - start) / models / mib:.1f}",
        f"{(kept - not_kept) / models / mib:.1f}",
        f"{(kept - not_kept - (not_kept - start)) / models / mib:.1f}",
        f"{store.nbytes / len(store) / mib:.1f}",
    ]


def plain_keras_startup(problem_name: str, arch_seq: list[int], seed: int) -> float:
    """Seconds from building to the end of the first batch with plain Keras, 1 epoch."""
    import keras

    problem = PROBLEMS[problem_name]
    config = resolve_hyperparameters(problem, None)
    data = problem.load_data()
    first_batch: list[float] = []

    class FirstBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if not first_batch:
                first_batch.append(time.perf_counter())

    started = time.perf_counter()
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = problem.build_space(config).build(arch_seq)
    optimizer = getattr(keras.optimizers, OPTIMIZERS[config["optimizer"]])
    model.compile(
        optimizer=optimizer(learning_rate=config["learning_rate"]),
        loss=problem.loss,
        metrics=list(problem.metrics),
    )
    model.fit(
        *data.train,
        batch_size=config["batch_size"],
        epochs=1,
        validation_data=data.valid,
        callbacks=[FirstBatch()],
        verbose=0,
    )
    return first_batch[0] - started


def startup_row(problem_name: str, architectures: int = 6) -> list[str]:
    """Median startup of a new segment with nas and with plain Keras, and their ratio."""
    problem = PROBLEMS[problem_name]
    space = problem.build_space()
    train(problem, space.sample(0), epochs=1)  # TensorFlow's own start-up, the data
    nas_startups, keras_startups = [], []
    for seed in range(1, architectures + 1):
        arch_seq = space.sample(seed)
        for first in [True, False] if seed % 2 else [False, True]:
            if first:
                nas_startups.append(train(problem, arch_seq, epochs=1, seed=seed).startup_seconds)
            else:
                keras_startups.append(plain_keras_startup(problem_name, arch_seq, seed))
    nas_median = statistics.median(nas_startups)
    keras_median = statistics.median(keras_startups)
    return [
        problem_name,
        f"{nas_median:.2f}",
        f"{keras_median:.2f}",
        f"{keras_median / nas_median:.2f}",
    ]


def cell(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def summary_row(runs: list[dict[str, Any]], speed_up: float | None) -> list[str]:
    def median(key: str) -> Any:
        values = [run[key] for run in runs if run[key] is not None]
        return statistics.median(values) if values else None

    return [
        cell(median("seconds"), 1),
        cell(median("segments"), 0),
        cell(median("epochs"), 0),
        cell(median("warm")),
        cell(median("startup new")),
        cell(median("startup cold")),
        cell(median("startup warm")),
        cell(median("epoch")),
        cell(median("utilisation")),
        cell(median("between s"), 3),
        cell(speed_up),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    parser.add_argument(
        "--schedulers", nargs="+", choices=list(SCHEDULERS), default=list(SCHEDULERS)
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument(
        "--max-evals", type=int, help="segments per search (default: per problem, above)"
    )
    parser.add_argument(
        "--memory", action="store_true", help="measure what a kept model costs in memory"
    )
    parser.add_argument(
        "--startup",
        action="store_true",
        help="measure a new segment's fixed cost against plain Keras",
    )
    args = parser.parse_args()
    if args.startup:
        rows = [startup_row(name) for name in args.problems]
        header = ("problem", "nas startup s", "plain Keras startup s", "plain Keras / nas")
        print(text_table(header, rows))
        return
    if args.memory:
        with tempfile.TemporaryDirectory() as folder:
            rows = [memory_row(name, Path(folder)) for name in args.problems]
        header = ("problem", "MiB/model not kept", "kept", "keeping costs", "budget counts")
        print(text_table(header, rows))
        return
    if args.max_evals:
        MAX_EVALS.update(dict.fromkeys(MAX_EVALS, args.max_evals))
    print(
        f"{args.workers} workers, seeds 0..{args.seeds - 1}; segments per search: "
        + ", ".join(f"{name} {MAX_EVALS[name]}" for name in args.problems),
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for problem_name in args.problems:
            for scheduler in args.schedulers:
                runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
                for seed in range(args.seeds):
                    order = list(MODES) if seed % 2 == 0 else list(reversed(MODES))
                    for mode in order:
                        run = run_once(
                            problem_name, scheduler, seed, mode, args.workers, Path(folder)
                        )
                        runs[mode].append(run)
                        print(
                            f"  {problem_name} {scheduler} seed {seed} {mode}: {run}", flush=True
                        )
                speed_up = statistics.median(
                    cold["seconds"] / warm["seconds"]
                    for cold, warm in zip(runs["cold"], runs["warm"], strict=True)
                )
                for mode in MODES:
                    rows.append(
                        [problem_name, scheduler, mode]
                        + summary_row(runs[mode], speed_up if mode == "warm" else None)
                    )
    print(text_table(COLUMNS, rows))


if __name__ == "__main__":
    sys.exit(main())
