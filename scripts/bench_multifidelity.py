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
  where its time went: the scheduler and search (the calls the driver makes to the
  scheduler), the simulation itself (the evaluator's submit and collect), and the rest,
  the driver's own (journal, results.csv, architecture hashes, checkpoint bookkeeping).
* **(b) time to a target.** At ``--race-ranks`` ranks, for every seed, random search
  with full training, ASHA and RASDA: the simulated time at which an evaluation first
  reaches each target objective. The targets are the 99th, 99.5th, 99.9th and 99.95th
  percentiles of the final objective of ``--target-samples`` random configurations
  trained fully on the same synthetic landscape: the harder the target, the more
  configurations random search must train in full, so the speed-up of a
  multi-fidelity scheduler grows with the target's difficulty (for an easy one, a
  lucky draw of random search's first wave competes with the scheduler's promotion
  chain). A run stops starting evaluations once one reached the hardest target and
  ``T`` (``--final-hours``) had passed, or at the budget ``B`` (``--race-hours``); the
  prefix of a run does not depend on when it stops. Reported per target: the median
  time per method (a target not reached by ``B`` counts as ``B``, and the number of
  such seeds is shown), the speed-ups ASHA vs random and RASDA vs ASHA as ratios of the
  medians with a paired bootstrap interval over seeds; and the best objective at the
  common time ``T``, for "at equal or better final objective". RASDA and ASHA start the
  same configurations for a seed (RASDA owns ``num_ranks``: the search does not search
  it), so the comparison is paired. Settings (``--race-settings R[:B_crit]``): ``R =
  27`` is the main one; ``R = 81`` (a fifth rung, the same landscape trained 3 times
  longer, ``B`` and ``T`` scaled by 3) the second; the third is ``R = 27`` with a
  critical batch size of 32,768 instead of 4,096, where RASDA's larger global batches
  cost little data efficiency (large datasets, the paper's regime).
* **(c) real runs.** ASHA and RASDA under ``mpirun --oversubscribe`` (1 driver rank and
  ``--real-ranks`` training ranks) on the breast-cancer space with ``R = 9`` (ASHA on one
  rank per configuration, RASDA on 1, 2, 4), each over the same
  ``--real-configurations`` configurations (``--max-configurations``) until it ends by
  itself: wall time, segments per rung and widths, the best validation accuracy.
* **(d) a fixed set of configurations,** the RASDA paper's measure, on the simulated
  cluster: ASHA and RASDA over the same ``--configurations`` configurations per seed
  until nothing is left to promote, for each setting of (b): the runtime and the best
  objective, paired over seeds.

The problem of (a) and (b) is defined here: the breast-cancer space with 27 epochs (``r =
1``, ``R = 27``, ``η = 3``: rungs at 1, 3, 9, 27 epochs) and one rank per configuration;
RASDA's copy declares ``num_ranks`` 1, 2, 4, 8 so that it can widen (1, 2, 4, 8 ranks at
rungs 0-3; at ``R = 81`` 1-16 ranks at rungs 0-4). Its data are never loaded: nothing
trains.

Run: ``PYTHONPATH=. .venv/bin/python scripts/bench_multifidelity.py [--ranks 64 256 4096]
[--seeds 0 1 ... 19] [--race-ranks 64] [--race-hours 48] [--final-hours 6]
[--race-settings 27 81 27:32768] [--target-samples 50000] [--per-seed] [--configurations 64]
[--real-ranks 4] [--real-configurations 9] [--skip a b c d]``
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from nas import Callback, Study  # noqa: E402
from nas.driver import read_journal  # noqa: E402
from nas.evaluate import SimulatedEvaluator, SyntheticTraining  # noqa: E402
from nas.problem import Categorical, Float, Int, Problem, load_problem  # noqa: E402
from nas.search import RandomSearch  # noqa: E402
from nas.trial import Trial  # noqa: E402
from problems.breast_cancer import _problem as breast_cancer_problem  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HYPERPARAMETERS: dict[str, Any] = {
    "batch_size": Int(16, 128, log=True),
    "learning_rate": Float(1e-4, 1e-1, log=True),
    "optimizer": Categorical(["adam", "rmsprop", "adamw"]),
    "epochs": 27,
}


