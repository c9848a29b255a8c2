"""``nas-search``: run a search on a problem, or resume one.

Examples::

    nas-search --problem problems.breast_cancer:problem --search regevo --max-evals 50 \\
               --out runs/breast_cancer
    nas-search --resume runs/breast_cancer --max-evals 100   # continue, with a larger budget
    nas-search --problem problems.breast_cancer:problem --search grid --grid-points 4 \
               --grid-architectures archs.json --max-evals 100 --out runs/grid
    mpirun -np 9 nas-search --problem problems.covertype:parallel_problem --search agebo \
               --evaluator mpi --max-evals 200 --out runs/covertype   # 8 training ranks
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nas._stop import SearchStopped
from nas.cli._base import (
    Command,
    UsageError,
    memory_size,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    run_command,
)
from nas.driver import SearchResults, recorded_settings, run_search
from nas.driver._driver import DEFAULT_MAX_CONSECUTIVE_FAILURES, DEFAULT_STOP_GRACE
from nas.evaluate import EVALUATORS, start_worker_server
from nas.problem import Problem
from nas.schedule import SCHEDULERS
from nas.search import SEARCHES
from nas.search._grid import SUBSETS
from nas.train import Status
from nas.trial import Trial

#: Defaults of the flags whose absence must be told apart (a resume keeps its settings).
_DEFAULTS: dict[str, Any] = {
    "search": "regevo",
    "max_evals": 100,
    "evaluator": "process",
    "num_workers": None,
    "seed": None,
    "timeout": None,
    "eval_timeout": None,
    "keep_models": 3,
    "scheduler": "none",
    "stop_grace": DEFAULT_STOP_GRACE,
    "max_consecutive_failures": DEFAULT_MAX_CONSECUTIVE_FAILURES,
    "tensorboard": False,
    "warm_memory": None,
}


class SearchCommand(Command):
    """Search a problem's space and hyperparameters, writing the results to a folder."""

    name = "nas-search"
    uses_tensorflow = True
    description = (
        "Search the architectures and hyperparameters of a problem. Writes an append-only "
        "journal, results.csv and settings.json to --out; a killed search continues with "
        "--resume.\n\nexample: nas-search --problem problems.breast_cancer:problem "
        "--search regevo --max-evals 50 --out runs/breast_cancer"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--problem", help="the problem as 'module:attribute'")
        parser.add_argument("--out", type=Path, help="output folder (must not hold a search)")
        parser.add_argument(
            "--resume", type=Path, metavar="DIR", help="continue the search recorded in DIR"
        )
        parser.add_argument(
            "--repair",
            action="store_true",
            help="with --resume: set the journal's damaged lines (not records: a disk "
            "fault, a hand edit) aside in journal.damaged.jsonl and resume from the rest",
        )
        parser.add_argument(
            "--search",
            help=f"one of {', '.join(sorted(SEARCHES))} (default: regevo), or your own "
            "search class as 'module:Class'",
        )
        parser.add_argument(
            "--search-option",
            dest="search_options",
            type=_option,
            action="append",
            metavar="NAME=VALUE",
            help="a parameter of the search, repeatable (e.g. --search-option kappa=1.96); "
            "VALUE is read as JSON when it can be (numbers, lists, true), else as text",
        )
        parser.add_argument("--max-evals", type=positive_int, help="evaluations (default 100)")
        parser.add_argument(
            "--evaluator",
            choices=sorted(EVALUATORS),
            help="process: a pool of worker processes (default); serial: in this process; "
            "mpi: under mpirun, rank 0 drives and the other ranks train; simulated: no "
            "training, synthetic learning curves on --workers simulated ranks with a "
            "simulated clock (scale tests of searches and schedulers)",
        )
        parser.add_argument(
            "--workers",
            dest="num_workers",
            type=positive_int,
            help="parallel evaluations (default: one per CPU core); with --evaluator "
            "simulated, simulated ranks",
        )
        parser.add_argument("--seed", type=non_negative_int, help="seed of the search")
        parser.add_argument(
            "--timeout",
            type=positive_float,
            metavar="SECONDS",
            help="stop after this wall-clock time: no new evaluation starts, running ones "
            "get --stop-grace seconds, everything is written and the exit code is 0 "
            "(continue with --resume); on a cluster, the job's wall time minus a margin",
        )
        parser.add_argument(
            "--eval-timeout",
            type=positive_float,
            metavar="SECONDS",
            help="seconds of training allowed per evaluation",
        )
        parser.add_argument(
            "--stop-grace",
            type=non_negative_float,
            metavar="SECONDS",
            help="on --timeout, SIGTERM or Ctrl-C: wait this long for running evaluations "
            f"before writing and exiting (default {DEFAULT_STOP_GRACE:g}); a second Ctrl-C "
            "stops at once",
        )
        parser.add_argument(
            "--max-consecutive-failures",
            type=non_negative_int,
            metavar="N",
            help="stop after N failed evaluations in a row (default "
            f"{DEFAULT_MAX_CONSECUTIVE_FAILURES}; 0: never)",
        )
        parser.add_argument(
            "--scheduler",
            choices=sorted(SCHEDULERS),
            help="what trains next and for how long, over the search (default none: "
            "each proposal trains fully)",
        )
        parser.add_argument(
            "--scheduler-option",
            dest="scheduler_options",
            type=_option,
            action="append",
            metavar="NAME=VALUE",
            help="a parameter of the scheduler, repeatable (e.g. --scheduler-option "
            "reduction_factor=4), as --search-option",
        )
        self._add_scheduler_arguments(parser)
        parser.add_argument(
            "--population-size",
            type=positive_int,
            help="regevo, agebo: P (default: follows --max-evals, max_evals/10 within 10..100)",
        )
        parser.add_argument(
            "--sample-size",
            type=positive_int,
            help="regevo, agebo: S, the tournament (default: follows P, 0.7 P)",
        )
        parser.add_argument(
            "--grid-points",
            type=positive_int,
            metavar="N",
            help="grid: values per Int/Float range, evenly spaced (log ranges: geometrically) (3)",
        )
        parser.add_argument(
            "--grid-architectures",
            metavar="FILE|all",
            help="grid: a JSON file holding a list of arch_seqs, or 'all' (the default: every "
            "architecture of the space, if it has at most a million)",
        )
        parser.add_argument(
            "--grid-subset",
            choices=SUBSETS,
            help="grid: when the grid is larger than --max-evals, evaluate a random subset of "
            "--max-evals distinct points (drawn with --seed) instead of refusing",
        )
        parser.add_argument(
            "--keep-models",
            type=non_negative_int,
            metavar="K",
            help="keep the trained models of the K best evaluations for nas-export (3)",
        )
        parser.add_argument(
            "--tensorboard",
            action=argparse.BooleanOptionalAction,
            help="write each evaluation's TensorBoard logs (Keras' scalars and the HParams "
            "summary of its hyperparameters, arch_seq and objective) to OUT/tensorboard/"
            "<trial_id>: tensorboard --logdir OUT/tensorboard compares them; --no-tensorboard "
            "turns it off on --resume (needs the tensorboard package)",
        )
        parser.add_argument(
            "--warm-memory",
            type=memory_size,
            metavar="SIZE",
            help="memory each worker may keep trained models in (e.g. 512M, 2G), so that a "
            "configuration's next segment (ASHA, LCM, PBT) continues warm on the worker "
            "that trained it instead of loading its checkpoint; 0 keeps none (default: 1G, "
            "at most a quarter of the memory over the workers)",
        )
        parser.add_argument("--top", type=positive_int, default=5, help="best trials shown")
        parser.add_argument(
            "--no-progress", action="store_true", help="no progress bar or progress lines"
        )

    @staticmethod
    def _add_scheduler_arguments(parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group(
            "schedulers",
            "parameters of --scheduler asha|rasda|sha|pbt and --early-stopping lcm "
            "(docs/multifidelity.md: ASHA, RASDA, sha)",
        )
        group.add_argument(
            "--early-stopping",
            choices=["lcm"],
            help="lcm: learning-curve matching (the same as --scheduler lcm): after "
            "--lcm-accumulate full trainings, each run is checked at --lcm-checkpoints and "
            "stopped if the nearest recorded curve ended worse than --lcm-percentile; "
            "--max-evals counts segments",
        )
        for flag, kind, text in _SCHEDULER_FLAGS:
            group.add_argument(
                flag, type=kind, nargs="+" if text.startswith("+") else None, help=text.lstrip("+")
            )

    def run(self, args: argparse.Namespace) -> int:
        settings = _settings(args)
        if settings.get("evaluator", "process") == "process":
            # It imports TensorFlow while this process imports the problem's module.
            start_worker_server()
        try:
            results = run_search(**settings, progress=not args.no_progress)
        except SearchStopped as stop:
            _print_not_started(stop, settings)
            return 0  # what was asked for: the search stopped, and lost nothing
        if results is None:  # a worker rank of the MPI evaluator
            return 0
        _print_summary(results, args.top, settings)
        if results.trials and not any(trial.result.ok for trial in results.trials):
            print(f"every evaluation failed; the most common error: {_most_common_error(results)}")
            return 1
        return 1 if results.gave_up else 0


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments of run_search: a resume starts from the recorded settings."""
    given = {name: getattr(args, name) for name in _DEFAULTS if getattr(args, name) is not None}
    search_kwargs = {
        name: getattr(args, name)
        for name in ("population_size", "sample_size")
        if getattr(args, name) is not None
    }
    search_kwargs.update(_grid_kwargs(args))
    search_kwargs.update(args.search_options or [])
    if args.search is not None and args.search not in SEARCHES and ":" not in args.search:
        raise UsageError(
            f"--search {args.search!r}: expected one of {sorted(SEARCHES)} or 'module:Class'"
        )
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file: give a folder for the search's results")
    if args.resume is not None:
        if args.out is not None and args.out != args.resume:
            raise UsageError("give either --out (a new search) or --resume DIR, not both")
        recorded = _recorded_settings(args.resume)
        if args.problem is not None:
            recorded["problem"] = args.problem
        elif recorded.get("problem") is None:
            raise UsageError(
                f"{args.resume} was searched from Python with a Problem object, which the "
                "command line cannot import: give --problem module:attribute (or resume it "
                "from Python with Study(..., if_exists='resume'))"
            )
        # Flags given again on resume must match the recorded ones; absent ones are kept.
        recorded["search_kwargs"] = {**recorded.get("search_kwargs", {}), **search_kwargs}
        recorded["scheduler_kwargs"] = {
            **recorded.get("scheduler_kwargs", {}),
            **_scheduler_kwargs(args),
        }
        settings = {**recorded, **given, "out": args.resume, "resume": True}
        settings["repair"] = args.repair
    else:
        if args.repair:
            raise UsageError("--repair applies to the journal of --resume DIR")
        if args.problem is None or args.out is None:
            raise UsageError("--problem and --out are required (or --resume DIR)")
        settings = {
            **_DEFAULTS,
            **given,
            "problem": args.problem,
            "out": args.out,
            "search_kwargs": search_kwargs,
            "scheduler_kwargs": _scheduler_kwargs(args),
        }
    if args.early_stopping is not None:
        if args.scheduler not in (None, args.early_stopping):
            raise UsageError("give either --scheduler or --early-stopping, not both")
        settings["scheduler"] = args.early_stopping
    grid_flags = [flag for flag, name in _GRID_FLAGS.items() if getattr(args, name) is not None]
    if grid_flags and settings["search"] != "grid":
        verb = "applies" if len(grid_flags) == 1 else "apply"
        raise UsageError(f"{', '.join(grid_flags)} {verb} only to --search grid")
    return settings


#: Scheduler flags: (flag, argparse type, help; a leading "+" takes one or more values).
#: The keyword each becomes is the flag's name after the scheduler prefix, with "_".
_SCHEDULER_FLAGS: list[tuple[str, Any, str]] = [
    ("--min-epochs", positive_int, "asha, rasda, sha: epochs of the first rung (r; 1)"),
    (
        "--max-epochs",
        positive_int,
        "asha, rasda, sha: epochs of the last rung (R; default: the problem's epochs)",
    ),
    (
        "--reduction-factor",
        positive_int,
        "asha, rasda, sha: rungs at r, r*eta, ... up to R; a rung keeps its top 1/eta (3)",
    ),
    (
        "--asha-mode",
        str,
        "asha, rasda: promotion (default: a free worker promotes the best of a rung's top "
        "1/eta not yet promoted, else starts a new configuration) or stopping (a "
        "configuration continues at once while in the top 1/eta of each rung so far)",
    ),
    (
        "--max-configurations",
        positive_int,
        "asha, rasda: start at most this many configurations, then only promote; the "
        "search ends by itself when nothing is left to promote (Ray Tune's num_samples; "
        "default: no limit, --max-evals ends it)",
    ),
    (
        "--width-factor",
        positive_int,
        "rasda: multiply the data-parallel width (num_ranks) by this at each rung, up to "
        "the widest the problem and the evaluator allow (2)",
    ),
    (
        "--lcm-accumulate",
        positive_int,
        "lcm: complete trainings recorded before any run may stop (10)",
    ),
    (
        "--lcm-checkpoints",
        positive_int,
        "+lcm: epochs at which running curves are matched, below the problem's epochs "
        "(default: a quarter, half and three quarters of them)",
    ),
    (
        "--lcm-percentile",
        positive_float,
        "lcm: stop runs whose predicted final is worse than this percentile of the "
        "recorded finals, ranked from worst to best (50: the worse half)",
    ),
    (
        "--pbt-population",
        positive_int,
        "pbt: members trained at once (default: the workers, at least 4); a full run is "
        "population x max_epochs / interval evaluations (--max-evals counts segments)",
    ),
    (
        "--pbt-interval",
        positive_int,
        "pbt: epochs between exploit/explore steps (default: a fifth of the epochs, at least 1)",
    ),
    (
        "--pbt-quantile",
        positive_float,
        "pbt: the bottom fraction copies the top fraction, at most 0.5 (0.25, as Ray Tune)",
    ),
    (
        "--pbt-resample-probability",
        non_negative_float,
        "pbt: probability to resample the copied learning rate from its prior instead of "
        "perturbing it (0.25, as Ray Tune)",
    ),
    (
        "--pbt-factors",
        positive_float,
        "+pbt: factors that perturb the copied learning rate, one drawn at random "
        "(1.2 0.8, as Ray Tune)",
    ),
]
#: Flag prefixes that name their scheduler, dropped from the keyword.
_PREFIXES = ("asha_", "lcm_", "pbt_")


def _scheduler_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The scheduler's parameters from the flags given."""
    kwargs: dict[str, Any] = {}
    for flag, _, _ in _SCHEDULER_FLAGS:
        name = flag.lstrip("-").replace("-", "_")
        value = getattr(args, name)
        if value is not None:
            for prefix in _PREFIXES:
                name = name.removeprefix(prefix)
            kwargs[name] = value
    kwargs.update(args.scheduler_options or [])
    return kwargs


def _option(text: str) -> tuple[str, Any]:
    """argparse type of ``--search-option``: ``NAME=VALUE``, VALUE as JSON if it parses."""
    name, equals, value = text.partition("=")
    if not equals or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. kappa=1.96), got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def _most_common_error(results: SearchResults) -> str:
    errors = Counter(trial.result.error for trial in results.trials if not trial.result.ok)
    error, count = errors.most_common(1)[0]
    return f"{error} ({count} of {len(results.trials)})"


#: The grid's flags and their argparse names.
_GRID_FLAGS = {
    "--grid-points": "grid_points",
    "--grid-architectures": "grid_architectures",
    "--grid-subset": "grid_subset",
}


def _grid_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """GridSearch arguments from the flags; the architectures file is read here, so that
    the settings recorded for resume hold the list itself, not a path that may change."""
    kwargs: dict[str, Any] = {}
    if args.grid_points is not None:
        kwargs["points"] = args.grid_points
    if args.grid_subset is not None:
        kwargs["subset"] = args.grid_subset
    if args.grid_architectures == "all":
        kwargs["architectures"] = "all"
    elif args.grid_architectures is not None:
        kwargs["architectures"] = _read_architectures(Path(args.grid_architectures))
    return kwargs


def _read_architectures(path: Path) -> list[Any]:
    try:
        architectures = json.loads(path.read_text())
    except OSError as error:
        raise UsageError(f"--grid-architectures: cannot read {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"--grid-architectures: {path} is not valid JSON ({error})") from None
    if not isinstance(architectures, list):
        raise UsageError(
            f"--grid-architectures: {path} must hold a JSON list of arch_seqs, "
            f'e.g. [[0, 1, 2], [1, 0, 2]], or give "all"'
        )
    return architectures


def _recorded_settings(directory: Path) -> dict[str, Any]:
    settings = recorded_settings(directory)
    if settings is None:
        raise UsageError(
            f"{directory} holds no search to resume (no settings.json, and no record in a "
            f"journal): start one with --problem ... --out {directory}"
        )
    return settings


def _print_summary(results: SearchResults, top: int, settings: Mapping[str, Any]) -> None:
    """What the search found: counts, the best trials, and the commands to run next."""
    trials = results.trials
    invalid = sum(trial.result.status is Status.INVALID for trial in trials)
    failed = sum(not trial.result.ok for trial in trials) - invalid
    counts = f"{failed} failed" + (f", {invalid} invalid" if invalid else "")
    print(
        f"{len(trials)} evaluations ({counts}), {results.num_distinct} distinct "
        f"configurations, written to {results.directory}"
    )
    if results.exhausted:
        print("the search evaluated every configuration of the space")
    best = results.best(top)
    problem = results.problem
    if best and (len(problem.objectives) > 1 or problem.constraints):
        _print_front(results)
    elif best:
        print(f"\nbest {len(best)} by {problem.objective} ({problem.direction}imised):")
        for line in _best_table(best, problem, [problem.objective]):
            print(f"  {line}")
    else:
        print("no evaluation succeeded")
    # Evaluations running at a timeout may have completed the budget in the grace period.
    if results.stop_reason is not None and len(trials) < settings["max_evals"]:
        print(f"\nstopped early: {results.stop_reason}")
    commands = _next_commands(results, settings, num_best=len(best))
    width = max(len(command) for command, _ in commands)
    print("\nnext:")
    for command, why in commands:
        print(f"  {command:<{width}}  # {why}")


def _print_not_started(stop: SearchStopped, settings: Mapping[str, Any]) -> None:
    """A stop before the search touched its folder: no summary, as nothing ran; how to
    start it, or continue it, instead."""
    folder = shlex.quote(str(settings["out"]))
    print(f"{stop}, and {folder} is as it was")
    if settings.get("resume"):
        print(f"\nnext:\n  {_launcher(settings)}nas-search --resume {folder}  # continue")
    else:
        print("\nnext: run the same command again to start it")


def _print_front(results: SearchResults) -> None:
    """The Pareto front of a search of several objectives or constraints."""
    problem = results.problem
    names = [item.name for item in problem.objectives]
    front = results.pareto_front()
    infeasible = sum(trial.result.ok and trial.result.violation > 0 for trial in results.trials)
    ranked = ", ".join(str(item) for item in problem.objectives)
    limits = ", ".join(str(item) for item in problem.constraints)
    print(f"\nPareto front: {len(front)} trial(s) by {ranked}")
    if limits:
        print(f"constraints: {limits}; {infeasible} finished trial(s) broke one")
    if not front:
        print("no trial met every constraint")
        return
    for line in _best_table(front, problem, names):
        print(f"  {line}")


def _best_table(best: Sequence[Trial], problem: Problem, objectives: Sequence[str]) -> list[str]:
    """Trials as aligned rows: objectives, searched hyperparameters, arch_seq."""
    names = problem.hyperparameters.searched_names
    header = ["trial", *objectives, *names, "arch_seq"]
    rows = [
        [
            str(trial.config.trial_id),
            *(_cell(value) for value in trial.result.values_of(objectives)),
            *(_cell(trial.config.hyperparameters.get(name)) for name in names),
            json.dumps(list(trial.config.arch_seq)),
        ]
        for trial in best
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in [header, *rows]
    ]


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _next_commands(
    results: SearchResults, settings: Mapping[str, Any], num_best: int
) -> list[tuple[str, str]]:
    """``(command, why)`` for what to run next, with the search's actual folder."""
    folder = shlex.quote(str(results.directory))
    problem = results.problem
    plots = "the Pareto front, hypervolume" if len(problem.objectives) > 1 else "objective"
    commands = [(f"nas-plot {folder}", f"{plots} and worker utilisation plots")]
    if settings.get("tensorboard") and (results.directory / "tensorboard").is_dir():
        logs = shlex.quote(str(results.directory / "tensorboard"))
        commands.append((f"tensorboard --logdir {logs}", "compare the trials (HParams tab)"))
    if num_best and len(problem.objectives) > 1 and results.pareto_front():
        retrain = "" if int(settings.get("keep_models") or 0) else " --retrain"
        commands.append((f"nas-export {folder} --pareto{retrain}", "the front's models"))
    elif num_best:
        kept = min(num_best, int(settings.get("keep_models") or 0))
        if kept:
            export = f"nas-export {folder} --top {kept}"
            commands.append((export, "the best models, ready to use"))
        else:  # no model was kept: they are trained again
            export = f"nas-export {folder} --top {num_best} --retrain"
            commands.append((export, "train the best architectures again and export them"))
    resume = f"{_launcher(settings)}nas-search --resume {folder}"
    if results.stop_reason is not None and len(results.trials) < int(settings["max_evals"]):
        unfinished = results.num_unfinished
        why = f"continue; {unfinished} unfinished evaluation(s) run again" if unfinished else ""
        commands.append((resume, why or "continue"))
    elif len(results.trials) >= int(settings.get("max_evals") or 0):
        # Not when the search ended by itself below its budget (a grid ran out).
        more = 2 * len(results.trials)
        commands.append((f"{resume} --max-evals {more}", "continue, to a larger budget"))
    return commands


def _launcher(settings: Mapping[str, Any]) -> str:
    """``mpirun -np N `` (``srun -n N `` in a Slurm job) for a search of the MPI
    evaluator, whose resume needs it too."""
    if settings.get("evaluator") != "mpi":
        return ""
    mpi = sys.modules.get("mpi4py.MPI")  # imported by the evaluator on this rank
    ranks = mpi.COMM_WORLD.Get_size() if mpi is not None else "N"
    if "SLURM_STEP_ID" in os.environ:  # started by srun: resumed the same way
        return f"srun -n {ranks} "
    return f"mpirun -np {ranks} "


def search_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``nas-search``; returns the exit status."""
    return run_command(SearchCommand(), argv)
