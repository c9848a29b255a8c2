"""The user guide runs the way a user runs it.

Its Python blocks, in order, as typed into a Python session started in an empty folder;
its shell blocks (after §1, the install), in order, in a shell started in a folder that
holds the files the guide saves. Neither touches the import path: the guide's
``wine.py`` is found from the working folder, by the driver, its worker processes and
the commands, as a user's module is.
"""

from __future__ import annotations

import csv
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, tensorflow_log_lines, user_environment

GUIDE = ROOT / "docs" / "guide.md"
FILE_MARKER = "# file: "
#: Where the shell blocks start: §1 installs, which the test environment has done.
FIRST_RUN_SECTION = "\n## 2. "


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)


def saved_file(block: str) -> str | None:
    """The name a Python block is saved as (``# file: wine.py``), None for code to run."""
    first_line = block.splitlines()[0]
    return first_line[len(FILE_MARKER) :].strip() if first_line.startswith(FILE_MARKER) else None


def python_session(blocks: list[str]) -> str:
    """The blocks as one session: files saved where the guide says to save them."""
    lines = []
    for block in blocks:
        name = saved_file(block)
        saving = f"with open({name!r}, 'w') as file:\n    file.write({block!r})"
        lines.append(block if name is None else saving)
    return "\n".join(lines)


def run(command: list[str], folder: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command,
        cwd=folder,
        env=user_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
    return done


@pytest.mark.slow
@pytest.mark.timeout(900)  # a dozen real searches: minutes on a loaded 2-core machine
def test_the_guide_python_blocks_run(tmp_path):
    blocks = python_blocks(GUIDE.read_text())
    assert len(blocks) >= 6
    # `python -c` is a session in that folder: '' (the folder) first on the import path,
    # and no main file for spawned workers to import again.
    run([sys.executable, "-c", python_session(blocks)], tmp_path, timeout=880)
    assert (tmp_path / "wine_arch.png").stat().st_size > 1000
    [saved_model] = (tmp_path / "runs" / "wine").glob("**/saved_model/saved_model.pb")
    assert (saved_model.parents[1] / "architecture.png").stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_guide_shell_commands_run(tmp_path):
    text = GUIDE.read_text()
    for block in python_blocks(text):
        name = saved_file(block)
        if name is not None:
            (tmp_path / name).write_text(block)
    commands = shell_blocks(text.split(FIRST_RUN_SECTION, 1)[1])
    assert any(command.startswith("nas-search") for command in commands), commands
    env_script = shlex.quote(str(ROOT / "scripts" / "env.sh"))
    script = "\n".join(["set -euo pipefail", f"source {env_script}", *commands])
    done = run(["bash", "-c", script], tmp_path, timeout=580)

    output = done.stdout + done.stderr
    assert tensorflow_log_lines(output) == []
    assert "nas-plot runs/wine" in done.stdout  # the search's summary says what is next
    with (tmp_path / "runs" / "wine" / "results.csv").open() as file:
        assert len(list(csv.DictReader(file))) == 8  # 6, then resumed to 8
    assert (tmp_path / "runs" / "wine" / "objective.png").stat().st_size > 1000
    assert len(list((tmp_path / "runs" / "wine").glob("**/saved_model/saved_model.pb"))) == 3
    # Streamed from CSV files by each worker: every evaluation ok.
    with (tmp_path / "runs" / "wine_files" / "results.csv").open() as file:
        assert [row["status"] for row in csv.DictReader(file)] == ["ok"] * 4
    tensorboard = tmp_path / "runs" / "wine_tb" / "tensorboard"
    assert sorted(path.name for path in tensorboard.iterdir()) == ["0", "1"]
    assert all(list(path.glob("**/events.out.tfevents.*")) for path in tensorboard.iterdir())
