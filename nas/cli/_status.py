"""``nas-status``: a summary of a search, running or finished, read from its journal.

Example::

    $ nas-status runs/wine
    runs/wine: regevo on wine:problem, 1 session
    done       4 of 6 evaluations, 1 failed
    running    2
    best       val_accuracy 0.9722 (max) in trial 3
               arch_seq [1, 0, 2]
               batch_size=32 learning_rate=0.0031 optimizer=adam
    rate       13.5 evaluations per minute
    time left  9 s
    updated    2026-12-05 10:11:12 UTC (2 s ago)

It only reads: run it as often as you like while the search writes (``watch nas-status
DIR``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from nas.cli._base import Command, UsageError, run_command
from nas.exceptions import ProblemError
from nas.results import Results, load_results


class StatusCommand(Command):
    """Print how far a search has got: done, running, failed, best, rate, time left."""

    name = "nas-status"
    description = (
        "Summarise a search from its journal, while it runs or once finished: evaluations "
        "done, running and failed, the best so far with its hyperparameters, evaluations "
        "per minute and the time left to the budget (--max-evals).\n\n"
        "example: nas-status runs/cov"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("directory", type=Path, help="the search's output folder")
        parser.add_argument(
            "--direction",
            choices=("max", "min"),
            help="which objective is better, for a folder that does not record it and "
            "whose problem cannot be imported here (default: the recorded one)",
        )

    def run(self, args: argparse.Namespace) -> int:
        try:
            results = load_results(args.directory, direction=args.direction)
        except FileNotFoundError as error:
            raise UsageError(str(error)) from error
        except ProblemError as error:
            # The loader's advice names its Python argument: give the flag instead.
            cause = error.__cause__ if isinstance(error.__cause__, ProblemError) else error
            raise ProblemError(
                f"{cause}; pass --direction max or min to summarise {args.directory} without it"
            ) from error
        print(summary(results, time.time()))
        return 0


#: Trials of a Pareto front listed; a longer front is counted.
_FRONT_SHOWN = 10


def summary(results: Results, now: float) -> str:
    """The lines ``nas-status`` prints about ``results`` at unix time ``now``."""
    settings, progress = results.settings, results.progress
    problem = settings.get("problem") or settings.get("problem_name")  # an object: its name
    lines = [f"{results.directory}: {settings.get('search')} on {problem}"]
    if settings.get("scheduler") not in (None, "none"):
        lines[0] += f" with {settings['scheduler']}"
    lines[0] += f", {_plural(progress.sessions, 'session')}"
    done = f"{progress.done} of {_plural(progress.max_evals, 'evaluation')}"
    lines.append(_field("done", f"{done}, {progress.failed} failed"))
    lines.append(_field("running", str(progress.running)))
    several = len(results.objectives) > 1 or results.constraints
    lines += _front(results) if several else _best(results)
    rate = progress.evaluations_per_minute
    lines.append(_field("rate", "-" if rate is None else f"{_rate(rate)} evaluations per minute"))
    lines.append(_field("time left", _time_left(results)))
    ago = timedelta(seconds=max(0, round(now - progress.updated_at.timestamp())))
    updated = progress.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    lines.append(_field("updated", f"{updated} ({_duration(ago)} ago)"))
    return "\n".join(lines)


def _best(results: Results) -> list[str]:
    best = results.best(1)
    if not best:
        return [_field("best", "- (no successful evaluation yet)")]
    trial = best[0]
    name = results.objective or "objective"
    hyperparameters = " ".join(
        f"{key}={_value(value)}" for key, value in sorted(trial.hyperparameters.items())
    )
    where = f"({results.direction}) in trial {trial.trial_id}"
    return [
        _field("best", f"{name} {trial.objective:.6g} {where}"),
        _field("", f"arch_seq {trial.arch_seq}"),
        _field("", hyperparameters or "(no hyperparameters)"),
    ]


def _front(results: Results) -> list[str]:
    """The Pareto front of a search of several objectives or constraints."""
    front = results.pareto_front
    ranked = ", ".join(f"{name} ({direction})" for name, direction in results.objectives.items())
    if not front:
        return [_field("front", f"- (no feasible evaluation yet) by {ranked}")]
    lines = [_field("front", f"{_plural(len(front), 'trial')} by {ranked}")]
    for trial in front[:_FRONT_SHOWN]:
        values = " ".join(f"{name} {trial.objectives[name]:.6g}" for name in results.objectives)
        lines.append(_field("", f"trial {trial.trial_id}: {values}"))
    if len(front) > _FRONT_SHOWN:
        lines.append(_field("", f"... {len(front) - _FRONT_SHOWN} more: nas-plot draws them all"))
    return lines


def _time_left(results: Results) -> str:
    progress = results.progress
    if progress.budget_reached:
        return "0 s (the budget is reached)"
    if progress.time_left is None:
        return "- (no evaluation has finished yet)"
    left = _duration(progress.time_left)
    if not progress.time_left and results.settings.get("timeout") is not None:
        return f"{left} (the session's timeout is over: --resume continues it)"
    return left


def _field(label: str, text: str) -> str:
    return f"{label:<10} {text}"


def _value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _duration(delta: timedelta) -> str:
    """``42 s``, ``12 min 5 s``, ``3 h 20 min``, ``2 d 4 h``."""
    seconds = int(round(delta.total_seconds()))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s")]
    shown = [f"{number} {unit}" for number, unit in parts if number]
    return " ".join(shown[:2]) or "0 s"


def _rate(per_minute: float) -> str:
    # The simulated evaluator finishes thousands a minute: no exponent for those.
    return f"{per_minute:,.0f}" if per_minute >= 100 else f"{per_minute:.3g}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def status_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``nas-status``; returns the exit status."""
    return run_command(StatusCommand(), argv)
