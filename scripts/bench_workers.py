"""How long a process pool takes to start training: workers forked from the fork server
against spawned ones, side by side in one run.

For each start method (``forkserver``, nas's default; ``spawn``, each worker a fresh
interpreter importing TensorFlow), in this one process, as a notebook runs searches one
after the other: ``--pools`` pools of ``--workers`` workers are opened one after the
other over the shipped breast cancer problem, each given one evaluation per worker (a
random architecture, 10 epochs); then one pool whose workers are replaced after every
evaluation (``max_evals_per_worker=1``, as after a crash, an overrun or the recycling
of a long search) runs ``--evals`` evaluations. Methods alternate which goes first
over ``--repeats`` rounds, so that a drift in the machine's load favours neither; the
fork server is started once per process, by the first forkserver pool, and so is in
the first pool's figure of the first round.

Columns (medians over the rounds): ``first pool`` and ``next pools``, seconds from
opening a pool to the last of its first results; ``per evaluation, fresh worker``,
the seconds a worker of the recycling pool spends per evaluation, its start included
(wall time x workers / evaluations); ``train`` the evaluations' own time to build and
train their model (as the trainer reports it), the same work in every column.

    PYTHONPATH=. .venv/bin/python scripts/bench_workers.py [--workers 2] [--pools 3]
        [--evals 6] [--repeats 2]

Needs the machine otherwise idle for figures to compare with others.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from _harness import format_table

from nas.evaluate import ProcessPoolEvaluator
from nas.problem import load_problem
from nas.trial import Config

PROBLEM = "problems.breast_cancer:problem"
METHODS = ("forkserver", "spawn")


def run_pool(pool: ProcessPoolEvaluator, configs: list[Config]) -> list[Any]:
    """Evaluate ``configs`` on ``pool``, as many at a time as it has free workers."""
    pending, trials = list(configs), []
    while pending or pool.num_running:
        while pending and pool.num_free:
            pool.submit(pending.pop(0))
        trials += pool.collect(timeout=600)
    failed = [trial.result.error for trial in trials if not trial.result.ok]
    if failed:
        raise SystemExit(f"an evaluation failed: {failed[0]}")
    return trials


def one_round(method: str, args: argparse.Namespace, architectures: list[list[int]]) -> dict:
    configs = [Config(i, arch, {}, seed=i) for i, arch in enumerate(architectures)]
    pool_seconds, train_seconds = [], []
    for _ in range(args.pools):
        started = time.perf_counter()
        with ProcessPoolEvaluator(PROBLEM, args.workers, start_method=method) as pool:
            trials = run_pool(pool, configs[: args.workers])
            pool_seconds.append(time.perf_counter() - started)
        train_seconds += [t.result.build_time + t.result.training_time for t in trials]
    with ProcessPoolEvaluator(
        PROBLEM, args.workers, start_method=method, max_evals_per_worker=1
    ) as pool:
        started = time.perf_counter()
        trials = run_pool(pool, configs[: args.evals])
        recycled = (time.perf_counter() - started) / args.evals * args.workers
    train_seconds += [t.result.build_time + t.result.training_time for t in trials]
    return {
        "first": pool_seconds[0],
        "next": statistics.median(pool_seconds[1:]) if args.pools > 1 else float("nan"),
        "recycled": recycled,
        "train": statistics.median(train_seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pools", type=int, default=3, help="pools opened one after another")
    parser.add_argument("--evals", type=int, default=6, help="evaluations of the recycling pool")
    parser.add_argument("--repeats", type=int, default=2, help="rounds over the two methods")
    args = parser.parse_args()
    if args.evals < args.workers or args.pools < 1:
        parser.error("--evals must be at least --workers, and --pools at least 1")

    space = load_problem(PROBLEM).build_space()
    architectures = [space.sample(seed) for seed in range(args.evals)]
    rounds: dict[str, list[dict]] = {method: [] for method in METHODS}
    for repeat in range(args.repeats):
        order = METHODS if repeat % 2 == 0 else METHODS[::-1]
        for method in order:
            rounds[method].append(one_round(method, args, architectures))
            print(f"round {repeat + 1}, {method}: {rounds[method][-1]}", flush=True)

    def median(method: str, key: str) -> str:
        return f"{statistics.median(r[key] for r in rounds[method]):.2f}"

    header = ["start method", "first pool s", "next pools s", "per evaluation, fresh worker s"]
    keys = ("first", "next", "recycled", "train")
    rows = [[method, *(median(method, key) for key in keys)] for method in METHODS]
    print(format_table([*header, "train s"], rows))


if __name__ == "__main__":
    main()
