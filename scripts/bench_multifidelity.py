"""Benchmark: multi-fidelity schedulers on a simulated cluster, and real runs under mpirun.

All in one run, with the same seeds (issue 5, "Checked by"):

* **(a) utilisation.** On the simulated backend (:class:`nas.evaluate.SimulatedEvaluator`:
  the real driver, random search and schedulers; synthetic curves and epoch times) at
  64, 256 and 4,096 ranks: the fraction of the ranks' time that evaluations hold them,
  for ASHA (promotion form), RASDA and synchronous successive halving (``sha``, one
  bracket of ``n = ranks`` configurations, whose rung 0 fills the cluster, and at 64
  ranks one of ``n = 27 x ranks``, whose top rung does). The window is ``[0, T]``, the
  same for every scheduler: ``T`` is the synchronous bracket's length, capped at
  ``--max-rank-seconds`` over the ranks (390 simulated seconds at 4,096 ranks) so that
  ASHA's events stay affordable; no evaluation starts after ``T`` (the job's wall time)
  and time past ``T`` is not counted. Also what the real driver cost (wall and CPU) and
  where its time went: journal, results.csv, architecture hashes, checkpoint
  bookkeeping, scheduler and search, the simulation itself.
* **(b) time to a target.** At ``--race-ranks`` ranks for each seed, random search with
  full training, ASHA and RASDA run for the same simulated time (``--race-hours``): the
  simulated time at which an evaluation first reaches each target objective, and the
  best objective at the end. The targets are the 99th and 99.9th percentiles of the
  final objective of random configurations trained fully (drawn from the same synthetic
  landscape, 4,000 configurations).
* **(c) real runs.** ASHA and RASDA under ``mpirun --oversubscribe`` (1 driver rank and
  ``--real-ranks`` training ranks) on ``problems.breast_cancer:parallel_problem``
  (widths 1 and 2), a small budget: wall time and the best validation accuracy.

The problem of (a) and (b) is defined here: the breast-cancer space with 27 epochs (``r =
1``, ``R = 27``, ``η = 3``: rungs at 1, 3, 9, 27 epochs) and one rank per configuration;
RASDA's copy declares ``num_ranks`` 1, 2, 4, 8 so that it can widen (1, 2, 4, 8 ranks at
rungs 0-3). Its data are never loaded: nothing trains.

Run: ``PYTHONPATH=. .venv/bin/python scripts/bench_multifidelity.py [--ranks 64 256 4096]
[--seeds 0 1 2 3 4] [--race-ranks 64] [--race-hours 3] [--skip a b c]``
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from nas.driver import read_journal  # noqa: E402
from nas.driver._driver import DEFAULT_MAX_CONSECUTIVE_FAILURES, Driver  # noqa: E402
from nas.driver._journal import Journal  # noqa: E402
from nas.driver._results_table import ResultsTable  # noqa: E402
from nas.driver._run_search import _search, _settings  # noqa: E402
from nas.evaluate import SimulatedEvaluator  # noqa: E402
from nas.problem import Categorical, Float, Int, Problem, load_problem  # noqa: E402
from nas.schedule import FullTraining  # noqa: E402
from nas.schedule._asha import ASHA  # noqa: E402
from nas.schedule._successive_halving import SuccessiveHalving  # noqa: E402
from nas.search import RandomSearch  # noqa: E402
from nas.trial import Trial  # noqa: E402
from problems.breast_cancer import load_data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HYPERPARAMETERS: dict[str, Any] = {
    "batch_size": Int(16, 128, log=True),
    "learning_rate": Float(1e-4, 1e-1, log=True),
    "optimizer": Categorical(["adam", "rmsprop", "adamw"]),
    "epochs": 27,
}


def _problem(name: str, hyperparameters: dict[str, Any]) -> Problem:
    return Problem(
        name,
        load_data,
        "spaces.dense_skip:dense_skip_space",
        space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 5},
        hyperparameters=hyperparameters,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        objective="val_accuracy",
        direction="max",
    )


#: One rank per configuration: random search, ASHA and successive halving.
problem = _problem("multifidelity_27", HYPERPARAMETERS)
#: RASDA's: the widths it may give a configuration (it ignores the proposed one).
rasda_problem = _problem(
    "multifidelity_27_widths", {**HYPERPARAMETERS, "num_ranks": Categorical([1, 2, 4, 8])}
)
PROBLEM = f"{Path(__file__).stem}:problem"
RASDA_PROBLEM = f"{Path(__file__).stem}:rasda_problem"
RUNGS = {"min_epochs": 1, "max_epochs": 27, "reduction_factor": 3}
#: Synchronous brackets: rung 0 fills the ranks, or (27 = eta^3 times more) the top rung does.
SH_SMALL = "sync. SH, n = ranks"
SH_LARGE = "sync. SH, n = 27 x ranks"
#: name -> (problem, scheduler, its parameters, given the number of ranks).
METHODS: dict[str, tuple[str, str, Callable[[int], dict[str, Any]]]] = {
    "random, full training": (PROBLEM, "none", lambda ranks: {}),
    "ASHA": (PROBLEM, "asha", lambda ranks: dict(RUNGS)),
    SH_SMALL: (
        PROBLEM,
        "sha",
        lambda ranks: {**RUNGS, "num_configurations": ranks, "brackets": 1},
    ),
    SH_LARGE: (
        PROBLEM,
        "sha",
        lambda ranks: {**RUNGS, "num_configurations": 27 * ranks, "brackets": 1},
    ),
    "RASDA": (RASDA_PROBLEM, "rasda", lambda ranks: dict(RUNGS)),
}
TARGET_UTILISATION = 0.99  # ASHA at 4,096 ranks
TARGET_ASHA_SPEEDUP = 3.0  # over random search with full training
TARGET_RASDA_SPEEDUP = 1.5  # over ASHA, at equal or better final objective


# -- running the real driver on the simulated cluster ---------------------------------


class Timers:
    """Exclusive wall time spent in chosen methods (a callee's time is not its caller's)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack: list[list[float]] = []  # [start, time of timed callees]

    @contextmanager
    def patched(self, targets: Sequence[tuple[type, str, str]]) -> Iterator[Timers]:
        originals = [(owner, name, owner.__dict__[name]) for owner, name, _ in targets]
        try:
            for owner, name, label in targets:
                setattr(owner, name, self._timed(owner.__dict__[name], label))
            yield self
        finally:
            for owner, name, original in originals:
                setattr(owner, name, original)

    def _timed(self, function: Callable[..., Any], label: str) -> Callable[..., Any]:
        @wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._stack.append([time.perf_counter(), 0.0])
            try:
                return function(*args, **kwargs)
            finally:
                start, inner = self._stack.pop()
                elapsed = time.perf_counter() - start
                self.seconds[label] += elapsed - inner
                if self._stack:
                    self._stack[-1][1] += elapsed

        return timed


