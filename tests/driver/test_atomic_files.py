"""A kill while a search rewrites settings.json or results.csv never leaves a part of it.

Both go through one helper (``replace_text``: a temporary file renamed over the old
one). A real process rewrites a large table in a loop, as the results table is rewritten
at 5,000 rows (a window of about 0.6 s), and is killed with SIGKILL at random instants:
the file is, every time, one whole version or another.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

REWRITER = """
import sys
from pathlib import Path
from nas.driver._files import replace_text

path = Path(sys.argv[1])
rows = int(sys.argv[2])
version = 0
while True:
    version += 1
    lines = [f"{version},{row},{'x' * 40}" for row in range(rows)]
    replace_text(path, "version,row,text\\n" + "\\n".join(lines) + "\\nend\\n")
"""


def whole(text: str, rows: int) -> bool:
    lines = text.splitlines()
    if len(lines) != rows + 2 or lines[0] != "version,row,text" or lines[-1] != "end":
        return False
    versions = {line.split(",")[0] for line in lines[1:-1]}
    return len(versions) == 1


def test_a_kill_during_a_rewrite_leaves_the_old_file_or_the_new_one(tmp_path):
    path, rows = tmp_path / "results.csv", 20_000
    generator = random.Random(0)
    for kill in range(5):
        process = subprocess.Popen([sys.executable, "-c", REWRITER, str(path), str(rows)])
        try:
            deadline = time.monotonic() + 120  # a safety net only
            while not path.exists():
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(generator.uniform(0.0, 0.5))  # somewhere in a rewrite
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert whole(path.read_text(), rows), f"kill {kill}: a partial file"
    # The temporary file a kill may leave is never read as the table, and the next
    # rewrite replaces it.
    assert [p.name for p in tmp_path.iterdir() if p.name != ".results.csv.tmp"] == ["results.csv"]
