"""SIGTERM and SIGINT stop a search cleanly at any instant: at start-up, while its
workers start, in its final close. Exit 0, nothing recorded as failed, and a resume
finishes every trial id exactly once."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nas._stop import StopSignals, stop_signals
from nas.driver import SearchStopped, read_journal
from nas.evaluate import ProcessPoolEvaluator
from nas.train import Status
from nas.trial import Config

HERE = Path(__file__).parent
#: A safety net for waits on progress (start-up takes seconds, more on a loaded machine).
PATIENCE = 300


# -- the handlers, in this process ------------------------------------------------------


def test_a_signal_before_the_search_touched_its_folder_stops_it_at_once():
    with stop_signals() as signals:
        with pytest.raises(SearchStopped, match="received SIGTERM before the search started"):
            with signals.interrupting():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(60)  # a data load the signal cuts short
        assert signals.received == ["SIGTERM"]


def test_a_signal_counted_earlier_stops_the_search_on_entering():
    with stop_signals() as outer:
        os.kill(os.getpid(), signal.SIGINT)  # while nas-search parses its arguments
        with stop_signals() as inner:  # the study's: the same handlers, the same count
            assert inner is outer and inner.count == 1
            with pytest.raises(SearchStopped, match="SIGINT"), inner.interrupting():
                pass


def test_a_swallowed_interruption_still_stops_the_search():
    with stop_signals() as signals, pytest.raises(SearchStopped):
        with signals.interrupting():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(60)
            except BaseException:  # noqa: BLE001 - a problem's code that swallows all
                pass


def test_handlers_are_restored_unless_kept():
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
    try:
        with StopSignals(keep=True):
            pass
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN  # until the program ends
    finally:
        signal.signal(signal.SIGTERM, before)


# -- worker processes -----------------------------------------------------------------


def _signal_new_workers(signalled: set[int]) -> None:
    """SIGTERM and SIGINT to the worker processes not in ``signalled`` (in their first
    milliseconds: Python starting, far from their main loop); added to it."""
    for process in multiprocessing.active_children():
        if process.pid not in signalled:
            os.kill(process.pid, signal.SIGTERM)
            os.kill(process.pid, signal.SIGINT)
            signalled.add(process.pid)


@pytest.mark.slow
def test_workers_ignore_stop_signals_from_their_first_instruction():
    """At its first start and when it is recycled (after each evaluation, here)."""
    signalled: set[int] = set()
    with ProcessPoolEvaluator(
        "toy_problems:problem", num_workers=1, max_evals_per_worker=1
    ) as pool:
        _signal_new_workers(signalled)
        trials = []
        for trial_id in range(2):
            pool.submit(Config(trial_id, (0, 0, 0, 0, 0), {"learning_rate": 0.01}, seed=0))
            while pool.num_running:
                trials += pool.collect(timeout=PATIENCE)
            _signal_new_workers(signalled)  # the recycled one's successor
    assert len(signalled) == 3  # the first worker and two successors
    assert [trial.result.status for trial in trials] == [Status.OK, Status.OK], trials


# -- nas-search, as a user runs it --------------------------------------------------------


def _start(out: Path, *arguments: str) -> subprocess.Popen[str]:
    """``nas-search ARGUMENTS`` in its own process group (a batch job's signals reach
    the whole group: the driver and its workers)."""
    command = [
        sys.executable,
        "-c",
        "from nas.cli import search_main; raise SystemExit(search_main())",
        *arguments,
        "--no-progress",
    ]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    return subprocess.Popen(
        command,
        cwd=out.parent,
        env=environment,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _new_search(out: Path, max_evals: int) -> subprocess.Popen[str]:
    return _start(
        out,
        "--problem",
        "toy_problems:problem",
        "--search",
        "random",
        "--max-evals",
        str(max_evals),
        "--workers",
        "2",
        "--seed",
        "3",
        "--out",
        str(out),
    )


def _signal_group(process: subprocess.Popen[str], number: int) -> tuple[str, str]:
    """Send ``number`` to the process group; the search's output once it ended."""
    with contextlib.suppress(ProcessLookupError):  # it may have ended meanwhile
        os.killpg(process.pid, number)
    try:
        return process.communicate(timeout=PATIENCE)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _wait_for(condition, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the search made no progress"
        time.sleep(0.05)


def _journal_lines(out: Path) -> list[str]:
    path = out / "journal.jsonl"
    return path.read_text().splitlines() if path.exists() else []


def _finished_ids(out: Path) -> list[int]:
    return [trial.config.trial_id for trial in read_journal(out).finished]


def _failed(out: Path) -> list[str]:
    journal = read_journal(out) if (out / "journal.jsonl").exists() else None
    return [] if journal is None else [t.result.error for t in journal.finished if not t.result.ok]


def _resume_to_the_end(out: Path, max_evals: int) -> None:
    """Resume (or start again, if nothing was written) and check the whole budget."""
    if (out / "settings.json").exists():
        process = _start(out, "--resume", str(out), "--max-evals", str(max_evals))
    else:
        process = _new_search(out, max_evals)
    stdout, stderr = process.communicate(timeout=PATIENCE)
    assert process.returncode == 0, stdout + stderr
    assert sorted(_finished_ids(out)) == list(range(max_evals))  # once each: none lost
    assert _failed(out) == []


@pytest.mark.slow
@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_half_a_second_in_ends_nas_search_with_exit_0(tmp_path, number):
    out = tmp_path / "run"
    process = _new_search(out, 4)
    time.sleep(0.5)  # importing, parsing its arguments: the instant the issue names
    stdout, stderr = _signal_group(process, number)
    assert process.returncode == 0, stdout + stderr
    name = signal.Signals(number).name
    assert f"received {name}" in stdout, stdout
    assert "Traceback" not in stderr, stderr
    if not (out / "journal.jsonl").exists():
        assert "nothing was run" in stdout and "run the same command again" in stdout
    assert _failed(out) == []
    _resume_to_the_end(out, 4)


@pytest.mark.slow
def test_sigterm_while_the_workers_start_loses_and_fails_nothing(tmp_path):
    out = tmp_path / "run"
    process = _new_search(out, 4)
    # The start record is written once the workers are started: they are importing
    # TensorFlow now, seconds before they could ignore a signal in their main loop.
    _wait_for(lambda: any('"event": "start"' in line for line in _journal_lines(out)), process)
    stdout, stderr = _signal_group(process, signal.SIGTERM)
    assert process.returncode == 0, stdout + stderr
    assert "died" not in stdout + stderr
    assert _failed(out) == []
    assert f"nas-search --resume {out}" in stdout
    _resume_to_the_end(out, 4)


@pytest.mark.slow
def test_sigterm_in_the_final_close_changes_nothing(tmp_path):
    out = tmp_path / "run"
    process = _new_search(out, 3)
    # The budget's last result is in the journal: the driver is closing its files and
    # its workers, or printing the summary.
    _wait_for(lambda: _journal_lines(out) and len(read_journal(out).finished) >= 3, process)
    stdout, stderr = _signal_group(process, signal.SIGTERM)
    assert process.returncode == 0, stdout + stderr
    assert "3 evaluations (0 failed)" in stdout
    assert sorted(_finished_ids(out)) == [0, 1, 2]
    _resume_to_the_end(out, 5)  # results.csv and the journal were written whole
