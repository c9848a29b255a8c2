"""Command-line programs of nas: one small module per command.

Each command is a :class:`Command` (``add_arguments`` and ``run``) run by
:func:`run_command`, which maps errors to exit codes (1: the work failed, 2: a bad flag
or value) and adds ``--debug``. Entry points declared in ``pyproject.toml`` are plain
functions returning the exit status, so tests call them in-process.

Example:
    >>> from nas.cli import train_main
    >>> train_main(["--problem", "problems.digits:problem", "--arch", "random", "--epochs", "1"])
    0
"""

from nas.cli._base import Command, UsageError, run_command
from nas.cli._export import ExportCommand, export_main
from nas.cli._plot import PlotCommand, plot_main
from nas.cli._search import SearchCommand, search_main
from nas.cli._status import StatusCommand, status_main
from nas.cli._train import TrainCommand, train_main

#: The commands, by the name of their program.
COMMANDS: dict[str, type[Command]] = {
    ExportCommand.name: ExportCommand,
    PlotCommand.name: PlotCommand,
    SearchCommand.name: SearchCommand,
    StatusCommand.name: StatusCommand,
    TrainCommand.name: TrainCommand,
}

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
