"""``nas-export``: write the best models of a search, ready to use.

Examples::

    nas-export runs/covertype --top 5
    nas-export runs/covertype --top 1 --retrain --epochs 50 --out best_model
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from nas.cli._base import Command, positive_int, run_command
from nas.export import export_best
from nas.problem import load_problem


class ExportCommand(Command):
    """Export the best architectures of a search as Keras models and SavedModels."""

    name = "nas-export"
    uses_tensorflow = True
    description = (
        "For the K best evaluations of a search, write model.keras, a TensorFlow "
        "SavedModel, architecture.json and architecture.png, from the trained models the "
        "search kept (or trained again with --retrain).\n\nexample: nas-export runs/cov --top 3"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("directory", type=Path, help="the search's output folder")
        parser.add_argument("--top", type=positive_int, default=3, help="how many (3)")
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
        problem = load_problem(args.problem) if args.problem is not None else None
        exported = export_best(
            args.directory, args.top, args.out, args.retrain, args.epochs, problem=problem
        )
        for model in exported:
            objective = model.trial.result.objective
            print(
                f"rank {model.rank}: trial {model.trial.config.trial_id} "
                f"({objective:.4f}) -> {model.folder}"
            )
        return 0


def export_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``nas-export``; returns the exit status."""
    return run_command(ExportCommand(), argv)
