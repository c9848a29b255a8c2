"""Benchmark: faults survived. Kills of a real search at random instants, and bad inputs.

Measurements, printed as tables:

* **kills**: for each seed, a real ``nas-search`` (process pool, random search on
  ``problems.breast_cancer:problem``) is killed with SIGKILL — the driver and its worker
  processes at once, as a node failure or the scheduler's kill would — at a random
  instant (uniform over a window), then resumed with ``--resume``; again and again, then
  resumed to the end. Counted: kills survived, evaluations lost (a trial id of the
  budget never finished, or a finished result changed by a later session) and duplicated
  (a trial id finished twice). Both must be 0.
* **damaged journal**: for each seed, the same search is run to half its budget, then
  one complete line in the middle of its journal, drawn at random, is cut to half (as a
  disk or file system fault would leave it, not a kill). A resume must refuse it with
  one line naming ``journal.jsonl:LINE``; ``--resume --repair`` must set the line aside
  in ``journal.damaged.jsonl`` and run the search to its budget.
* **full disk**: for each seed, the same search (keeping models, as by default) runs in
  a 4 MiB tmpfs holding a filler file that leaves a random 4-24 KiB free, until it
  stops with one line naming a file and the full disk; the filler is deleted and the
  search resumed to its budget (started again when the disk was full before it
  recorded anything, as the line then says). Needs root to mount the tmpfs (else reported skipped).

  For both, counted: evaluations lost (a trial id of the budget never finished) and
  duplicated (finished twice), both must be 0; failed evaluations, split into those
  the full disk failed on purpose (a trained model that could not be saved is recorded
  as failed, stage ``save``, naming the file) and the wrongly failed (any other error),
  which must be 0.
* **stop signals**: for each seed, the same search gets SIGTERM, sent to its process
  group as a batch scheduler sends it, at an instant found from its folder: while its
  workers start (the journal's start record has appeared: they are importing
  TensorFlow), twice, then it is resumed to the end; and in its final close (the
  journal holds the budget's last result: the driver closes its files and workers and
  prints its summary). Counted: clean stops (exit 0), evaluations lost, duplicated and
  wrongly failed (recorded as failed or timed out: a stop leaves them to the resume).
  All but the clean stops must be 0.
* **chosen kills**: for each seed, the same search is killed with SIGKILL (its whole
  process group) once, at an instant chosen and found from its folder or its output:
  0.3 s into start-up (nothing written yet); as ``settings.json`` appears (before the
  journal exists); as the journal gets the budget's last finish (the driver then writes
  its row and rewrites ``results.csv`` in trial order); and as the summary starts
  printing (stdout unbuffered: everything is closed, the process is about to exit).
  Then it is resumed to the end (started again when nothing was recorded). Counted:
  evaluations lost (never finished, or a result changed by a later session),
  duplicated, wrongly failed (failed or timed out), and whether ``results.csv`` holds
  one row per trial id at the end. All must be 0 (and yes).
* **two drivers**: for each seed, the same search is started; once its journal holds a
  finish, ``nas-search --resume DIR`` and a new ``nas-search --out DIR ...`` are started
  together. Both must be refused: exit 1, one line naming the first (``DIR is in use by
  another search (pid N on HOST, since ...)``); the first must run to its budget, every
  trial id finished once, one row each in ``results.csv``. Counted: second drivers
  refused and accepted, evaluations lost and duplicated.
* **bad inputs**: command lines and API calls that are wrong in one way each. A clear
  error is, for a command: a non-zero exit, one line on stderr, no traceback, naming
  the bad value; for a call: a ``ValueError``/``TypeError`` (nas's errors derive from
  them) raised before anything runs, naming the bad value.

Run: ``PYTHONPATH=. .venv/bin/python scripts/bench_faults.py [--seeds 0 1 2] [--kills 4]
[--max-evals 12] [--faults kills damaged full-disk signals chosen-kills concurrent
bad-inputs]``
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBLEM = "problems.breast_cancer:problem"


# -- kills ----------------------------------------------------------------------------


def finish_records(out: Path) -> list[dict]:
    """The finish records of a journal (complete lines only)."""
    path = out / "journal.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text().split("\n")[:-1]:  # the last piece may be torn
        record = json.loads(line)
        if record["event"] == "finish":
            records.append(record["trial"])
    return records


def search_command(out: Path, seed: int, max_evals: int, resume: bool) -> list[str]:
    base = [
        sys.executable,
        "-c",
        "from nas.cli import search_main; raise SystemExit(search_main())",
    ]
    if resume:
        return [*base, "--resume", str(out), "--no-progress"]
    return [
        *base,
        "--problem",
        PROBLEM,
        "--search",
        "random",
        "--max-evals",
        str(max_evals),
        "--workers",
        "2",
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--no-progress",
    ]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}


@dataclass
class KillRun:
    seed: int
    kills: int = 0
    sessions: int = 0
    lost: int = 0
    duplicated: int = 0
    changed: int = 0
    seconds: float = 0.0


def kill_and_resume(seed: int, kills: int, max_evals: int, directory: Path) -> KillRun:
    """Kill a search ``kills`` times at random instants, resume it to the end, check it."""
    rng = random.Random(seed)
    out = directory / f"seed{seed}"
    run = KillRun(seed)
    seen: dict[int, dict] = {}  # trial id -> its result, as first finished
    start = time.monotonic()
    while True:
        resume = (out / "journal.jsonl").exists()
        process = subprocess.Popen(
            search_command(out, seed, max_evals, resume),
            env=environment(),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        run.sessions += 1
        if run.kills < kills:
            # Random instants: during start-up, between and in the middle of evaluations.
            time.sleep(rng.uniform(2.0, 12.0))
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                run.kills += 1
        process.wait()
        if run.kills >= kills and process.returncode == 0:
            if len({t["config"]["trial_id"] for t in finish_records(out)}) >= max_evals:
                break
        for trial in finish_records(out):
            trial_id = trial["config"]["trial_id"]
            if trial_id in seen and seen[trial_id] != trial["result"]:
                run.changed += 1
            seen.setdefault(trial_id, trial["result"])
    records = finish_records(out)
    ids = [trial["config"]["trial_id"] for trial in records]
    run.duplicated = len(ids) - len(set(ids))
    run.lost = len(set(range(max_evals)) - set(ids)) + run.changed
    run.seconds = time.monotonic() - start
    return run


# -- a damaged journal, a full disk -------------------------------------------------


@dataclass
class DamageRun:
    """One damaged journal or full disk survived (or not), and what it cost."""

    seed: int
    what: str = ""  # the damaged line, or the file the full disk stopped
    refused_clearly: bool = False  # one line, exit 1, naming the file (and the line)
    set_aside: bool = False  # the damaged line is in journal.damaged.jsonl
    completed: bool = False  # the resume ran the search to its budget
    lost: int = 0
    duplicated: int = 0
    failed_by_the_disk: int = 0
    wrongly_failed: int = 0
    seconds: float = 0.0
    skipped: str = ""


def run_cli(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def resume_command(out: Path, max_evals: int, *more: str) -> list[str]:
    return [*search_command(out, 0, max_evals, resume=True), "--max-evals", str(max_evals), *more]


def one_clear_line(done: subprocess.CompletedProcess[str], pattern: str) -> tuple[bool, str]:
    """Whether a command failed with exit 1 and one stderr line matching ``pattern``."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    clear = done.returncode == 1 and len(lines) == 1 and re.search(pattern, line) is not None
    return clear, line


