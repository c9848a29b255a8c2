"""Benchmark: training throughput on data in memory vs streamed from TFRecord files.

One architecture of the covertype problem (``arch_seq`` sampled from ``--seed``),
trained with fixed hyperparameters (``--batch-size``, ``--epochs``, Adam at the
default learning rate) by ``nas.train.train`` on the same data two ways:

* ``in memory``: ``problems.covertype:problem``, arrays handed to ``fit``;
* ``streamed``: ``problems.covertype_files:problem``, a ``nas.problem.Stream`` reading
  the TFRecord shards (written first if absent; ``--folder`` or
  ``$NAS_COVERTYPE_FILES``, else ``~/.cache/nas/covertype-files``).

Both are loaded before any timing, then trained alternately, ``--repeats`` times each,
swapping which goes first every repeat, because the machine is shared and noisy.
Reported, median over repeats, in training samples per second:

* ``result``: ``TrainingResult.samples_per_second``, training batches of all epochs,
  the first epoch's tracing of the training step included;
* ``steady``: epochs after the first, from each epoch's start to its last training
  batch (a Keras callback given to ``train(callbacks=...)``); the figure the target
  (streamed >= 90% of in memory) is about, judged on the paired ratio (the median
  over repeats of streamed / in memory of the same repeat, which ran back to back);
* ``validation``: validation samples per second over epochs after the first;
* ``CPU µs/sample``: the process's CPU time (every thread, tf.data's included) over
  the steady epochs' training batches, per sample: what each way costs, less moved
  by other jobs on the machine than samples per second are (a process that gets
  fewer cores trains slower but spends the same CPU per sample).

Run: ``PYTHONPATH=. .venv/bin/python scripts/bench_data.py [--repeats 3] [--epochs 3]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from _harness import format_table  # noqa: E402

from nas.problem import Problem, load_problem  # noqa: E402
from nas.train import train  # noqa: E402
from problems.covertype_files import files_problem  # noqa: E402

TARGET = 0.90  # streamed must reach 90% of in-memory samples per second


class EpochTimer(keras.callbacks.Callback):
    """Seconds (wall and the process's CPU) of each epoch's training batches, and wall
    seconds of its validation."""

    def __init__(self) -> None:
        super().__init__()
        self.training: list[float] = []
        self.training_cpu: list[float] = []
        self.validation: list[float] = []
        self._started = self._last_batch = self._validating = 0.0
        self._started_cpu = self._last_batch_cpu = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = self._last_batch = time.perf_counter()
        self._started_cpu = self._last_batch_cpu = time.process_time()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._last_batch = time.perf_counter()
        self._last_batch_cpu = time.process_time()

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._validating = time.perf_counter()

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        self.validation.append(time.perf_counter() - self._validating)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.training.append(self._last_batch - self._started)
        self.training_cpu.append(self._last_batch_cpu - self._started_cpu)


def measure(
    problem: Problem, arch_seq: Sequence[int], config: dict[str, Any], epochs: int, seed: int
) -> dict[str, float]:
    """Train once; throughputs in samples per second."""
    data = problem.load_data()  # cached: loaded before timing
    timer = EpochTimer()
    result = train(problem, arch_seq, config, epochs=epochs, seed=seed, callbacks=[timer])
    if result.status.value != "ok" or result.epochs_trained < 2:
        raise RuntimeError(
            f"{problem.name}: {result.status.value} after "
            f"{result.epochs_trained} epoch(s): {result.error}"
        )
    later = len(timer.training) - 1  # epochs after the first, which traces the step
    return {
        "result": result.samples_per_second,
        "steady": data.num_train * later / sum(timer.training[1:]),
        "validation": data.num_valid * later / sum(timer.validation[1:]),
        "cpu": 1e6 * sum(timer.training_cpu[1:]) / (data.num_train * later),
        "objective": result.objective,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="trainings per way")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=3, help="at least 2 (steady state)")
    parser.add_argument("--seed", type=int, default=0, help="of the arch_seq and training")
    parser.add_argument("--folder", default=None, help="of the TFRecord shards")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.epochs < 2 or args.batch_size < 1:
        parser.error("--repeats and --batch-size must be positive, --epochs at least 2")

    problems = {
        "in memory": load_problem("problems.covertype:problem"),
        "streamed": files_problem(args.folder)
        if args.folder
        else load_problem("problems.covertype_files:problem"),
    }
    for problem in problems.values():
        problem.load_data()  # generates, or writes the shards, once
    space = problems["in memory"].build_space()
    arch_seq = space.sample(np.random.default_rng(args.seed))
    config = {"batch_size": args.batch_size, "optimizer": "adam"}
    print(
        f"Python {platform.python_version()}, Keras {keras.__version__} "
        f"({keras.backend.backend()}), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
        f"batch {args.batch_size}, {args.epochs} epochs, {args.repeats} repeats, "
        f"seed {args.seed}, arch_seq {arch_seq}",
        flush=True,
    )

    measured: dict[str, list[dict[str, float]]] = {name: [] for name in problems}
    for repeat in range(args.repeats):
        order = list(problems) if repeat % 2 == 0 else list(problems)[::-1]
        for name in order:
            figures = measure(problems[name], arch_seq, config, args.epochs, args.seed)
            measured[name].append(figures)
            print(
                f"  repeat {repeat + 1} {name:>9}: result {figures['result']:,.0f}, steady "
                f"{figures['steady']:,.0f}, validation {figures['validation']:,.0f} samples/s, "
                f"CPU {figures['cpu']:.1f} µs/sample, val_accuracy {figures['objective']:.4f}",
                flush=True,
            )

    keys = ("result", "steady", "validation", "cpu")
    medians = {
        name: {key: statistics.median(f[key] for f in runs) for key in keys}
        for name, runs in measured.items()
    }
    rows = [
        [name, *(f"{medians[name][key]:,.0f}" for key in keys[:-1]), f"{medians[name]['cpu']:.1f}"]
        for name in problems
    ]
    rows.append(
        [
            "streamed / in memory",
            *(f"{medians['streamed'][key] / medians['in memory'][key]:.2f}" for key in keys),
        ]
    )
    # The same repeat's two runs shared the machine's load: their ratio is less noisy.
    paired = {
        key: statistics.median(
            s[key] / m[key] for s, m in zip(measured["streamed"], measured["in memory"])
        )
        for key in keys
    }
    rows.append(["paired (median ratio)", *(f"{paired[key]:.2f}" for key in keys)])
    print()
    print(
        format_table(
            [
                "data",
                "result samples/s",
                "steady samples/s",
                "validation samples/s",
                "CPU µs/sample",
            ],
            rows,
        )
    )
    ratio = paired["steady"]
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(
        f"\ntarget streamed >= {TARGET:.0%} of in memory (steady, paired): {verdict} ({ratio:.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
