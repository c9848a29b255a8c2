"""``nas-status DIR`` on a finished search and on one that is running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nas
from nas.cli import COMMANDS, StatusCommand, status_main

ROOT = Path(__file__).resolve().parents[2]


def status(capsys, *argv) -> tuple[int, str, str]:
    code = status_main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_is_registered_and_installed_as_nas_status(capsys):
    assert COMMANDS["nas-status"] is StatusCommand
    assert 'nas-status = "nas.cli:status_main"' in (ROOT / "pyproject.toml").read_text()
    assert status_main(["--help"]) == 0
    assert "--direction" in capsys.readouterr().out


def test_status_of_a_finished_search(finished_search, capsys):
    results = nas.load_results(finished_search)
    best = results.best(1)[0]
    code, out, err = status(capsys, finished_search)
    assert code == 0, err
    lines = out.splitlines()
    search = "random on problems.breast_cancer:problem with asha"
    assert lines[0] == f"{finished_search}: {search}, 1 session"
    assert "done       12 of 12 evaluations, 0 failed" in lines
    assert "running    0" in lines
    assert f"best       val_accuracy {best.objective:.6g} (max) in trial {best.trial_id}" in lines
    assert f"           arch_seq {best.arch_seq}" in lines
    assert f"optimizer={best.hyperparameters['optimizer']}" in out
    assert any(line.startswith("rate ") and "evaluations per minute" in line for line in lines)
    assert "time left  0 s (the budget is reached)" in lines
    assert any(line.startswith("updated    ") and line.endswith(" ago)") for line in lines)


def test_status_of_a_running_search(running_snapshot, capsys):
    directory = running_snapshot(20, torn='{"event": "sub')
    results = nas.load_results(directory)
    assert results.running and results.trials
    code, out, err = status(capsys, directory)
    assert code == 0, err
    assert f"done       {len(results.trials)} of 12 evaluations, 0 failed" in out
    assert f"running    {len(results.running)}\n" in out
    assert f"in trial {results.best(1)[0].trial_id}\n" in out
    assert "budget is reached" not in out and "time left  -" not in out


def test_status_before_the_first_result(running_snapshot, capsys):
    code, out, _ = status(capsys, running_snapshot(2))
    assert code == 0
    assert "done       0 of 12 evaluations, 0 failed" in out
    assert "best       - (no successful evaluation yet)" in out
    assert "rate       -" in out and "time left  - (no evaluation has finished yet)" in out


def test_a_folder_without_a_search_exits_2_naming_it(tmp_path, capsys):
    code, out, err = status(capsys, tmp_path)
    assert (code, out) == (2, "")
    assert f"nas-status: error: {tmp_path} holds no search (no journal.jsonl)" in err
    code, _, err = status(capsys, tmp_path / "typo")
    assert code == 2 and f"{tmp_path / 'typo'} is not a folder" in err


def test_a_problem_that_cannot_be_imported_needs_direction(earlier_version_snapshot, capsys):
    # A folder written before the direction was recorded, its problem moved away.
    directory = earlier_version_snapshot("moved_away:problem")
    code, _, err = status(capsys, directory)
    assert code == 1 and "moved_away" in err and "direction=" not in err
    assert f"pass --direction max or min to summarise {directory} without it" in err
    code, out, err = status(capsys, directory, "--direction", "max")
    assert code == 0, err
    assert "best       objective " in out


def test_the_nas_status_program(finished_search):
    """As a user types it, in another process (the installed script when there is one)."""
    program = Path(sys.executable).parent / "nas-status"
    command = [str(program)] if program.exists() else [
        sys.executable, "-c", "from nas.cli import status_main; raise SystemExit(status_main())"
    ]  # fmt: skip
    done = subprocess.run(
        [*command, str(finished_search)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert done.returncode == 0, done.stderr
    assert "done       12 of 12 evaluations, 0 failed" in done.stdout
