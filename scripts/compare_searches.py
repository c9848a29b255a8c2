"""Compare searches on one problem with the same budget and seeds: a table of best objectives.

Each (search, seed) pair runs a real search (real training, the local process pool) and
the table shows the best objective reached, its mean over seeds, and the time taken.

    PYTHONPATH=. .venv/bin/python scripts/compare_searches.py \\
        --problem problems.covertype:problem --searches random regevo agebo \\
        --max-evals 24 --seeds 0 1 --workers 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _harness import format_table

from nas import run_search
from nas.search import SEARCHES

#: Small budgets need small populations, or evolution is random search until P results.
EVOLUTION_KWARGS = {"population_size": 8, "sample_size": 3}


def best_objective(problem: str, search: str, seed: int, args: argparse.Namespace) -> tuple:
    kwargs = EVOLUTION_KWARGS if search in ("regevo", "agebo") else {}
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        results = run_search(
            problem,
            Path(out) / "run",
            search,
            args.max_evals,
            num_workers=args.workers,
            seed=seed,
            search_kwargs=kwargs,
            keep_models=0,
            progress=False,
        )
        elapsed = time.perf_counter() - start
    best = results.best(1)
    return (best[0].result.objective if best else float("nan")), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="problems.covertype:problem")
    parser.add_argument(
        "--searches", nargs="+", default=["random", "regevo", "agebo"], choices=sorted(SEARCHES)
    )
    parser.add_argument("--max-evals", type=int, default=24)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows = []
    # Seeds outermost, so that the machine's load drifts over every search alike.
    scores: dict[str, list[float]] = {search: [] for search in args.searches}
    minutes: dict[str, float] = dict.fromkeys(args.searches, 0.0)
    for seed in args.seeds:
        for search in args.searches:
            value, elapsed = best_objective(args.problem, search, seed, args)
            scores[search].append(value)
            minutes[search] += elapsed / 60
            print(
                f"  {search:>8} seed {seed}: best {value:.4f} in {elapsed / 60:.1f} min",
                flush=True,
            )
    header = ["search", *[f"seed {s}" for s in args.seeds], "mean", "minutes"]
    for search in args.searches:
        values = scores[search]
        rows.append(
            [
                search,
                *[f"{v:.4f}" for v in values],
                f"{np.mean(values):.4f}",
                f"{minutes[search]:.1f}",
            ]
        )
    print(f"\n{args.problem}, {args.max_evals} evaluations per search, {args.workers} workers")
    print(format_table(header, rows, separator=False))


if __name__ == "__main__":
    main()