def _problem(name: str, hyperparameters: dict[str, Any]) -> Problem:
    """The breast-cancer problem (data, space, objective) with these hyperparameters."""
    return breast_cancer_problem(
        name, hyperparameters, "Breast cancer, the multi-fidelity benchmark's settings."
    )


#: One rank per configuration: random search, ASHA and successive halving.
problem = _problem("multifidelity_27", HYPERPARAMETERS)
#: RASDA's: the widths it may give a configuration (it ignores the proposed one).
rasda_problem = _problem(
    "multifidelity_27_widths", {**HYPERPARAMETERS, "num_ranks": Categorical([1, 2, 4, 8])}
)
#: (b)'s second setting, R = 81 (rungs at 1, 3, 9, 27, 81 epochs): the same landscape
#: trained 3 times longer; RASDA's widths keep doubling to its fifth rung (16 ranks).
problem_81 = _problem("multifidelity_81", {**HYPERPARAMETERS, "epochs": 81})
rasda_problem_81 = _problem(
    "multifidelity_81_widths",
    {**HYPERPARAMETERS, "epochs": 81, "num_ranks": Categorical([1, 2, 4, 8, 16])},
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


class TimedSimulatedEvaluator(SimulatedEvaluator):
    """The simulated cluster, adding the wall time of its ``submit`` and ``collect``
    (the simulation itself) to :attr:`simulation_seconds`."""

    simulation_seconds = 0.0

    def submit(self, config: Any) -> None:
        start = time.perf_counter()
        try:
            super().submit(config)
        finally:
            self.simulation_seconds += time.perf_counter() - start

    def collect(self, timeout: float | None = None) -> list[Trial]:
        start = time.perf_counter()
        try:
            return super().collect(timeout)
        finally:
            self.simulation_seconds += time.perf_counter() - start


class SchedulerTimer(Callback):
    """A study's callback timing the calls the driver makes to the study's scheduler
    (and, through it, to the search): its public methods, wrapped on that one object
    once the study has made it."""

    #: The scheduler's methods the driver calls.
    CALLS = (
        "ask",
        "tell",
        "running",
        "live_checkpoints",
        "released_checkpoints",
        "notes",
        "get_state",
    )

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0  # a method calling another (through self) counts once

    def on_search_start(self, study: Study) -> None:
        for name in self.CALLS:
            setattr(study.scheduler, name, self._timed(getattr(study.scheduler, name)))

    def _timed(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            self._depth += 1
            try:
                return method(*args, **kwargs)
            finally:
                self._depth -= 1
                if not self._depth:
                    self.seconds += time.perf_counter() - start

        return timed


#: Where the driver's wall time goes: the parts measured, then the rest (the driver's).
BREAKDOWN = ("scheduler", "simulation", "driver")


@dataclass
class Run:
    """One simulated search: its trials, its evaluator, and what it cost for real."""

    method: str
    ranks: int
    seed: int
    trials: list[Trial]
    evaluator: TimedSimulatedEvaluator
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
    method: str,
    ranks: int,
    seed: int,
    horizon: float | None,
    max_evals: int = 10**7,
    *,
    spec: tuple[str, str, dict[str, Any]] | None = None,
    evaluator: TimedSimulatedEvaluator | None = None,
) -> Run:
    """Run ``method`` as a :class:`nas.Study` (random search, by name, as ``nas-search``
    makes it) on a simulated cluster.

    ``spec`` (problem, scheduler, its parameters) replaces ``METHODS[method]``, and
    ``evaluator`` the evaluator made here (``horizon`` is then its business).
    """
    if spec is None:
        reference, scheduler, make_parameters = METHODS[method]
        parameters = make_parameters(ranks)
    else:
        reference, scheduler, parameters = spec
    if evaluator is None:
        evaluator = TimedSimulatedEvaluator.for_problem(
            load_problem(reference), ranks, horizon=horizon
        )
    scheduler_timer = SchedulerTimer()
    with tempfile.TemporaryDirectory() as folder:
        study = Study(
            reference,
            Path(folder) / "run",
            "random",
            max_evals,
            scheduler=scheduler,
            scheduler_options=parameters,
            evaluator=evaluator,
            num_workers=ranks,
            seed=seed,
            keep_models=0,
            stop_grace=0.0,
            callbacks=[scheduler_timer],
            progress=False,
        )
        wall, cpu = time.perf_counter(), time.process_time()
        results = study.run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    breakdown = {"scheduler": scheduler_timer.seconds, "simulation": evaluator.simulation_seconds}
    breakdown["driver"] = wall - sum(breakdown.values())
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
    print(
        "\nWhat the real driver cost, and where its wall time went (shares: the calls to the"
        "\nscheduler and search, the simulation's submit and collect, and the rest, the"
        "\ndriver's own: journal, results.csv, architecture hashes, checkpoint bookkeeping):"
    )
    header = (
        f"{'ranks':>6} | {'run':<24} | {'evals':>6} | {'wall s':>6} | {'CPU s':>6} | "
        f"{'CPU ms/eval':>11} | " + " | ".join(f"{x:>11}" for x in BREAKDOWN)
    )
    print(header + "\n" + "-" * len(header))
    for run in runs:
        shares = [run.breakdown.get(x, 0.0) / run.wall for x in BREAKDOWN]
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

RACE_METHODS = ("random, full training", "ASHA", "RASDA")
#: The targets: these quantiles of the final objective of random full trainings.
QUANTILES = (0.99, 0.995, 0.999, 0.9995)
#: The synthetic model's critical batch size (McCandlish et al. 2018): an epoch at global
#: batch B is worth 1 / (1 + B / B_crit) epochs of progress.
DEFAULT_CRITICAL_BATCH = SyntheticTraining().critical_batch_size
#: (b)'s settings, ``R[:B_crit]``: the main one, R = 81, and R = 27 where large batches
#: cost little (a large dataset's critical batch, the paper's regime).
DEFAULT_RACE_SETTINGS = ("27", "81", "27:32768")
#: Bootstrap of the ratios and differences: resamples, the interval's probability.
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_INTERVAL = 0.9


def race_setting(text: str) -> tuple[int, float]:
    """``"27"`` or ``"27:32768"``: (R, critical batch size) of one setting of (b)."""
    epochs, _, critical = text.partition(":")
    try:
        setting = int(epochs), float(critical) if critical else DEFAULT_CRITICAL_BATCH
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected R or R:B_CRIT, got {text!r}") from None
    if setting[0] not in (27, 81) or not setting[1] > 0:
        raise argparse.ArgumentTypeError(
            f"expected R of 27 or 81 and a positive critical batch size, got {text!r}"
        )
    return setting


def race_methods(max_epochs: int) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """(b)'s methods for ``R = max_epochs`` (27 or 81): name -> (problem, scheduler, its
    parameters)."""
    suffix = "" if max_epochs == RUNGS["max_epochs"] else f"_{max_epochs}"
    plain, widened = f"{PROBLEM}{suffix}", f"{RASDA_PROBLEM}{suffix}"
    rungs = {**RUNGS, "max_epochs": max_epochs}
    return {
        "random, full training": (plain, "none", {}),
        "ASHA": (plain, "asha", rungs),
        "RASDA": (widened, "rasda", rungs),
    }


class RaceEvaluator(TimedSimulatedEvaluator):
    """A simulated cluster that stops starting evaluations once one reaches ``stop_at``
    (no sooner than ``not_before`` simulated seconds): the prefix of the run is the
    same as without the stop, which only saves the simulation's time."""

    stop_at: float | None = None
    not_before: float = 0.0

    def collect(self, timeout: float | None = None) -> list[Trial]:
        finished = super().collect(timeout)
        if self.stop_at is not None and any(_score(t) >= self.stop_at for t in finished):
            stop = max(self.now, self.not_before)
            self.horizon = stop if self.horizon is None else min(self.horizon, stop)
            self.stop_at = None
        return finished


def _score(trial: Trial) -> float:
    result = trial.result
    return result.objective if result.ok and result.objective is not None else -math.inf


def targets(
    quantiles: Sequence[float],
    samples: int = 50000,
    max_epochs: int = RUNGS["max_epochs"],
    critical_batch_size: float = DEFAULT_CRITICAL_BATCH,
) -> list[float]:
    """Quantiles of the final objective of random configurations trained fully."""
    loaded = load_problem(PROBLEM)
    model = SimulatedEvaluator.for_problem(
        loaded, 1, critical_batch_size=critical_batch_size
    ).model
    search = RandomSearch(loaded.build_space().choices, loaded.hyperparameters, seed=12345)
    finals = sorted(
        model.best(model.train(p.arch_seq, p.hyperparameters, 0, max_epochs).values) or 0.0
        for p in search.ask(samples)
    )
    return [finals[min(len(finals) - 1, int(q * len(finals)))] for q in quantiles]


@dataclass
class RaceRun:
    """What (b) keeps of a run: its size, and each evaluation that beat every one that
    finished before it (in the order they finished), which is enough to answer when a
    target was first reached and what was best by a time; not its ~10,000 trials."""

    method: str
    seed: int
    evaluations: int
    stopped_at: float
    wall: float
    records: list[tuple[float, float]]  # (finished_at, objective), objective increasing

    @classmethod
    def of(cls, run: Run) -> RaceRun:
        records: list[tuple[float, float]] = []
        for trial in sorted(run.trials, key=lambda t: t.result.finished_at):
            score = _score(trial)
            if score > (records[-1][1] if records else -math.inf):
                records.append((trial.result.finished_at, score))
        return cls(run.method, run.seed, len(run.trials), run.evaluator.now, run.wall, records)

    def time_to(self, target: float, horizon: float) -> float | None:
        """Simulated seconds until an evaluation first reached ``target`` (by ``horizon``)."""
        when = next((at for at, score in self.records if score >= target), None)
        return when if when is not None and when <= horizon else None

    def best(self, horizon: float) -> float:
        """The best objective of the evaluations finished by ``horizon``."""
        return max((score for at, score in self.records if at <= horizon), default=math.nan)


@dataclass
class Race:
    """One setting of (b): its targets, budget, common time ``final`` and runs."""

    max_epochs: int
    critical_batch_size: float
    goals: list[float]
    budget: float
    final: float
    runs: list[RaceRun]

    def times(self, method: str, goal: float) -> list[float | None]:
        """Per seed, the time ``method`` first reached ``goal`` (None: not by the budget)."""
        return [r.time_to(goal, self.budget) for r in self.runs if r.method == method]

    def bests(self, method: str) -> list[float]:
        return [r.best(self.final) for r in self.runs if r.method == method]


def measure_race(args: argparse.Namespace) -> list[Race]:
    races = []
    for max_epochs, critical_batch in args.race_settings:
        scale = max_epochs / RUNGS["max_epochs"]
        budget, final = 3600 * args.race_hours * scale, 3600 * args.final_hours * scale
        goals = targets(QUANTILES, args.target_samples, max_epochs, critical_batch)
        print(
            f"\n(b) Time to a target, R = {max_epochs} (r = 1, eta = 3), critical batch size "
            f"{critical_batch:,.0f}, "
            f"{args.race_ranks} simulated ranks, seeds {_seed_range(args.seeds)}. Targets: "
            f"the {', '.join(f'{q:.2%}' for q in QUANTILES)} quantiles of the final "
            f"val_accuracy of {args.target_samples:,} random full trainings: "
            f"{', '.join(f'{g:.4f}' for g in goals)}. A run stops starting evaluations "
            f"once it reached the hardest target and T = {final:,.0f} s had passed, or "
            f"at the budget B = {budget:,.0f} s ({budget / 3600:g} h).\n"
        )
        methods = race_methods(max_epochs)
        runs = []
        for seed in args.seeds:
            for method in RACE_METHODS:
                evaluator = RaceEvaluator.for_problem(
                    load_problem(methods[method][0]),
                    args.race_ranks,
                    horizon=budget,
                    critical_batch_size=critical_batch,
                )
                evaluator.stop_at, evaluator.not_before = goals[-1], final
                run = simulate(
                    method,
                    args.race_ranks,
                    seed,
                    budget,
                    spec=methods[method],
                    evaluator=evaluator,
                )
                runs.append(RaceRun.of(run))
        race = Race(max_epochs, critical_batch, goals, budget, final, runs)
        if args.per_seed:
            _print_per_seed(race)
        _print_race(race)
        races.append(race)
    return races


# -- (d) a fixed set of configurations: the paper's measure --------------------------


def measure_fixed_set(args: argparse.Namespace) -> None:
    """ASHA and RASDA over ``--configurations`` configurations each (the same ones for a
    seed), until the search ends by itself: its simulated runtime and best objective."""
    n = args.configurations
    print(
        f"\n(d) A fixed set of {n} configurations (--max-configurations {n}), the RASDA "
        f"paper's measure: ASHA and RASDA start the same {n} configurations for a seed "
        "and run until nothing is left to promote. Runtime: the simulated time at which "
        "the search ended; best: the best val_accuracy of any evaluation. "
        f"{args.race_ranks} simulated ranks, seeds {_seed_range(args.seeds)}; medians "
        f"with {BOOTSTRAP_INTERVAL:.0%} paired bootstrap intervals.\n"
    )
    print(
        "| R | critical batch | runtime ASHA | runtime RASDA | RASDA vs ASHA (target ≥ "
        f"{TARGET_RASDA_SPEEDUP:g}×) | best ASHA | best RASDA | RASDA − ASHA | "
        "RASDA ≥ ASHA (seeds) | segments ASHA / RASDA |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rng = random.Random(0)
    started = time.perf_counter()
    for max_epochs, critical_batch in args.race_settings:
        methods = race_methods(max_epochs)
        runtimes: dict[str, list[float]] = defaultdict(list)
        bests: dict[str, list[float]] = defaultdict(list)
        segments: dict[str, list[int]] = defaultdict(list)
        for seed in args.seeds:
            for method in ("ASHA", "RASDA"):
                reference, scheduler, rungs = methods[method]
                evaluator = TimedSimulatedEvaluator.for_problem(
                    load_problem(reference), args.race_ranks, critical_batch_size=critical_batch
                )
                budget = 20 * n  # far more segments than n configurations can take
                spec = (reference, scheduler, {**rungs, "max_configurations": n})
                run = simulate(
                    method, args.race_ranks, seed, None, budget, spec=spec, evaluator=evaluator
                )
                assert len(run.trials) < budget, "the search must end by itself"
                runtimes[method].append(evaluator.now)
                bests[method].append(run.best(math.inf))
                segments[method].append(len(run.trials))
        ratio = _speedup(runtimes["ASHA"], runtimes["RASDA"], math.inf, rng)
        pairs = list(zip(bests["ASHA"], bests["RASDA"]))
        low, high = _bootstrap(pairs, _median_gain, rng)
        gain = _median_gain(pairs)
        print(
            f"| {max_epochs} | {critical_batch:,.0f} | "
            f"{statistics.median(runtimes['ASHA']):,.0f} s | "
            f"{statistics.median(runtimes['RASDA']):,.0f} s | {ratio} | "
            f"{statistics.median(bests['ASHA']):.4f} | {statistics.median(bests['RASDA']):.4f} | "
            f"{gain:+.4f} [{low:+.4f}, {high:+.4f}] | "
            f"{sum(b >= a for a, b in pairs)} of {len(pairs)} | "
            f"{statistics.median(segments['ASHA']):.0f} / "
            f"{statistics.median(segments['RASDA']):.0f} |"
        )
    print(f"\nthe simulations' wall time: {time.perf_counter() - started:.0f} s")


def _print_per_seed(race: Race) -> None:
    columns = " | ".join(f"to {g:.4f} (s)" for g in race.goals)
    print(f"| seed | method | evaluations | stopped at (s) | {columns} | best at T |")
    print("|---:|---|---:|---:|" + "---:|" * len(race.goals) + "---:|")
    for run in race.runs:
        reached = [run.time_to(goal, race.budget) for goal in race.goals]
        shown = " | ".join("–" if t is None else f"{t:,.0f}" for t in reached)
        print(
            f"| {run.seed} | {run.method} | {run.evaluations:,} | {run.stopped_at:,.0f} | "
            f"{shown} | {run.best(race.final):.4f} |"
        )
    print()


def _print_race(race: Race) -> None:
    n = len({r.seed for r in race.runs})
    print(
        f"Median time to each target over {n} seeds (a target not reached by B counts as B: "
        "'≥' where that decides the median), seeds that did not reach it, and the speed-ups "
        f"as ratios of medians with a {BOOTSTRAP_INTERVAL:.0%} paired bootstrap interval "
        f"over seeds ({BOOTSTRAP_SAMPLES} resamples):\n"
    )
    print(
        "| target (quantile) | random, full training | ASHA | RASDA | ASHA vs random "
        f"(target ≥ {TARGET_ASHA_SPEEDUP:g}×) | RASDA vs ASHA (target ≥ "
        f"{TARGET_RASDA_SPEEDUP:g}×) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    rng = random.Random(0)
    for quantile, goal in zip(QUANTILES, race.goals):
        times = {m: race.times(m, goal) for m in RACE_METHODS}
        cells = [_median_cell(times[m], race.budget) for m in RACE_METHODS]
        asha = _speedup(times["random, full training"], times["ASHA"], race.budget, rng)
        rasda = _speedup(times["ASHA"], times["RASDA"], race.budget, rng)
        print(f"| {goal:.4f} ({quantile:.2%}) | {' | '.join(cells)} | {asha} | {rasda} |")
    bests = {m: race.bests(m) for m in RACE_METHODS}
    pairs = list(zip(bests["ASHA"], bests["RASDA"]))
    differences = [b - a for a, b in pairs]
    low, high = _bootstrap(pairs, _median_gain, rng)
    print(
        f"\nBest val_accuracy at T = {race.final:,.0f} s (median over seeds [min, max]): "
        + ", ".join(
            f"{m} {statistics.median(bests[m]):.4f} [{min(bests[m]):.4f}, {max(bests[m]):.4f}]"
            for m in RACE_METHODS
        )
    )
    gain = _median_gain(pairs)
    better = gain >= 0
    print(
        f"RASDA - ASHA: {gain:+.4f} by the medians ({BOOTSTRAP_INTERVAL:.0%} interval "
        f"{low:+.4f} to {high:+.4f}); "
        f"median of the per-seed differences {statistics.median(differences):+.4f}; RASDA "
        f"equal or better in {sum(d >= 0 for d in differences)} of {len(differences)} seeds "
        f"({'equal or better' if better else 'worse'} by the medians)"
    )
    print(
        "Evaluations per run (median): "
        + ", ".join(
            f"{m} {statistics.median(r.evaluations for r in race.runs if r.method == m):,.0f}"
            for m in RACE_METHODS
        )
        + f"; the simulation's wall time: {sum(r.wall for r in race.runs):.0f} s"
    )


def _censored(values: Sequence[float | None], budget: float) -> list[float]:
    return [budget if v is None else v for v in values]


def _median_is_censored(values: Sequence[float | None]) -> bool:
    """Whether a run that did not reach the target decides the median (then the median
    is a lower bound)."""
    ordered = sorted(values, key=lambda v: math.inf if v is None else v)
    return None in ordered[(len(ordered) - 1) // 2 : len(ordered) // 2 + 1]


def _median_cell(values: Sequence[float | None], budget: float) -> str:
    """``1,291 s`` or ``≥ 172,800 s``, with how many seeds did not reach the target."""
    value = statistics.median(_censored(values, budget))
    missed = sum(v is None for v in values)
    shown = f"{'≥ ' if _median_is_censored(values) else ''}{value:,.0f} s"
    return shown + (f" ({missed} not reached)" if missed else "")


def _speedup(
    slow: Sequence[float | None], fast: Sequence[float | None], budget: float, rng: random.Random
) -> str:
    """median(slow) / median(fast), censored at the budget, with a bootstrap interval;
    ``≥``/``≤`` where a censored median makes it a bound (``?``: both are)."""
    pairs = list(zip(_censored(slow, budget), _censored(fast, budget)))

    def ratio(sample: Sequence[tuple[float, float]]) -> float:
        return statistics.median(s for s, _ in sample) / statistics.median(f for _, f in sample)

    low, high = _bootstrap(pairs, ratio, rng)
    bound = {(False, False): "", (True, False): "≥ ", (False, True): "≤ ", (True, True): "? "}[
        _median_is_censored(slow), _median_is_censored(fast)
    ]
    return f"{bound}{ratio(pairs):.2f}× [{low:.2f}, {high:.2f}]"


def _bootstrap(
    pairs: Sequence[tuple[float, float]],
    statistic: Callable[[Sequence[tuple[float, float]]], float],
    rng: random.Random,
) -> tuple[float, float]:
    """The central ``BOOTSTRAP_INTERVAL`` of ``statistic`` over seeds resampled with
    replacement (the pairs stay together: the methods of one seed share its draws)."""
    values = sorted(statistic(rng.choices(pairs, k=len(pairs))) for _ in range(BOOTSTRAP_SAMPLES))
    tail = (1 - BOOTSTRAP_INTERVAL) / 2
    return values[int(tail * len(values))], values[int((1 - tail) * len(values)) - 1]


def _median_gain(pairs: Sequence[tuple[float, float]]) -> float:
    """median(second) - median(first) over ``(first, second)`` pairs, e.g. (ASHA, RASDA)."""
    return statistics.median(b for _, b in pairs) - statistics.median(a for a, _ in pairs)


def _seed_range(seeds: Sequence[int]) -> str:
    ordered = sorted(seeds)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        return f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(map(str, ordered))


# -- (c) real runs -----------------------------------------------------------------------


#: (c)'s problems: ASHA's trains every configuration on one rank; RASDA's declares the
#: widths 1, 2, 4 so that it can widen to the training ranks there are (the same space and
#: hyperparameters otherwise, so that one seed draws the same configurations for both).
real_problem = _problem("multifidelity_real", {**HYPERPARAMETERS, "epochs": 9})
real_rasda_problem = _problem(
    "multifidelity_real_widths",
    {**HYPERPARAMETERS, "epochs": 9, "num_ranks": Categorical([1, 2, 4])},
)
REAL_PROBLEMS = {
    "asha": f"{Path(__file__).stem}:real_problem",
    "rasda": f"{Path(__file__).stem}:real_rasda_problem",
}


def measure_real(args: argparse.Namespace) -> None:
    n = args.real_configurations
    print(
        f"\n(c) Real runs: mpirun --oversubscribe -np {args.real_ranks + 1} (1 driver, "
        f"{args.real_ranks} training ranks), the breast-cancer space, random search, "
        f"r=1, R=9, eta=3, --max-configurations {n} (each run ends by itself), seed "
        f"{args.seeds[0]}; ASHA on 1 rank per configuration, RASDA on 1, 2, 4.\n"
    )
    print(
        f"{'scheduler':<9} | {'exit':>4} | {'wall s':>6} | {'segments':>8} | "
        "best val_accuracy | per rung: segments x epochs [widths]"
    )
    started: dict[str, set[str]] = {}
    for scheduler, problem_reference in REAL_PROBLEMS.items():
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
                problem_reference,
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
                "--max-configurations",
                str(n),
                "--max-evals",
                str(10 * n),  # far above what n configurations take: they end it
                "--seed",
                str(args.seeds[0]),
                "--keep-models",
                "0",
                "--no-progress",
                "--out",
                str(out),
            ]
            env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'scripts'}"}
            if os.geteuid() == 0:
                env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
            began = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - began
            trials = read_journal(out).finished if (out / "journal.jsonl").exists() else []
            scores = [t.result.objective for t in trials if t.result.ok and t.result.objective]
            best = f"{max(scores):.4f}" if scores else "-"
            print(
                f"{scheduler:<9} | {done.returncode:>4} | {wall:>6.1f} | {len(trials):>8} | "
                f"{best:>17} | {_rungs(trials)}"
            )
            if done.returncode != 0:
                print(done.stderr[-2000:])
            started[scheduler] = {
                repr((t.config.arch_seq, _without_width(t.config.hyperparameters)))
                for t in trials
                if t.config.info.get("rung") == 0
            }
    same = started["asha"] == started["rasda"] and len(started["asha"]) == n
    print(f"\nthe same {n} configurations started by both: {'yes' if same else 'no'}")


def _without_width(hyperparameters: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sorted(hyperparameters.items()) if k != "num_ranks"}


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
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(range(20)),
        help="(b) runs every seed; (a) and (c) the first",
    )
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
    parser.add_argument(
        "--race-hours",
        type=float,
        default=48.0,
        help="(b): the budget B of simulated hours per run at R = 27 (times R / 27 at other R)",
    )
    parser.add_argument(
        "--final-hours",
        type=float,
        default=6.0,
        help="(b): T, the common time of the best objective (times R / 27 at other R)",
    )
    parser.add_argument(
        "--race-settings",
        type=race_setting,
        nargs="+",
        default=[race_setting(text) for text in DEFAULT_RACE_SETTINGS],
        metavar="R[:B_CRIT]",
        help="(b): each setting's R (27: rungs 1, 3, 9, 27; 81: rungs 1, 3, 9, 27, 81) and "
        f"critical batch size (default {DEFAULT_CRITICAL_BATCH:g}); default: "
        + " ".join(DEFAULT_RACE_SETTINGS),
    )
    parser.add_argument(
        "--target-samples",
        type=int,
        default=50000,
        help="(b): random full trainings whose quantiles are the targets",
    )
    parser.add_argument("--per-seed", action="store_true", help="(b): print every run")
    parser.add_argument(
        "--configurations",
        type=int,
        default=64,
        help="(d): the configurations of each fixed-set search (the paper's measure)",
    )
    parser.add_argument("--real-ranks", type=int, default=4)
    parser.add_argument(
        "--real-configurations",
        type=int,
        default=9,
        help="(c): configurations of each real run (--max-configurations)",
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=["a", "b", "c", "d"])
    args = parser.parse_args(argv)
    started = time.perf_counter()
    for reference in (PROBLEM, RASDA_PROBLEM):
        load_problem(reference).build_space()  # Keras loads once: not the driver's time
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()}")
    if "a" not in args.skip:
        measure_utilisation(args)
    if "b" not in args.skip:
        measure_race(args)
    if "d" not in args.skip:
        measure_fixed_set(args)
    if "c" not in args.skip:
        measure_real(args)
    print(f"\ntotal {time.perf_counter() - started:.0f} s, load {os.getloadavg()}")


if __name__ == "__main__":
    main()
