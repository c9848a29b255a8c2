"""Early stopping on a shipped problem, one run, same seeds: training epochs spent and
best objective reached by random search without early stopping, with learning-curve
matching (LCM) and with ASHA; then population-based training against fixed learning
rates at equal compute (``scripts/_bench_pbt.py``).

The problem is breast cancer (``problems.breast_cancer``: data, space, hyperparameters,
val_accuracy, 10 epochs) without its own early stopping (``patience`` 3 there, 0 here):
with it, "no early stopping" would stop early too, and Keras' patience restarts with
every segment of a scheduler, so that segmented runs would train longer than whole ones.

For the seed, random search's first ``--configs`` proposals (architecture and
hyperparameters) are given, in the same order, to each method, over one pool of worker
processes (``--workers``), with the real driver:

* ``none``: each configuration trains fully (the problem's ``epochs``; its ``patience``
  may end it sooner), in one evaluation;
* ``lcm``: ``--early-stopping lcm`` with its defaults (or ``--lcm-*``);
* ``asha``: ``--scheduler asha`` with its defaults (promotion form, r = 1, eta = 3, R =
  the problem's epochs);

each until every configuration has finished or stopped. The first segment of each
configuration has the same trial id, hence the same initial weights, under every method
that starts configurations in the same order (``none`` and ``lcm``).

Columns: ``configs`` started; ``evals`` (segments); ``epochs`` trained in total (the
compute); ``best``, the best objective of any epoch; ``found`` the epochs that the best
configuration of ``none`` reached under the method (did early stopping keep it?);
``stopped`` configurations that ended before the problem's epochs by the method's
decision; wall ``seconds`` (load-dependent; epochs are not).

    PYTHONPATH=. .venv/bin/python scripts/bench_early_stopping.py [--configs 40] [--seed 0]
        [--workers 2] [--methods none lcm asha] [--skip-pbt]

About 10 minutes for the defaults on the 2-core machine when it is otherwise idle (most
of it in per-evaluation overhead: building, compiling, saving checkpoints), plus the
PBT comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Beside this file: this folder is on the path when it runs as a script (and on its
# spawned workers', which import PROBLEM by name).
import _bench_pbt as bench_pbt
from _harness import Stopwatch, largest_value
from _harness import format_table as text_table

from nas import Study
from nas.evaluate import Evaluator, ProcessPoolEvaluator
from nas.problem import Problem, load_problem
from nas.search import RandomSearch
from nas.trial import Trial
from problems.breast_cancer import HYPERPARAMETERS
from problems.breast_cancer import _problem as breast_cancer_problem

#: Breast cancer without the problem's own early stopping (see the notes above).
problem = breast_cancer_problem(
    "breast_cancer_no_patience",
    {**HYPERPARAMETERS, "patience": 0},
    "Wisconsin breast cancer without patience: the early-stopping benchmark's problem.",
)
PROBLEM = "bench_early_stopping:problem"
METHODS = ("none", "lcm", "asha")
COLUMNS = ("method", "configs", "evals", "epochs", "best", "found", "stopped", "seconds")


def early_stopping_rows(args: argparse.Namespace, pool: Evaluator) -> list[dict[str, Any]]:
    """One row per method of ``args.methods`` on the same ``args.configs`` proposals."""
    problem = load_problem(args.problem)
    space = problem.build_space()
    proposals = RandomSearch(space.choices, problem.hyperparameters, seed=args.seed).ask(
        args.configs
    )
    max_epochs = largest_value(problem.hyperparameters["epochs"])
    rows: list[dict[str, Any]] = []
    reference: tuple | None = None  # the best configuration without early stopping
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(args.out or scratch)
        for method in args.methods:
            stopwatch = Stopwatch()
            study = Study(
                problem,
                base / method,
                bench_pbt.GivenProposals(proposals, problem),
                args.configs * (max_epochs + 1),  # more than any method needs: it ends itself
                scheduler=method,
                scheduler_options=_kwargs(method, args),
                evaluator=pool,
                seed=args.seed,
                keep_models=0,
                callbacks=[stopwatch],
                if_exists="overwrite",
                progress=False,
            )
            trials = study.run().trials
            if method == "none":
                reference = _key(_best(trials, problem)) if trials else None
            row = _row(method, trials, problem, max_epochs, reference, stopwatch.wall)
            if method == "lcm":  # its decisions, rather than guessed from epochs reached
                notes = [study.scheduler.notes(t.config.trial_id) for t in trials]
                row["stopped"] = sum(n.get("lcm_decision") == "stop" for n in notes)
            rows.append(row)
            print(format_table(rows[-1:], header=len(rows) == 1), flush=True)
    return rows


def pbt_vs_fixed(args: argparse.Namespace, pool: Evaluator | None = None) -> list[dict[str, Any]]:
    """PBT against fixed learning rates at equal compute, from ``scripts/_bench_pbt.py``
    (its own table)."""
    # Its own problem by default (breast cancer without patience, as here, under its own
    # module name): a pool is reused only for the very same problem reference.
    kwargs: dict[str, Any] = {"workers": args.workers}
    if args.pbt_problem is not None:
        kwargs["problem"] = args.pbt_problem
        kwargs["evaluator"] = pool if args.pbt_problem == args.problem else None
    rows = bench_pbt.pbt_vs_fixed(args.seed, **kwargs)
    print(bench_pbt.format_table(rows), flush=True)
    return rows


def _kwargs(method: str, args: argparse.Namespace) -> dict[str, Any]:
    if method != "lcm":
        return {}
    given = {
        "accumulate": args.lcm_accumulate,
        "checkpoints": args.lcm_checkpoints,
        "percentile": args.lcm_percentile,
    }
    return {name: value for name, value in given.items() if value is not None}


def _key(trial: Trial) -> tuple[str, str]:
    """A configuration, whatever segment of it ``trial`` is."""
    return (
        json.dumps(list(trial.config.arch_seq)),
        json.dumps(dict(trial.config.hyperparameters), sort_keys=True),
    )


def _best(trials: Sequence[Trial], problem: Problem) -> Trial:
    sign = 1 if problem.direction == "max" else -1
    scored = [t for t in trials if t.result.ok and t.result.objective is not None]
    return max(scored, key=lambda t: sign * t.result.objective)  # type: ignore[operator]


def _reached(trial: Trial) -> int:
    return trial.config.initial_epoch + trial.result.epochs_trained


def _asked(trial: Trial, max_epochs: int) -> int:
    """The epoch ``trial`` was to train to."""
    if trial.config.epochs is not None:
        return trial.config.epochs
    return int(trial.result.hyperparameters.get("epochs", max_epochs))


def _row(
    method: str,
    trials: Sequence[Trial],
    problem: Problem,
    max_epochs: int,
    reference: tuple | None,
    seconds: float,
) -> dict[str, Any]:
    reached: dict[tuple, int] = {}
    for trial in trials:
        key = _key(trial)
        reached[key] = max(reached.get(key, 0), _reached(trial))
    # Configurations the method left before the last epoch (not those the problem's own
    # early stopping, patience, ended: their last segment trained fewer epochs than asked).
    ended_by_patience = {_key(t) for t in trials if _reached(t) < _asked(t, max_epochs)}
    stopped = sum(r < max_epochs and k not in ended_by_patience for k, r in reached.items())
    return {
        "method": method,
        "configs": len(reached),
        "evals": len(trials),
        "epochs": sum(t.result.epochs_trained for t in trials),
        "best": _best(trials, problem).result.objective if trials else None,
        "found": reached.get(reference, 0) if reference else None,
        "stopped": stopped,
        "seconds": round(seconds),
    }


def format_table(rows: Sequence[dict[str, Any]], header: bool = True) -> str:
    """Fixed-width rows of :data:`COLUMNS`."""
    cells = [[_cell(row[column]) for column in COLUMNS] for row in rows]
    return text_table(COLUMNS, cells, widths=[8] * len(COLUMNS), show_header=header)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problem", default=PROBLEM, help=f"module:attribute ({PROBLEM})")
    parser.add_argument("--configs", type=int, default=40, help="configurations (40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--lcm-accumulate", type=int, help="LCM's accumulate (its default)")
    parser.add_argument("--lcm-checkpoints", type=int, nargs="+", help="LCM's checkpoints")
    parser.add_argument("--lcm-percentile", type=float, help="LCM's percentile")
    parser.add_argument(
        "--out", type=Path, help="keep each method's search here (journal, results.csv)"
    )
    parser.add_argument("--skip-pbt", action="store_true", help="no PBT comparison")
    parser.add_argument(
        "--pbt-problem", help="the PBT comparison's problem (default: _bench_pbt.py's)"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with ProcessPoolEvaluator(args.problem, args.workers) as pool:
        rows = early_stopping_rows(args, pool)
        print(f"\nearly stopping on {args.problem}, seed {args.seed}:")
        print(format_table(rows))
        if not args.skip_pbt:
            print("\npopulation-based training vs fixed learning rates:")
            pbt_vs_fixed(args, pool)
    print(f"\n{(time.perf_counter() - start) / 60:.1f} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
