"""The user guide's Python blocks run, in order, in an empty folder."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).parents[1] / "docs" / "guide.md"
FILE_MARKER = "# file: "


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.slow
@pytest.mark.timeout(900)  # a dozen real searches: minutes on a loaded 2-core machine
def test_the_guide_runs(tmp_path, monkeypatch):
    blocks = python_blocks(GUIDE.read_text())
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # worker processes inherit sys.path
    namespace: dict[str, object] = {"__name__": "guide"}
    try:
        for block in blocks:
            if block.startswith(FILE_MARKER):
                name = block.splitlines()[0][len(FILE_MARKER) :].strip()
                (tmp_path / name).write_text(block)
            else:
                exec(compile(block, str(GUIDE), "exec"), namespace)  # noqa: S102
    finally:
        sys.modules.pop("wine", None)
    assert (tmp_path / "wine_arch.png").stat().st_size > 1000
    folder = namespace["exported"][0].folder
    assert (folder / "saved_model" / "saved_model.pb").is_file()
    assert (folder / "architecture.png").stat().st_size > 1000
