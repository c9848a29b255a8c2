"""The commands, by the name of their program (imported on first use: see nas.cli)."""

from __future__ import annotations

from nas.cli._base import Command
from nas.cli._export import ExportCommand
from nas.cli._plot import PlotCommand
from nas.cli._search import SearchCommand
from nas.cli._status import StatusCommand
from nas.cli._train import TrainCommand

COMMANDS: dict[str, type[Command]] = {
    ExportCommand.name: ExportCommand,
    PlotCommand.name: PlotCommand,
    SearchCommand.name: SearchCommand,
    StatusCommand.name: StatusCommand,
    TrainCommand.name: TrainCommand,
}
