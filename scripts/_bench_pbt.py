"""Population-based training of the learning rate against fixed learning rates, at equal
compute: the PBT part of ``scripts/bench_early_stopping.py``, which imports it.

The problem is the shipped breast-cancer one (``problems.breast_cancer``: its data,
space, hyperparameters and objective) without early stopping (``patience`` 0 instead of
3), so that every method trains exactly the epochs it is given: equal compute, at most
``population x epochs`` epochs each (PBT spends fewer when a member copies one ahead).

For one seed, the same ``population`` configurations (random search's first proposals:
architecture, batch size, optimizer, learning rate) start from the same initial weights
(the same trial ids, hence the same training seeds) and train for the problem's epochs:

* ``pbt``: population-based training of their learning rates (``--scheduler pbt``,
  its defaults but ``interval``);
* ``fixed (sampled)``: each trains once, fully, with its own sampled learning rate;
* ``fixed (default)``: each trains once, fully, with the problem's default learning rate.

Each row gives the training epochs spent (the compute), the best objective any epoch
reached, and the mean and best over members of the objective at their last epoch (what
the population ends with). Run it alone for a table::

    PYTHONPATH=. .venv/bin/python scripts/_bench_pbt.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _harness import Stopwatch, largest_value
from _harness import format_table as text_table

from nas import Study
from nas.evaluate import Evaluator, ProcessPoolEvaluator
from nas.problem import Problem, load_problem
from nas.schedule import PopulationBasedTraining, lineage
from nas.search import Proposal, RandomSearch, Search
from nas.trial import Trial
from problems.breast_cancer import HYPERPARAMETERS, load_data

#: Workers import the problem by this name: this folder must be on their path (spawned
#: workers inherit the parent's, which has it when a script of this folder runs).
PROBLEM = "_bench_pbt:problem"

#: The shipped breast-cancer problem without early stopping.
problem = Problem(
    "breast_cancer_without_patience",
    load_data,
    "spaces.dense_skip:dense_skip_space",
    space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 5},
    hyperparameters={**HYPERPARAMETERS, "patience": 0},
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    objective="val_accuracy",
    direction="max",
)
METHODS = ("pbt", "fixed (sampled)", "fixed (default)")


class GivenProposals(Search):
    """Proposes a given list of configurations, in order, then nothing (the search ends)."""

    def __init__(self, proposals: Sequence[Proposal], problem: Problem) -> None:
        super().__init__(problem.build_space().choices, problem.hyperparameters)
        self.proposals = list(proposals)

    def ask(self, n: int = 1) -> list[Proposal]:
        taken, self.proposals = self.proposals[:n], self.proposals[n:]
        return taken

    def options(self) -> dict[str, Any]:
        # What a study records to make it again on resume: these runs are never resumed.
        return {}


def pbt_vs_fixed(
    seed: int,
    *,
    problem: str = PROBLEM,
    population: int = 8,
    interval: int = 2,
    workers: int = 2,
    evaluator: Evaluator | None = None,
    directory: str | Path | None = None,
) -> list[dict[str, Any]]:
    """One row per method (:data:`METHODS`) for ``seed``; see the module's notes.

    Args:
        seed: seeds the proposals, the trainings and PBT's own draws.
        problem: a problem as ``"module:attribute"`` with a ``Float`` learning rate.
        population: members (and configurations of the fixed baselines).
        interval: PBT's epochs between exploit/explore steps.
        workers: worker processes, when no ``evaluator`` is given.
        evaluator: an open evaluator of ``problem`` to reuse (its workers keep
            TensorFlow imported between calls).
        directory: where the three searches write (default: a temporary folder).

    Returns:
        Rows with ``method``, ``seed``, ``evaluations``, ``epochs``, ``best`` (the best
        objective of any epoch), ``final_mean`` and ``final_best`` (over members, the
        objective at their last epoch), ``copies`` (PBT's exploit steps) and ``seconds``.
    """
    loaded = load_problem(problem)
    proposals = RandomSearch(loaded.build_space().choices, loaded.hyperparameters, seed=seed).ask(
        population
    )
    default_rate = loaded.hyperparameters["learning_rate"].default()
    with_default = [
        Proposal(p.arch_seq, {**p.hyperparameters, "learning_rate": default_rate})
        for p in proposals
    ]
    max_epochs = largest_value(loaded.hyperparameters["epochs"])
    own = evaluator is None
    pool = ProcessPoolEvaluator(problem, workers) if own else evaluator
    rows = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            base = Path(directory or scratch)
            for method in METHODS:
                scheduler: PopulationBasedTraining | None = None
                if method == "pbt":
                    search = GivenProposals(proposals, loaded)
                    scheduler = PopulationBasedTraining(
                        search, max_epochs, population=population, interval=interval, seed=seed
                    )
                    budget = population * -(-max_epochs // interval)
                else:
                    chosen = proposals if method == "fixed (sampled)" else with_default
                    search, budget = GivenProposals(chosen, loaded), population
                stopwatch = Stopwatch()
                study = Study(
                    loaded,
                    base / f"seed{seed}_{method.split()[-1].strip('()')}",
                    search,
                    budget,
                    scheduler=scheduler,
                    evaluator=pool,
                    seed=seed,
                    keep_models=0,
                    callbacks=[stopwatch],
                    if_exists="overwrite",
                    progress=False,
                )
                trials = study.run().trials
                rows.append(_row(method, seed, trials, loaded, stopwatch.wall))
    finally:
        if own:
            pool.close()
    return rows


def _row(
    method: str, seed: int, trials: list[Trial], problem: Problem, seconds: float
) -> dict[str, Any]:
    better = max if problem.direction == "max" else min
    values = [trial.result.objective for trial in trials if trial.result.ok]
    values = [value for value in values if value is not None]
    finals = [_final(steps[-1].curve) for steps in lineage(trials, problem.objective).values()]
    if method != "pbt":  # one training per member
        finals = [_final(t.result.learning_curve.get(problem.objective, [])) for t in trials]
    finals = [value for value in finals if value is not None]
    copies = sum(trial.config.info.get("pbt", {}).get("action") == "exploit" for trial in trials)
    return {
        "method": method,
        "seed": seed,
        "evaluations": len(trials),
        "failed": sum(not trial.result.ok for trial in trials),
        "epochs": sum(trial.result.epochs_trained for trial in trials),
        "best": better(values) if values else None,
        "final_mean": statistics.fmean(finals) if finals else None,
        "final_best": better(finals) if finals else None,
        "copies": copies,
        "seconds": round(seconds, 1),
    }


def _final(curve: Sequence[float | None]) -> float | None:
    return curve[-1] if curve else None


#: Columns of the table and how each is written.
_COLUMNS = {
    "method": "{}",
    "seed": "{}",
    "evaluations": "{:.0f}",
    "epochs": "{:.0f}",
    "best": "{:.4f}",
    "final_mean": "{:.4f}",
    "final_best": "{:.4f}",
    "copies": "{:.3g}",
    "seconds": "{:.0f}",
}


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A fixed-width table of rows, then the mean of each method over seeds."""
    means = []
    for method in dict.fromkeys(row["method"] for row in rows):
        group = [row for row in rows if row["method"] == method]
        mean: dict[str, Any] = {"method": method, "seed": "mean"}
        for column in list(_COLUMNS)[2:]:
            numbers = [row[column] for row in group if row[column] is not None]
            mean[column] = statistics.fmean(numbers) if numbers else None
        means.append(mean)
    widths = [max(len(column), 15 if column == "method" else 6) for column in _COLUMNS]
    cells = [
        [
            "-" if row[column] is None else form.format(row[column])
            for column, form in _COLUMNS.items()
        ]
        for row in [*rows, *means]
    ]
    return text_table(list(_COLUMNS), cells, widths=widths)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--problem", default=PROBLEM)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--interval", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    with ProcessPoolEvaluator(args.problem, args.workers) as pool:
        for seed in args.seeds:
            rows += pbt_vs_fixed(
                seed,
                problem=args.problem,
                population=args.population,
                interval=args.interval,
                evaluator=pool,
            )
            print(f"seed {seed} done ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