def count_outcome(run: DamageRun, out: Path, max_evals: int) -> None:
    """Lost, duplicated and failed evaluations of the finished search in ``out``."""
    records = finish_records(out)
    ids = [trial["config"]["trial_id"] for trial in records]
    run.duplicated = len(ids) - len(set(ids))
    run.lost = len(set(range(max_evals)) - set(ids))
    for trial in records:
        result = trial["result"]
        if result["status"] == "ok":
            continue
        if result.get("error_stage") == "save" and "the disk is full" in result["error"]:
            run.failed_by_the_disk += 1
        else:
            run.wrongly_failed += 1


def damage_and_repair(seed: int, max_evals: int, directory: Path) -> DamageRun:
    """Cut a random middle line of a half-run search's journal, then resume and repair."""
    rng = random.Random(seed)
    out = directory / f"damaged{seed}"
    run = DamageRun(seed)
    start = time.monotonic()
    first = run_cli(search_command(out, seed, max_evals // 2, resume=False))
    assert first.returncode == 0, first.stderr
    journal = out / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    number = rng.randrange(2, len(lines))  # 1-based, neither the start nor the last
    event = json.loads(lines[number - 1])["event"]
    lines[number - 1] = lines[number - 1][: len(lines[number - 1]) // 2] + "\n"
    journal.write_text("".join(lines))
    run.what = f"line {number} of {len(lines)} ({event})"
    refused = run_cli(resume_command(out, max_evals))
    run.refused_clearly, _ = one_clear_line(refused, rf"{re.escape(str(journal))}:{number}: ")
    repaired = run_cli(resume_command(out, max_evals, "--repair"))
    run.completed = repaired.returncode == 0
    side = out / "journal.damaged.jsonl"
    aside = [json.loads(line) for line in side.read_text().splitlines()] if side.exists() else []
    run.set_aside = [item["line"] for item in aside] == [number]
    if run.completed:  # else the damaged line is still there to trip the count
        count_outcome(run, out, max_evals)
    run.seconds = time.monotonic() - start
    return run


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[str]:
    """A tmpfs of ``size`` on ``folder`` while in the block; yields why not, or ""."""
    folder.mkdir(parents=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]
    done = subprocess.run(mount, capture_output=True, text=True, check=False)
    try:
        yield "" if done.returncode == 0 else done.stderr.strip() or "mount failed"
    finally:
        if done.returncode == 0:
            subprocess.run(["umount", "--lazy", str(folder)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """A filler file leaving about ``leave`` bytes free on ``disk``."""
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with filler.open("wb") as file:
        file.write(b"\0" * max(0, free - leave))
    return filler


def fill_the_disk(seed: int, max_evals: int, directory: Path) -> DamageRun:
    """Run a search on a nearly full tmpfs to the full disk, free it, resume it."""
    rng = random.Random(seed)
    disk = directory / f"disk{seed}"
    run = DamageRun(seed)
    start = time.monotonic()
    with tmpfs(disk, "4m") as why_not:
        if why_not:
            run.skipped = f"cannot mount a tmpfs: {why_not}"
            return run
        # Little enough that the journal and results.csv fill it too, within the budget.
        filler = fill(disk, rng.randrange(4, 25) * 1024)
        out = disk / "run"
        stopped = run_cli(search_command(out, seed, max_evals, resume=False))
        pattern = rf"DiskFullError: cannot write {re.escape(str(out))}/(\S+): the disk is full"
        run.refused_clearly, line = one_clear_line(stopped, pattern)
        found = re.search(pattern, line)
        run.what = found.group(1) if found else f"exit {stopped.returncode}: {line[:60]}"
        filler.unlink()
        # As the line says: resume, or start again when it was full before any record.
        resumable = (out / "settings.json").exists()
        if not resumable:
            run.what += " (started again)"
        again = search_command(out, seed, max_evals, resume=False)
        resumed = run_cli(resume_command(out, max_evals) if resumable else again)
        run.completed = resumed.returncode == 0
        count_outcome(run, out, max_evals)
    run.seconds = time.monotonic() - start
    return run


def print_damage_header(title: str) -> None:
    print(
        f"| {title} | seed | what | clear error | set aside | completed | evaluations | "
        "lost | duplicated | failed by the full disk | wrongly failed | s |"
    )
    print("| --- | ---: | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")


def print_damage_row(title: str, run: DamageRun, max_evals: int) -> None:
    if run.skipped:
        print(f"| {title} | {run.seed} | skipped: {run.skipped} |", flush=True)
        return
    yes = {True: "yes", False: "NO"}
    aside = yes[run.set_aside] if title == "damaged journal" else "-"
    print(
        f"| {title} | {run.seed} | {run.what} | {yes[run.refused_clearly]} | {aside} | "
        f"{yes[run.completed]} | {max_evals} | {run.lost} | {run.duplicated} | "
        f"{run.failed_by_the_disk} | {run.wrongly_failed} | {run.seconds:.0f} |",
        flush=True,
    )


# -- stop signals ---------------------------------------------------------------------


def started(out: Path, max_evals: int, session: int) -> bool:
    """The journal holds the start record of session ``session`` (1, 2, ...): its
    workers were just started (each session writes one, once they are)."""
    path = out / "journal.jsonl"
    return path.exists() and path.read_text().count('"event": "start"') >= session


def budget_met(out: Path, max_evals: int, session: int = 0) -> bool:
    """The journal holds the budget's last result: the search is closing."""
    return len({t["config"]["trial_id"] for t in finish_records(out)}) >= max_evals


#: When SIGTERM is sent, by what shows the instant in the search's folder (given the
#: budget and the session), and to how many sessions (a search closing at its budget
#: has no session after it).
SIGNAL_MOMENTS: dict[str, tuple[Callable[[Path, int, int], bool], int]] = {
    "worker start-up": (started, 2),
    "final close": (budget_met, 1),
}


@dataclass
class SignalRun:
    moment: str
    seed: int
    max_evals: int
    signals: int = 0
    clean: int = 0  # signalled sessions that ended with exit code 0
    sessions: int = 0
    lost: int = 0
    duplicated: int = 0
    wrongly_failed: int = 0
    seconds: float = 0.0


def came(moment: Callable[[Path, int, int], bool], out: Path, run: SignalRun, process) -> bool:
    """Whether ``moment`` came while ``process`` ran (looked for every 20 ms)."""
    while process.poll() is None:
        if moment(out, run.max_evals, run.sessions):
            return True
        time.sleep(0.02)
    return False


def signal_and_resume(moment: str, seed: int, max_evals: int, directory: Path) -> SignalRun:
    """SIGTERM to a search at ``moment``, as many times as set, resume it to the end."""
    condition, signals = SIGNAL_MOMENTS[moment]
    out = directory / f"{moment.replace(' ', '-')}-seed{seed}"
    run = SignalRun(moment, seed, max_evals)
    start = time.monotonic()
    while not budget_met(out, max_evals):
        process = subprocess.Popen(
            search_command(out, seed, max_evals, resume=(out / "settings.json").exists()),
            env=environment(),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        run.sessions += 1
        signalled = run.signals < signals and came(condition, out, run, process)
        if signalled:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            run.signals += 1
        process.wait()
        run.clean += signalled and process.returncode == 0
    records = finish_records(out)
    ids = [trial["config"]["trial_id"] for trial in records]
    run.duplicated = len(ids) - len(set(ids))
    run.lost = len(set(range(max_evals)) - set(ids))
    run.wrongly_failed = sum(t["result"]["status"] in ("failed", "timeout") for t in records)
    run.seconds = time.monotonic() - start
    return run


def print_signal_table(seeds: list[int], max_evals: int, directory: Path) -> None:
    print(
        "| SIGTERM at | seed | signals | clean stops | sessions | evaluations | lost | "
        "duplicated | wrongly failed | s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for moment in SIGNAL_MOMENTS:
        for seed in seeds:
            run = signal_and_resume(moment, seed, max_evals, directory)
            print(
                f"| {moment} | {seed} | {run.signals} | {run.clean} | {run.sessions} | "
                f"{max_evals} | {run.lost} | {run.duplicated} | {run.wrongly_failed} | "
                f"{run.seconds:.0f} |",
                flush=True,
            )


# -- chosen kills ---------------------------------------------------------------------


def results_ids(out: Path) -> list[int]:
    """The trial ids of results.csv's rows, in file order ([] when there is none)."""
    path = out / "results.csv"
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as file:
        return [int(row["trial_id"]) for row in csv.DictReader(file)]


def one_row_per_id(out: Path, max_evals: int) -> bool:
    """results.csv holds one row per trial id of the budget, each once."""
    return sorted(results_ids(out)) == list(range(max_evals))


def after_start_up(out: Path, max_evals: int, process: subprocess.Popen) -> bool:
    """0.3 s after the start: the interpreter imports nas, nothing is written yet."""
    time.sleep(0.3)
    return process.poll() is None


def settings_appear(out: Path, max_evals: int, process: subprocess.Popen) -> bool:
    """settings.json appears (renamed into place whole), under the folder's lock,
    before the workers start and the journal exists (looked for every 1 ms)."""
    path = out / "settings.json"
    while process.poll() is None:
        if path.exists():
            return True
        time.sleep(0.001)
    return False


def last_finish(out: Path, max_evals: int, process: subprocess.Popen) -> bool:
    """The journal holds the budget's last finish: the driver is appending its row and
    closing the journal and results.csv, rewritten in trial order (the journal's size is
    looked at every 1 ms, its records read when it changed)."""
    path = out / "journal.jsonl"
    size = -1
    while process.poll() is None:
        with contextlib.suppress(FileNotFoundError):
            now = path.stat().st_size
            if now != size:
                size = now
                if budget_met(out, max_evals):
                    return True
        time.sleep(0.001)
    return False


def summary_starts(out: Path, max_evals: int, process: subprocess.Popen) -> bool:
    """The summary's first line ("N evaluations (...)") is on stdout (unbuffered): the
    journal, results.csv and the workers are closed, the process is about to exit."""
    assert process.stdout is not None
    for line in process.stdout:
        if re.match(r"\d+ evaluations \(", line):
            return True
    return False


#: Where SIGKILL lands: a function that returns once the instant has come (True) or
#: the process ended first (False).
KILL_MOMENTS: dict[str, Callable[[Path, int, subprocess.Popen], bool]] = {
    "start-up (0.3 s)": after_start_up,
    "settings.json appears": settings_appear,
    "results.csv rewrite (last finish)": last_finish,
    "final close (summary)": summary_starts,
}


@dataclass
class ChosenKill:
    moment: str
    seed: int
    killed: bool = False
    at_kill: str = ""  # what the folder held when the kill landed
    sessions: int = 0
    fresh_starts: int = 0  # sessions after the kill started anew: nothing was recorded
    completed: bool = False  # the last session exited 0 with the budget met
    lost: int = 0
    duplicated: int = 0
    wrongly_failed: int = 0
    rows_ok: bool = False  # results.csv: one row per trial id
    seconds: float = 0.0


def folder_state(out: Path, max_evals: int) -> str:
    """What ``out`` holds, in a few words."""
    if not (out / "settings.json").exists():
        return "no settings.json" + ("" if out.exists() else ", no folder")
    if not (out / "journal.jsonl").exists():
        return "settings.json, no journal"
    finished = len(finish_records(out))
    rows = len(results_ids(out))
    temporary = " + .results.csv.tmp" if (out / ".results.csv.tmp").exists() else ""
    return f"{finished}/{max_evals} finished, {rows} rows{temporary}"


def kill_at(moment: str, seed: int, max_evals: int, directory: Path) -> ChosenKill:
    """SIGKILL a search's process group at ``moment``, then resume it to the end."""
    wait = KILL_MOMENTS[moment]
    out = directory / f"chosen-{wait.__name__}-seed{seed}"
    run = ChosenKill(moment, seed)
    start = time.monotonic()
    process = subprocess.Popen(
        search_command(out, seed, max_evals, resume=False),
        env={**environment(), "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if wait is summary_starts else subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    run.sessions = 1
    if wait(out, max_evals, process):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        run.killed = True
    if process.stdout is not None:
        process.stdout.close()
    process.wait()
    run.at_kill = folder_state(out, max_evals)
    at_kill = {t["config"]["trial_id"]: t["result"] for t in finish_records(out)}
    # Resumed to the end (at least once, the budget met or not), or started anew when
    # nothing was recorded; a few sessions at most.
    while run.sessions < 5:
        resumable = (out / "settings.json").exists()
        run.fresh_starts += not resumable
        done = run_cli(
            resume_command(out, max_evals)
            if resumable
            else search_command(out, seed, max_evals, resume=False)
        )
        run.sessions += 1
        if done.returncode == 0 and budget_met(out, max_evals):
            run.completed = True
            break
    records = finish_records(out)
    ids = [trial["config"]["trial_id"] for trial in records]
    changed = sum(
        trial["config"]["trial_id"] in at_kill
        and at_kill[trial["config"]["trial_id"]] != trial["result"]
        for trial in records
    )
    run.duplicated = len(ids) - len(set(ids))
    run.lost = len(set(range(max_evals)) - set(ids)) + changed
    run.wrongly_failed = sum(t["result"]["status"] in ("failed", "timeout") for t in records)
    run.rows_ok = one_row_per_id(out, max_evals)
    run.seconds = time.monotonic() - start
    return run


def print_chosen_kill_table(seeds: list[int], max_evals: int, directory: Path) -> None:
    print(
        "| SIGKILL at | seed | killed | the folder at the kill | sessions | fresh starts | "
        "completed | evaluations | lost | duplicated | wrongly failed | "
        "results.csv one row per id | s |"
    )
    print(
        "| --- | ---: | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: |"
    )
    yes = {True: "yes", False: "NO"}
    for moment in KILL_MOMENTS:
        for seed in seeds:
            run = kill_at(moment, seed, max_evals, directory)
            print(
                f"| {moment} | {seed} | {yes[run.killed]} | {run.at_kill} | {run.sessions} | "
                f"{run.fresh_starts} | {yes[run.completed]} | {max_evals} | {run.lost} | "
                f"{run.duplicated} | {run.wrongly_failed} | {yes[run.rows_ok]} | "
                f"{run.seconds:.0f} |",
                flush=True,
            )


# -- two drivers on one folder -----------------------------------------------------------


@dataclass
class ConcurrentRun:
    seed: int
    refused: int = 0  # second drivers that exited 1 with one line naming the first
    accepted: int = 0  # second drivers that ran (exit 0)
    other: str = ""  # second drivers that did neither: how they ended
    holder_ran: bool = True  # the first was still running when both were answered
    message: str = ""  # the --resume's line
    first_exit: int | None = None
    lost: int = 0
    duplicated: int = 0
    rows_ok: bool = False
    seconds: float = 0.0


def two_drivers(seed: int, max_evals: int, directory: Path) -> ConcurrentRun:
    """A search, then, once it has a finish, a ``--resume`` and a new ``--out`` of its
    folder, together: both must be refused naming the first, which runs to its budget."""
    out = directory / f"concurrent-seed{seed}"
    run = ConcurrentRun(seed)
    start = time.monotonic()
    first = subprocess.Popen(
        search_command(out, seed, max_evals, resume=False),
        env=environment(),
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while first.poll() is None and not finish_records(out):
        time.sleep(0.02)
    seconds = [
        subprocess.Popen(
            argv,
            env=environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in (
            resume_command(out, max_evals),
            search_command(out, seed, max_evals, resume=False),
        )
    ]
    holder = (
        rf"FolderInUseError: {re.escape(str(out))} is in use by another search "
        rf"\(pid {first.pid} on {re.escape(socket.gethostname())}, since [^)]+\)"
    )
    for number, second in enumerate(seconds):
        stdout, stderr = second.communicate(timeout=1800)
        done = subprocess.CompletedProcess(second.args, second.returncode, stdout, stderr)
        # "nas-search: error: FolderInUseError: DIR is in use by another search (...)"
        clear, line = one_clear_line(done, holder)
        run.holder_ran &= first.poll() is None
        if number == 0:
            run.message = line
        if clear:
            run.refused += 1
        elif done.returncode == 0:
            run.accepted += 1
        else:
            run.other += f"exit {done.returncode}: {line[:80]}; "
    run.first_exit = first.wait()
    records = finish_records(out)
    ids = [trial["config"]["trial_id"] for trial in records]
    run.duplicated = len(ids) - len(set(ids))
    run.lost = len(set(range(max_evals)) - set(ids))
    run.rows_ok = one_row_per_id(out, max_evals)
    run.seconds = time.monotonic() - start
    return run


def print_concurrent_table(seeds: list[int], max_evals: int, directory: Path) -> None:
    print(
        "| seed | second drivers | refused | accepted | first still running | first's exit | "
        "evaluations | lost | duplicated | results.csv one row per id | s | the --resume's line |"
    )
    print("| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | --- |")
    yes = {True: "yes", False: "NO"}
    for seed in seeds:
        run = two_drivers(seed, max_evals, directory)
        line = (run.other or run.message).replace("|", "/")[:140]
        print(
            f"| {seed} | 2 | {run.refused} | {run.accepted} | {yes[run.holder_ran]} | "
            f"{run.first_exit} | {max_evals} | {run.lost} | {run.duplicated} | "
            f"{yes[run.rows_ok]} | {run.seconds:.0f} | {line} |",
            flush=True,
        )


# -- bad inputs -----------------------------------------------------------------------


@dataclass
class BadInput:
    what: str
    token: str  # the bad value the message must name
    argv: list[str] | None = None  # a command, run in a subprocess
    call: Callable[[], object] | None = None  # or an API call, run here


def cli(*argv: str) -> list[str]:
    tool, *rest = argv
    function = {
        "nas-search": "search_main",
        "nas-train": "train_main",
        "nas-export": "export_main",
        "nas-plot": "plot_main",
    }[tool]
    code = f"from nas.cli import {function}; raise SystemExit({function}())"
    return [sys.executable, "-c", code, *rest]


def bad_inputs(directory: Path) -> list[BadInput]:
    from nas.problem import Float, Int, Problem
    from nas.search import AgEBO, RegularizedEvolution
    from nas.space import ConstantNode, Layer, SearchSpace

    held = directory / "held"
    held.mkdir(exist_ok=True)
    # A whole record: an empty journal was killed before its first, and holds no search.
    (held / "journal.jsonl").write_text('{"event": "start", "settings": {}}\n')
    out = str(directory / "new")

    def cycle() -> object:
        space = SearchSpace({"x": (3,)})
        a = space.add(ConstantNode(Layer("Dense", units=2), name="a"), space.input("x"))
        b = space.add(ConstantNode(Layer("Dense", units=2), name="b"), a)
        return space.connect(b, a)

    def problem(**changes: object) -> object:
        arguments: dict = {
            "name": "p",
            "load_data": lambda: None,
            "space": "spaces.dense_skip:dense_skip_space",
            "loss": "mse",
            "metrics": ["mae"],
            "objective": "val_mae",
            "direction": "min",
        }
        return Problem(**{**arguments, **changes})

    return [
        BadInput(
            "problem module missing",
            "nosuchmodule",
            cli("nas-search", "--problem", "nosuchmodule:problem", "--out", out),
        ),
        BadInput(
            "problem attribute missing",
            "nope",
            cli("nas-search", "--problem", "problems.breast_cancer:nope", "--out", out),
        ),
        BadInput(
            "problem reference with two colons",
            "a:b:c",
            cli("nas-search", "--problem", "a:b:c", "--out", out),
        ),
        BadInput(
            "--max-evals 0",
            "'0'",
            cli("nas-search", "--problem", PROBLEM, "--max-evals", "0", "--out", out),
        ),
        BadInput(
            "--max-evals ten",
            "'ten'",
            cli("nas-search", "--problem", PROBLEM, "--max-evals", "ten", "--out", out),
        ),
        BadInput(
            "unknown --search",
            "nosuch",
            cli("nas-search", "--problem", PROBLEM, "--search", "nosuch", "--out", out),
        ),
        BadInput(
            "--workers -1",
            "'-1'",
            cli("nas-search", "--problem", PROBLEM, "--workers", "-1", "--out", out),
        ),
        BadInput(
            "--timeout -5",
            "'-5'",
            cli("nas-search", "--problem", PROBLEM, "--timeout", "-5", "--out", out),
        ),
        BadInput(
            "--resume of a folder without a search",
            "nothing-here",
            cli("nas-search", "--resume", str(directory / "nothing-here")),
        ),
        BadInput(
            "--out holding a search",
            str(held),
            cli("nas-search", "--problem", PROBLEM, "--out", str(held)),
        ),
        BadInput(
            "grid flag without --search grid",
            "--grid-points",
            cli("nas-search", "--problem", PROBLEM, "--grid-points", "3", "--out", out),
        ),
        BadInput(
            "nas-train arch_seq out of range",
            "999",
            cli("nas-train", "--problem", PROBLEM, "--arch", json.dumps([999] + [0] * 16)),
        ),
        BadInput(
            "nas-train unknown hyperparameter",
            "momentum",
            cli("nas-train", "--problem", PROBLEM, "--hp", "momentum=0.9"),
        ),
        BadInput(
            "nas-export of a folder without a search",
            "nothing-here",
            cli("nas-export", str(directory / "nothing-here")),
        ),
        BadInput(
            "nas-plot of a folder without a search",
            "nothing-here",
            cli("nas-plot", str(directory / "nothing-here")),
        ),
        BadInput("a cycle in a space", "'a'", call=cycle),
        BadInput("a misspelt layer argument", "unitz", call=lambda: Layer("Dense", unitz=3)),
        BadInput("an unknown layer", "Dens", call=lambda: Layer("Dens", units=3)),
        BadInput("Int bounds reversed", "5", call=lambda: Int(5, 1)),
        BadInput("a log range from 0", "0", call=lambda: Float(0.0, 1.0, log=True)),
        BadInput(
            "an objective that is not measured",
            "val_accuracy",
            call=lambda: problem(objective="val_accuracy", direction="max"),
        ),
        BadInput(
            "a width that is not a power of two",
            "3",
            call=lambda: problem(hyperparameters={"num_ranks": Int(1, 3)}),
        ),
        BadInput(
            "population_size 0", "0", call=lambda: RegularizedEvolution([3, 2], population_size=0)
        ),
        BadInput(
            "sample larger than the population",
            "sample_size",
            call=lambda: AgEBO(
                [3, 2], {"learning_rate": Float(1e-3, 1e-1)}, population_size=4, sample_size=8
            ),
        ),
    ]


def try_input(case: BadInput) -> tuple[bool, str]:
    """Whether ``case`` gives a clear error, and the message it gave."""
    if case.argv is not None:
        done = subprocess.run(
            case.argv,
            env=environment(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        message = lines[-1] if lines else ""
        clear = (
            done.returncode != 0
            and len(lines) == 1
            and "Traceback" not in done.stderr
            and case.token in done.stderr
        )
        return clear, message
    try:
        case.call()  # type: ignore[misc]
    except (ValueError, TypeError) as error:
        return case.token in str(error), f"{type(error).__name__}: {error}"
    except Exception as error:  # noqa: BLE001 - any other type is not a clear error
        return False, f"{type(error).__name__}: {error}"
    return False, "no error"


# -- report ---------------------------------------------------------------------------

FAULTS = ("kills", "damaged", "full-disk", "signals", "chosen-kills", "concurrent", "bad-inputs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--kills", type=int, default=4, help="kills per seed")
    parser.add_argument("--max-evals", type=int, default=12)
    parser.add_argument("--skip-kills", action="store_true", help="as --faults without kills")
    parser.add_argument(
        "--faults",
        nargs="+",
        choices=FAULTS,
        default=list(FAULTS),
        help="which measurements to run (default: all)",
    )
    args = parser.parse_args()
    faults = [fault for fault in args.faults if not (args.skip_kills and fault == "kills")]
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        if "kills" in faults:
            print("| seed | kills survived | sessions | evaluations | lost | duplicated | s |")
            print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for seed in args.seeds:
                run = kill_and_resume(seed, args.kills, args.max_evals, directory)
                print(
                    f"| {seed} | {run.kills} | {run.sessions} | {args.max_evals} | "
                    f"{run.lost} | {run.duplicated} | {run.seconds:.0f} |",
                    flush=True,
                )
        for fault, title, measure in [
            ("damaged", "damaged journal", damage_and_repair),
            ("full-disk", "full disk", fill_the_disk),
        ]:
            if fault in faults:
                print()
                print_damage_header(title)
                for seed in args.seeds:
                    print_damage_row(
                        title, measure(seed, args.max_evals, directory), args.max_evals
                    )
        if "signals" in faults:
            print()
            print_signal_table(args.seeds, args.max_evals, directory)
        if "chosen-kills" in faults:
            print()
            print_chosen_kill_table(args.seeds, args.max_evals, directory)
        if "concurrent" in faults:
            print()
            print_concurrent_table(args.seeds, args.max_evals, directory)
        if "bad-inputs" not in faults:
            return
        print()
        cases = bad_inputs(directory)
        results = [(case, *try_input(case)) for case in cases]
        print("| bad input | clear error | message |")
        print("| --- | --- | --- |")
        for case, clear, message in results:
            shown = message.replace("|", "/")[:110]
            print(f"| {case.what} | {'yes' if clear else 'NO'} | {shown} |")
        print(
            f"\n{sum(clear for _, clear, _ in results)} of {len(results)} bad inputs "
            "gave a clear error"
        )


if __name__ == "__main__":
    main()
