"""``nas-export``: write the best models of a search, ready to use.

Examples::

    nas-export runs/covertype --top 5
    nas-export runs/covertype --top 1 --retrain --epochs 50 --out best_model
    nas-export runs/compact --pareto      # several objectives: every trial of the front
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from nas.cli._base import Command, UsageError, positive_int, run_command
from nas.export import ExportedModel, export_best, export_pareto
from nas.problem import load_problem


class ExportCommand(Command):
    """Export the best architectures of a search, or its Pareto front, as Keras models
    and SavedModels."""

    name = "nas-export"
    uses_tensorflow = True
    description = (
        "For the K best evaluations of a search, write model.keras, a TensorFlow "
        "SavedModel, architecture.json and architecture.png, from the trained models the "
        "search kept (or trained again with --retrain); with --pareto, for every trial on "
        "the Pareto front of a search of several objectives.\n\n"
        "examples:\n  nas-export runs/cov --top 3\n  nas-export runs/compact --pareto"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("directory", type=Path, help="the search's output folder")
        parser.add_argument("--top", type=positive_int, help="how many of the best (3)")
        parser.add_argument(
            "--pareto",
            action="store_true",
            help="export every trial on the Pareto front (a search of several objectives), "
            "in folders pareto_trial<id>, instead of the --top best",
        )
        parser.add_argument("--out", type=Path, help="where to write (default: DIR/export)")
        parser.add_argument(
            "--retrain", action="store_true", help="train again instead of using kept models"
        )
        parser.add_argument("--epochs", type=positive_int, help="epochs when retraining")
        parser.add_argument(
            "--problem",
            help="the problem as 'module:attribute' or 'file.py:attribute' (default: the "
            "one the search recorded; needed when it was given as a Python object)",
        )

    def run(self, args: argparse.Namespace) -> int:
        if args.pareto and args.top is not None:
            raise UsageError(
                "--pareto exports every trial of the Pareto front, --top the K best: "
                "give one or the other"
            )
        problem = load_problem(args.problem) if args.problem is not None else None
        if args.pareto:
            exported = export_pareto(
                args.directory, args.out, args.retrain, args.epochs, problem=problem
            )
        else:
            top = 3 if args.top is None else args.top
            exported = export_best(
                args.directory, top, args.out, args.retrain, args.epochs, problem=problem
            )
        for model in exported:
            print(_summary(model))
        return 0


def _summary(model: ExportedModel) -> str:
    """One line per exported model: ``rank 1: trial 4 (0.9123) -> folder``, or for a
    front trial ``pareto: trial 4 (val_accuracy 0.9123, num_parameters 1234) -> folder``."""
    result = model.trial.result
    if model.pareto:
        values = ", ".join(f"{name} {value:.6g}" for name, value in result.objectives.items())
        return f"pareto: trial {model.trial.config.trial_id} ({values}) -> {model.folder}"
    return (
        f"rank {model.rank}: trial {model.trial.config.trial_id} "
        f"({result.objective:.4f}) -> {model.folder}"
    )


def export_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``nas-export``; returns the exit status."""
    return run_command(ExportCommand(), argv)
