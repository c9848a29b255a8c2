"""Pool workers end with their driver, even in the middle of an evaluation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nas.driver import read_journal

TOY_PROBLEMS = Path(__file__).resolve().parent / "toy_problems.py"

#: A search whose evaluations never end by themselves (each sleeps an hour).
SCRIPT = f"""
import nas
from nas.evaluate import ProcessPoolEvaluator
from nas.problem import load_problem

problem = load_problem({str(TOY_PROBLEMS)!r} + ":problem")
from toy_problems import hanging_evaluation  # beside the problem: on the path now

if __name__ == "__main__":
    pool = ProcessPoolEvaluator(problem, num_workers=2, function=hanging_evaluation)
    nas.Study(problem, "run", "random", 4, evaluator=pool, progress=False).run()
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waits for its reaper (init, once the driver is gone): it runs no more.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[-1].split()[0] != "Z"


@pytest.mark.slow
def test_workers_end_soon_after_their_driver_is_killed_mid_evaluation(tmp_path):
    (tmp_path / "search.py").write_text(SCRIPT)
    driver = subprocess.Popen([sys.executable, "search.py"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 240  # a safety net: start-up takes seconds
        while (
            not (tmp_path / "run" / "journal.jsonl").exists()
            or not read_journal(tmp_path / "run").submitted
        ):
            assert driver.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        children = subprocess.run(
            ["pgrep", "-P", str(driver.pid)], capture_output=True, text=True
        ).stdout.split()
        workers = [int(pid) for pid in children]
        assert len(workers) >= 2  # the two workers (and multiprocessing's tracker)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    # Their evaluations would sleep for an hour: they must not outlive the driver.
    deadline = time.monotonic() + 60
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [pid for pid in workers if alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert not survivors, "workers outlived their driver"
    assert not list((tmp_path / "run").glob("models/*.keras"))  # nothing written after