#: The methods whose time the breakdown reports.
TIMED = [
    (Journal, "_write", "journal"),
    (ResultsTable, "append", "results.csv"),
    (Driver, "_hash", "arch hash"),
    (Driver, "_release_checkpoints", "checkpoints"),
    (SimulatedEvaluator, "submit", "simulation"),
    (SimulatedEvaluator, "collect", "simulation"),
    *[
        (owner, name, "scheduler")
        for owner in (FullTraining, ASHA, SuccessiveHalving)
        for name in ("ask", "tell", "live_checkpoints")
        if name in owner.__dict__
    ],
]


@dataclass
class Run:
    """One simulated search: its trials, its evaluator, and what it cost for real."""

    method: str
    ranks: int
    seed: int
    trials: list[Trial]
    evaluator: SimulatedEvaluator
    wall: float
    cpu: float
    breakdown: dict[str, float]

    def time_to(self, target: float, horizon: float) -> float | None:
        """Simulated seconds until an evaluation first reached ``target`` (by ``horizon``)."""
        times = [
            t.result.finished_at
            for t in self.trials
            if t.result.ok
            and t.result.objective is not None
            and t.result.objective >= target
            and t.result.finished_at <= horizon
        ]
        return min(times, default=None)

    def best(self, horizon: float) -> float:
        """The best objective of the evaluations finished by ``horizon``."""
        return max(
            (
                t.result.objective
                for t in self.trials
                if t.result.ok and t.result.objective is not None
                if t.result.finished_at <= horizon
            ),
            default=float("nan"),
        )


