"""``nas-plot``: draw the plots of a search as PNG files.

Example::

    nas-plot runs/covertype            # writes objective.png and utilisation.png there
    nas-plot runs/pbt                  # a --scheduler pbt search: also pbt_lineage.png
    nas-plot runs/compact              # several objectives: also pareto_front.png and
                                       # hypervolume.png
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from nas.cli._base import Command, run_command
from nas.plot import plot_search


class PlotCommand(Command):
    """Plot a search's objective over evaluations and time, and its worker utilisation."""

    name = "nas-plot"
    description = (
        "Plot a search: objective against evaluations and time with the best-so-far line, "
        "a chart of worker utilisation and, for a --scheduler pbt search, the lineage of "
        "its members (learning rate and objective over epochs, with the copies) and, for a "
        "search of several objectives, its Pareto front (one panel per pair of objectives; "
        "infeasible trials as grey crosses) and its hypervolume over evaluations (reference "
        "point: each objective's worst feasible value plus 10% of its range), as PNG "
        "files.\n\nexample: nas-plot runs/cov"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("directory", type=Path, help="the search's output folder")
        parser.add_argument("--out", type=Path, help="folder for the PNG files (default: DIR)")

    def run(self, args: argparse.Namespace) -> int:
        for path in plot_search(args.directory, args.out):
            print(path)
        return 0


def plot_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``nas-plot``; returns the exit status."""
    return run_command(PlotCommand(), argv)
