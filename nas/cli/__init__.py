"""Command-line programs of nas: one small module per command.

Each command is a :class:`Command` (``add_arguments`` and ``run``) run by
:func:`run_command`, which maps errors to exit codes (1: the work failed, 2: a bad flag
or value) and adds ``--debug``. Entry points declared in ``pyproject.toml`` are plain
functions returning the exit status, so tests call them in-process.

The commands are imported on first use, so that ``nas-search`` catches stop signals
before it imports the search (see :func:`search_main`).

Example:
    >>> from nas.cli import train_main
    >>> train_main(["--problem", "problems.digits:problem", "--arch", "random", "--epochs", "1"])
    0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nas._imports import lazy_names
from nas._stop import stop_signals
from nas.cli._base import Command, UsageError, run_command

if TYPE_CHECKING:
    from nas.cli._commands import COMMANDS
    from nas.cli._export import ExportCommand, export_main
    from nas.cli._plot import PlotCommand, plot_main
    from nas.cli._search import SearchCommand
    from nas.cli._status import StatusCommand, status_main
    from nas.cli._train import TrainCommand, train_main


def search_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``nas-search``; returns the exit status.

    SIGINT and SIGTERM are caught from this first line, before the search's modules are
    imported (a second or more), so that a signal at any instant stops the search
    cleanly (see :mod:`nas._stop`). Without ``argv`` this is the program itself: once
    the search returns they are ignored until the process ends, so that a late signal
    cannot change its exit code.
    """
    with stop_signals(keep=argv is None):
        from nas.cli._search import search_main as main

        return main(argv)


__getattr__, __dir__ = lazy_names(
    __name__,
    {
        "COMMANDS": "nas.cli._commands",
        "ExportCommand": "nas.cli._export",
        "export_main": "nas.cli._export",
        "PlotCommand": "nas.cli._plot",
        "plot_main": "nas.cli._plot",
        "SearchCommand": "nas.cli._search",
        "StatusCommand": "nas.cli._status",
        "status_main": "nas.cli._status",
        "TrainCommand": "nas.cli._train",
        "train_main": "nas.cli._train",
    },
)

__all__ = [
    "COMMANDS",
    "Command",
    "ExportCommand",
    "PlotCommand",
    "SearchCommand",
    "StatusCommand",
    "TrainCommand",
    "UsageError",
    "export_main",
    "plot_main",
    "run_command",
    "search_main",
    "status_main",
    "train_main",
]