def simulate(
    method: str, ranks: int, seed: int, horizon: float | None, max_evals: int = 10**7
) -> Run:
    """Run ``method`` through the real ``run_search`` plumbing on a simulated cluster."""
    reference, scheduler, parameters = METHODS[method]
    settings = _settings(
        {
            "problem": reference,
            "search": "random",
            "max_evals": max_evals,
            "num_workers": ranks,
            "evaluator": "simulated",
            "seed": seed,
            "timeout": None,
            "eval_timeout": None,
            "search_kwargs": None,
            "scheduler": scheduler,
            "scheduler_kwargs": parameters(ranks),
            "keep_models": 0,
            "stop_grace": 0.0,
            "max_consecutive_failures": DEFAULT_MAX_CONSECUTIVE_FAILURES,
        }
    )
    evaluator = SimulatedEvaluator.for_problem(load_problem(reference), ranks, horizon=horizon)
    timers = Timers()
    with tempfile.TemporaryDirectory() as folder, timers.patched(TIMED):
        wall, cpu = time.perf_counter(), time.process_time()
        results = _search(settings, Path(folder) / "run", False, lambda: evaluator, False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    breakdown = dict(timers.seconds)
    breakdown["rest"] = wall - sum(breakdown.values())
    return Run(method, ranks, seed, results.trials, evaluator, wall, cpu, breakdown)


# -- (a) utilisation ---------------------------------------------------------------------


def measure_utilisation(args: argparse.Namespace) -> list[Run]:
    print("\n(a) Utilisation on the simulated cluster: the fraction of rank-time held by")
    print("    evaluations in [0, T], T = the synchronous bracket's length (capped);")
    print(f"    random search, seed {args.seeds[0]}, r = 1, R = 27, eta = 3.\n")
    header = (
        f"{'ranks':>6} | {'synchronous bracket':<22} | {'T (sim s)':>9} | {'ASHA':>7} | "
        f"{'sync. SH':>8} | {'RASDA':>7} | {'SH, whole bracket':>17}"
    )
    print(header + "\n" + "-" * len(header))
    runs: list[Run] = []
    seed = args.seeds[0]
    for ranks in args.ranks:
        # One whole bracket each; [0, T] of a run is what a run stopped at T would have
        # done (stopping only prevents later starts), so one ASHA and one RASDA run up to
        # the longest window serve every window.
        brackets = [simulate(SH_SMALL, ranks, seed, None)]
        if ranks <= args.max_large_bracket:
            brackets.append(simulate(SH_LARGE, ranks, seed, None))
        windows = [min(b.evaluator.now, args.max_rank_seconds / ranks) for b in brackets]
        asha = simulate("ASHA", ranks, seed, max(windows))
        rasda = simulate("RASDA", ranks, seed, max(windows))
        runs += [asha, *brackets, rasda]
        for bracket, window in zip(brackets, windows):
            size = bracket.method.split("n = ")[1]
            print(
                f"{ranks:>6} | {'n = ' + size:<22} | {window:>9.0f} | "
                f"{asha.evaluator.utilisation(window):>7.2%} | "
                f"{bracket.evaluator.utilisation(window):>8.2%} | "
                f"{rasda.evaluator.utilisation(window):>7.2%} | "
                f"{bracket.evaluator.utilisation():>8.2%} of {bracket.evaluator.now:>5.0f} s"
            )
    widest = [r for r in runs if r.ranks == max(args.ranks) and r.method == "ASHA"]
    if widest:
        value = widest[0].evaluator.utilisation(widest[0].evaluator.horizon)
        verdict = "met" if value >= TARGET_UTILISATION else "NOT met"
        print(
            f"\nASHA at {widest[0].ranks} ranks: {value:.2%} "
            f"(target >= {TARGET_UTILISATION:.0%}: {verdict})"
        )
    print("\nWhat the real driver cost, and where its wall time went (exclusive shares):")
    labels = ["journal", "results.csv", "arch hash", "checkpoints", "scheduler", "simulation"]
    header = (
        f"{'ranks':>6} | {'run':<24} | {'evals':>6} | {'wall s':>6} | {'CPU s':>6} | "
        f"{'CPU ms/eval':>11} | " + " | ".join(f"{x:>11}" for x in [*labels, "rest"])
    )
    print(header + "\n" + "-" * len(header))
    for run in runs:
        shares = [run.breakdown.get(x, 0.0) / run.wall for x in [*labels, "rest"]]
        print(
            f"{run.ranks:>6} | {run.method:<24} | {len(run.trials):>6} | {run.wall:>6.1f} | "
            f"{run.cpu:>6.1f} | {1000 * run.cpu / max(1, len(run.trials)):>11.2f} | "
            + " | ".join(f"{share:>11.1%}" for share in shares)
        )
    return runs


def _config_key(trial: Trial) -> Any:
    info = trial.config.info
    return info.get("config", trial.config.trial_id)


# -- (b) time to a target ----------------------------------------------------------------


def targets(quantiles: Sequence[float], samples: int = 4000) -> list[float]:
    """Quantiles of the final objective of random configurations trained fully."""
    loaded = load_problem(PROBLEM)
    model = SimulatedEvaluator.for_problem(loaded, 1).model
    search = RandomSearch(loaded.build_space().choices, loaded.hyperparameters, seed=12345)
    finals = sorted(
        model.best(model.train(p.arch_seq, p.hyperparameters, 0, RUNGS["max_epochs"]).values)
        or 0.0
        for p in search.ask(samples)
    )
    return [finals[min(len(finals) - 1, int(q * len(finals)))] for q in quantiles]


def measure_race(args: argparse.Namespace) -> list[Run]:
    horizon = args.race_hours * 3600
    goals = targets([0.99, 0.999])
    print(
        f"\n(b) Time to a target at {args.race_ranks} simulated ranks, {args.race_hours:g} "
        f"simulated hours each (T = {horizon:.0f} s); targets: val_accuracy >= "
        f"{goals[0]:.4f} (99th percentile of random full trainings) and >= {goals[1]:.4f} "
        "(99.9th).\n"
    )
    methods = ("random, full training", "ASHA", "RASDA")
    runs = [simulate(m, args.race_ranks, seed, horizon) for seed in args.seeds for m in methods]
    header = (
        f"{'seed':>4} | {'method':<21} | {'evals':>6} | {'to target 1 (s)':>15} | "
        f"{'to target 2 (s)':>15} | {'best at T':>9} | {'wall s':>6}"
    )
    print(header + "\n" + "-" * len(header))
    for run in runs:
        reached = [run.time_to(goal, horizon) for goal in goals]
        shown = [f"{'-' if t is None else f'{t:.0f}':>15}" for t in reached]
        print(
            f"{run.seed:>4} | {run.method:<21} | {len(run.trials):>6} | {shown[0]} | "
            f"{shown[1]} | {run.best(horizon):>9.4f} | {run.wall:>6.1f}"
        )
    print("\nMedians over seeds (a target never reached counts as T):")
    medians: dict[str, list[float]] = {}
    for method in methods:
        mine = [r for r in runs if r.method == method]
        medians[method] = [
            statistics.median(_or(r.time_to(goal, horizon), horizon) for r in mine)
            for goal in goals
        ] + [statistics.median(r.best(horizon) for r in mine)]
        times = " | ".join(f"{t:>8.0f} s" for t in medians[method][:2])
        print(f"  {method:<21} | {times} | best {medians[method][2]:.4f}")
    for index, goal in enumerate(goals):
        random_time = medians["random, full training"][index]
        asha, rasda = medians["ASHA"][index], medians["RASDA"][index]
        print(
            f"  target {goal:.4f}: ASHA {random_time / asha:.2f}x sooner than random "
            f"(target >= {TARGET_ASHA_SPEEDUP:g}x), RASDA {asha / rasda:.2f}x sooner than "
            f"ASHA (target >= {TARGET_RASDA_SPEEDUP:g}x); geometric means of the per-seed "
            f"ratios: {_ratio(runs, 'random, full training', 'ASHA', goal, horizon):.2f}x, "
            f"{_ratio(runs, 'ASHA', 'RASDA', goal, horizon):.2f}x"
        )
    better = medians["RASDA"][2] >= medians["ASHA"][2]
    print(
        f"  final objective: RASDA {medians['RASDA'][2]:.4f} vs ASHA "
        f"{medians['ASHA'][2]:.4f} ({'equal or better' if better else 'worse'})"
    )
    return runs


def _ratio(runs: Sequence[Run], slow: str, fast: str, goal: float, horizon: float) -> float:
    """Geometric mean over seeds of (time of ``slow``) / (time of ``fast``) to ``goal``."""
    times = {(r.method, r.seed): _or(r.time_to(goal, horizon), horizon) for r in runs}
    seeds = sorted({r.seed for r in runs})
    logs = [math.log(times[slow, seed] / times[fast, seed]) for seed in seeds]
    return math.exp(statistics.fmean(logs))


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


# -- (c) real runs -----------------------------------------------------------------------


def measure_real(args: argparse.Namespace) -> None:
    print(
        f"\n(c) Real runs: mpirun --oversubscribe -np {args.real_ranks + 1} (1 driver, "
        f"{args.real_ranks} training ranks), problems.breast_cancer:parallel_problem, random "
        f"search, r=1, R=9, eta=3, {args.real_evals} segments, seed {args.seeds[0]}.\n"
    )
    print(
        f"{'scheduler':<9} | {'exit':>4} | {'wall s':>6} | {'segments':>8} | "
        "best val_accuracy | per rung: segments x epochs [widths]"
    )
    for scheduler in ("asha", "rasda"):
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / scheduler
            command = [
                "mpirun",
                "--oversubscribe",
                "-np",
                str(args.real_ranks + 1),
                str(Path(sys.executable).parent / "nas-search"),
                "--evaluator",
                "mpi",
                "--problem",
                "problems.breast_cancer:parallel_problem",
                "--search",
                "random",
                "--scheduler",
                scheduler,
                "--min-epochs",
                "1",
                "--max-epochs",
                "9",
                "--reduction-factor",
                "3",
                "--max-evals",
                str(args.real_evals),
                "--seed",
                str(args.seeds[0]),
                "--keep-models",
                "0",
                "--no-progress",
                "--out",
                str(out),
            ]
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            if os.geteuid() == 0:
                env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
            started = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - started
            trials = read_journal(out).finished if (out / "journal.jsonl").exists() else []
            scores = [t.result.objective for t in trials if t.result.ok and t.result.objective]
            best = f"{max(scores):.4f}" if scores else "-"
            print(
                f"{scheduler:<9} | {done.returncode:>4} | {wall:>6.1f} | {len(trials):>8} | "
                f"{best:>17} | {_rungs(trials)}"
            )
            if done.returncode != 0:
                print(done.stderr[-2000:])


def _rungs(trials: Sequence[Trial]) -> str:
    """``segments x epochs [widths]`` of each rung, e.g. ``8x1 [1, 2]``."""
    by_rung: dict[int, list[Trial]] = defaultdict(list)
    for trial in trials:
        by_rung[int(trial.config.info.get("rung", 0))].append(trial)
    parts = []
    for rung in sorted(by_rung):
        mine = by_rung[rung]
        epochs = sorted({t.result.epochs_trained for t in mine})
        widths = sorted({t.result.num_ranks for t in mine})
        parts.append(f"{len(mine)}x{'/'.join(map(str, epochs))} {widths}")
    return ", ".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[64, 256, 4096])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--max-rank-seconds",
        type=float,
        default=1.6e6,
        help="(a): T is at most this over the ranks (bounds ASHA's events at 4,096 ranks)",
    )
    parser.add_argument(
        "--max-large-bracket",
        type=int,
        default=64,
        help="(a): the n = 27 x ranks bracket only up to this many ranks",
    )
    parser.add_argument("--race-ranks", type=int, default=64)
    parser.add_argument("--race-hours", type=float, default=3.0)
    parser.add_argument("--real-ranks", type=int, default=4)
    parser.add_argument("--real-evals", type=int, default=12)
    parser.add_argument("--skip", nargs="*", default=[], choices=["a", "b", "c"])
    args = parser.parse_args(argv)
    started = time.perf_counter()
    for reference in (PROBLEM, RASDA_PROBLEM):
        load_problem(reference).build_space()  # Keras loads once: not the driver's time
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()}")
    if "a" not in args.skip:
        measure_utilisation(args)
    if "b" not in args.skip:
        measure_race(args)
    if "c" not in args.skip:
        measure_real(args)
    print(f"\ntotal {time.perf_counter() - started:.0f} s, load {os.getloadavg()}")


if __name__ == "__main__":
    main()
