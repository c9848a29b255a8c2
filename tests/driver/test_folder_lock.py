"""One driver per folder: a second one is refused naming the first, a lock left by a
killed driver is taken over, and a journal that two drivers wrote counts each trial once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from conftest import NAS_SEARCH

from nas import Study
from nas.driver import read_journal
from nas.evaluate import SimulatedEvaluator
from nas.problem import load_problem

PROBLEM = "problems.breast_cancer:problem"


def nas_search(*arguments, **options) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [NAS_SEARCH, "--no-progress", *map(str, arguments)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        **options,
    )


def wait_for_a_finish(out, process) -> None:
    """Until the journal holds a finished evaluation (the search is under way)."""
    deadline = time.monotonic() + 240  # a safety net only: it normally takes seconds
    while not (out / "journal.jsonl").exists() or not read_journal(out).finished:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the first search finished no evaluation"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_second_driver_is_refused_and_a_killed_drivers_lock_is_taken_over(tmp_path):
    out = tmp_path / "run"
    first = nas_search(
        "--problem", PROBLEM, "--evaluator", "serial", "--max-evals", "50", "--seed", "0",
        "--out", out,
    )  # fmt: skip
    try:
        wait_for_a_finish(out, first)
        second = nas_search("--resume", out, "--max-evals", "50")
        _, error = second.communicate(timeout=120)
        assert second.returncode == 1
        assert f"{out} is in use by another search (pid {first.pid} on " in error
        assert len(error.strip().splitlines()) == 1
        # A new search on the folder (two jobs submitted together) names the holder
        # too, rather than offering to resume a search that is running.
        new = nas_search("--problem", PROBLEM, "--max-evals", "50", "--out", out)
        _, error = new.communicate(timeout=120)
        assert new.returncode == 1
        assert f"{out} is in use by another search (pid {first.pid} on " in error
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    # The killed driver's lock is free again: a resume takes it over and continues.
    finished = len(read_journal(out).finished)
    budget = finished + 2
    third = nas_search("--resume", out, "--max-evals", budget, "--evaluator", "simulated")
    output, error = third.communicate(timeout=240)
    assert third.returncode == 0, error
    journal = read_journal(out)
    assert len(journal.finished) == budget and not journal.num_duplicates
    holder = json.loads((out / "search.lock").read_text())
    assert holder["pid"] == third.pid


def test_a_journal_with_a_repeated_finish_record_counts_each_trial_once(tmp_path, caplog):
    problem = load_problem(PROBLEM)

    def study(max_evals, **options):
        return Study(
            problem, tmp_path, "random", max_evals, progress=False, seed=1, keep_models=0,
            evaluator=SimulatedEvaluator.for_problem(problem, 2), **options,
        )  # fmt: skip

    study(4).run()
    journal = tmp_path / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    finishes = [line for line in lines if json.loads(line)["event"] == "finish"]
    # As a second driver on the folder wrote them: the same trials finished again.
    journal.write_text("".join(lines + finishes[:2]))
    assert [t.config.trial_id for t in read_journal(tmp_path).finished] == [
        json.loads(line)["trial"]["config"]["trial_id"] for line in finishes
    ]
    assert "ignored 2 repeated finish record(s)" in caplog.text
    resumed = study(6, if_exists="resume").run()
    ids = [t.config.trial_id for t in resumed.trials]
    assert sorted(ids) == list(range(6))  # 6 distinct trials for a budget of 6


def test_the_lock_names_its_holder_and_is_released_when_the_run_ends(tmp_path):
    problem = load_problem(PROBLEM)
    Study(
        problem, tmp_path, "random", 2, progress=False,
        evaluator=SimulatedEvaluator.for_problem(problem, 2),
    ).run()  # fmt: skip
    holder = json.loads((tmp_path / "search.lock").read_text())
    assert holder["pid"] == os.getpid() and holder["host"] and holder["since"]
    # Released: a process that tries it now gets it at once.
    probe = subprocess.run(
        ["python3", "-c", PROBE, str(tmp_path / "search.lock")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.strip() == "free", probe.stderr


PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except OSError:
    print("held")
"""
