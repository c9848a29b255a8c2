"""What every command does before its work: the working folder on the import path, and
TensorFlow's C++ log level (``--tf-logs``) for it and the processes it starts."""

from __future__ import annotations

import importlib
import os
import sys

import pytest

from nas._imports import TF_LOG_LEVEL_VARIABLE
from nas.cli import Command, run_command


class ImportCommand(Command):
    """Imports a module by name, as ``--problem module:attribute`` does."""

    name = "nas-import"
    description = "Import a module."
    uses_tensorflow = True

    def add_arguments(self, parser):
        parser.add_argument("module")

    def run(self, args):
        print(importlib.import_module(args.module).GREETING)
        return 0


class PlainCommand(ImportCommand):
    name = "nas-plain"
    uses_tensorflow = False


@pytest.fixture
def working_folder(tmp_path, monkeypatch):
    """A working folder holding a user's module; the import path is restored after."""
    (tmp_path / "users_module_xyz.py").write_text("GREETING = 'hello from the folder'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    yield tmp_path
    sys.modules.pop("users_module_xyz", None)


def test_a_command_imports_modules_from_its_working_folder(working_folder, capsys):
    assert run_command(ImportCommand(), ["users_module_xyz"]) == 0
    assert capsys.readouterr().out == "hello from the folder\n"
    assert sys.path[0] == str(working_folder)  # first, as with python -m


def test_tensorflow_logs_are_quiet_unless_the_user_set_a_level(working_folder, monkeypatch):
    monkeypatch.delenv(TF_LOG_LEVEL_VARIABLE, raising=False)
    assert run_command(ImportCommand(), ["users_module_xyz"]) == 0
    assert os.environ[TF_LOG_LEVEL_VARIABLE] == "2"  # inherited by workers and ranks
    monkeypatch.setenv(TF_LOG_LEVEL_VARIABLE, "1")
    assert run_command(ImportCommand(), ["users_module_xyz"]) == 0
    assert os.environ[TF_LOG_LEVEL_VARIABLE] == "1"


def test_tf_logs_shows_every_line(working_folder, monkeypatch):
    monkeypatch.setenv(TF_LOG_LEVEL_VARIABLE, "2")  # as scripts/env.sh sets it
    assert run_command(ImportCommand(), ["--tf-logs", "users_module_xyz"]) == 0
    assert os.environ[TF_LOG_LEVEL_VARIABLE] == "0"


def test_only_commands_using_tensorflow_take_tf_logs(working_folder, capsys):
    assert run_command(PlainCommand(), ["--tf-logs", "users_module_xyz"]) == 2
    assert "unrecognized arguments: --tf-logs" in capsys.readouterr().err
