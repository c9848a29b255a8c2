"""The append-only journal of a search: every submission and every finished trial.

One JSON document per line, written and flushed as it happens, so that a search killed
at any instant loses nothing it had finished. Only the driver writes it (shared HPC file
systems handle one writer appending far better than many). A last line cut short by a
kill is detected on reading, reported, and dropped; the next session cuts it off before
appending, so it never ends up in the middle of the file.

The configs submitted together are one record, with the search state after proposing
them: a kill never leaves the state ahead of configs the journal does not hold.
Records are flushed to the operating system, which keeps them when the process is
killed; a crash of the machine itself may lose the last seconds (no fsync per event:
on shared file systems that would cost more than the evaluations).

A line in the middle that is not a record (a disk or file system fault, a hand edit)
is not what a kill does: reading refuses it, naming the file, the line and why, and
:func:`repair_journal` (``nas-search --resume DIR --repair``) sets such lines aside in
``journal.damaged.jsonl`` and keeps the rest. A full disk stops the writer with a
:class:`~nas.exceptions.DiskFullError`; the line it cut short is a torn last line.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.driver._files import replace_text, resume_hint
from nas.exceptions import NASError, reporting_a_full_disk
from nas.trial import Config, Trial

logger = logging.getLogger("nas.driver")

JOURNAL_NAME = "journal.jsonl"
#: Where :func:`repair_journal` sets damaged lines aside, beside the journal.
DAMAGED_NAME = "journal.damaged.jsonl"
#: The errors a record of the wrong shape raises while it is read.
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError)


@dataclass
class JournalState:
    """What a journal says happened, replayed in order."""

    settings: dict[str, Any] | None = None
    submitted: dict[int, Config] = field(default_factory=dict)
    finished: list[Trial] = field(default_factory=list)
    search_state: dict[str, Any] | None = None
    num_sessions: int = 0
    #: What the scheduler decided about finished trials, by trial id (``note`` events).
    notes: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: The settings of the latest session (a resume may change ``max_evals``, ...).
    latest_settings: dict[str, Any] | None = None
    #: When events were written, in the driver's unix time (evaluators may keep their
    #: own clock: the simulated one does): each session's start, and each trial's
    #: latest submission and its finish, by trial id.
    session_starts: list[float] = field(default_factory=list)
    submit_times: dict[int, float] = field(default_factory=dict)
    finish_times: dict[int, float] = field(default_factory=dict)
    #: Finish records of a trial already finished, ignored.
    num_duplicates: int = 0

    @property
    def unfinished(self) -> list[Config]:
        """Configs submitted and never finished (running when the search was killed)."""
        done = {trial.config.trial_id for trial in self.finished}
        return [config for trial_id, config in self.submitted.items() if trial_id not in done]

    @property
    def next_trial_id(self) -> int:
        return max(self.submitted, default=-1) + 1


@dataclass(frozen=True)
class DamagedLine:
    """A complete line of a journal that is not a record: its 1-based number, its
    text and why it was refused."""

    number: int
    text: str
    reason: str


class JournalDamagedError(NASError, ValueError):
    """A journal holds lines in its middle that are not records (see the module)."""

    def __init__(self, path: Path, damaged: Sequence[DamagedLine]) -> None:
        self.path = path
        self.damaged = list(damaged)
        first = self.damaged[0]
        more = f" (and {len(damaged) - 1} more damaged line(s))" if len(damaged) > 1 else ""
        super().__init__(
            f"{path}:{first.number}: {first.reason}{more}; a kill only cuts the last line, "
            f"so the journal was damaged otherwise: rerun with --repair (nas-search "
            f"--resume {path.parent} --repair, or Study(..., if_exists='resume', "
            f"repair=True)) to set the damaged line(s) aside in {path.with_name(DAMAGED_NAME)} "
            "and resume from the other records"
        )


class Journal:
    """Writes events to ``<directory>/journal.jsonl`` (append-only, one write per record)."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / JOURNAL_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _cut_torn_tail(self.path)
        # Unbuffered: a write that fails (a full disk) leaves nothing behind in a buffer
        # for close() to fail on again.
        self._file = self.path.open("ab", buffering=0)

    def start(self, settings: dict[str, Any]) -> None:
        self._write({"event": "start", "settings": settings})

    def submit(self, configs: Sequence[Config], search_state: dict[str, Any]) -> None:
        """Record configs proposed together and the search state after proposing them."""
        record = {"event": "submit", "configs": [config.to_dict() for config in configs]}
        self._write({**record, "search": search_state})

    def finish(self, trial: Trial) -> None:
        self._write({"event": "finish", "trial": trial.to_dict()})

    def note(self, trial_id: int, notes: dict[str, Any]) -> None:
        """What the scheduler decided about a finished trial (written after its finish)."""
        self._write({"event": "note", "trial_id": trial_id, "notes": notes})

    def close(self) -> None:
        self._file.close()

    def _write(self, record: dict[str, Any]) -> None:
        record["time"] = time.time()
        data = memoryview((json.dumps(record, allow_nan=False) + "\n").encode("utf-8"))
        # One write() of a whole line, normally: a kill, or a disk filling up mid-line,
        # leaves at worst a torn last line, which the next session cuts off.
        with reporting_a_full_disk(self.path, len(data), resume_hint(self.path.parent)):
            while data:
                data = data[self._file.write(data) :]


def journal_has_records(directory: Path) -> bool:
    """Whether ``<directory>/journal.jsonl`` holds a whole line: one that is missing,
    empty or holds only a torn line was killed before its first record (read up to the
    first newline only: journals grow to many MB)."""
    path = Path(directory) / JOURNAL_NAME
    if not path.exists():
        return False
    with path.open("rb") as file:
        while chunk := file.read(1 << 16):
            if b"\n" in chunk:
                return True
    return False


def read_journal(directory: Path) -> JournalState:
    """Replay ``<directory>/journal.jsonl``; a torn last line is reported and dropped.

    Raises:
        JournalDamagedError: when a line before the last is not a record, naming the
            first such line and why (see :func:`repair_journal`).
    """
    path = Path(directory) / JOURNAL_NAME
    state, damaged = read_journal_leniently(directory)
    if damaged:
        raise JournalDamagedError(path, damaged)
    return state


def read_journal_leniently(directory: Path) -> tuple[JournalState, list[DamagedLine]]:
    """Replay what is whole in ``<directory>/journal.jsonl`` and list the damaged lines
    skipped (for what only needs the records, such as the recorded settings)."""
    path = Path(directory) / JOURNAL_NAME
    lines = _lines(path)
    # Every record is written with its newline in one write: a last line without one
    # was cut by a kill, even if what is there happens to parse.
    if lines[-1]:
        logger.warning(
            "%s: dropped a torn last line (the search was killed, or is writing it)", path
        )
    state, _, damaged = _replay(lines[:-1])
    if state.num_duplicates:
        logger.warning(
            "%s: ignored %d repeated finish record(s), keeping each trial's first (two "
            "drivers ran on the folder at once)",
            path,
            state.num_duplicates,
        )
    return state, damaged


def repair_journal(directory: Path) -> list[DamagedLine]:
    """Set the damaged lines of ``<directory>/journal.jsonl`` aside and keep the rest.

    The damaged lines are appended to ``journal.damaged.jsonl`` beside it (one JSON
    object each: the line's number in the journal as it was, why it was refused, and
    its text verbatim) before the journal is rewritten without them, atomically: a
    kill at any instant loses no line. A torn last line is cut off with a warning, as
    the writer cuts it after any kill. Call it only while holding the folder's lock.

    Returns:
        The lines set aside (none when the journal was whole, which is then untouched).
    """
    path = Path(directory) / JOURNAL_NAME
    lines = _lines(path)
    _, kept, damaged = _replay(lines[:-1])
    if damaged:
        _set_aside(path.with_name(DAMAGED_NAME), damaged)
        if lines[-1]:
            logger.warning("%s: cut off a torn last line (%d characters)", path, len(lines[-1]))
        replace_text(path, "".join(line + "\n" for line in kept))
    return damaged


def _lines(path: Path) -> list[str]:
    """The journal's lines; the last is "" unless it was torn (no newline)."""
    text = path.read_text(encoding="utf-8", errors="surrogateescape") if path.exists() else ""
    return text.split("\n")


def _replay(lines: Sequence[str]) -> tuple[JournalState, list[str], list[DamagedLine]]:
    """Replay complete ``lines``: the state, the lines kept and the damaged ones."""
    state = JournalState()
    kept, damaged = [], []
    for number, line in enumerate(lines, start=1):
        reason = _replay_line(state, line)
        if reason is None:
            kept.append(line)
        else:
            damaged.append(DamagedLine(number, line, reason))
    return state, kept, damaged


def _replay_line(state: JournalState, line: str) -> str | None:
    """Apply one line to ``state``; why it is not a record, or None (then applied)."""
    try:
        line.encode("utf-8")  # read with surrogateescape: bytes that are not UTF-8 fail
        record = json.loads(line)
    except UnicodeEncodeError:
        return "not valid UTF-8"
    except json.JSONDecodeError as error:
        # json's messages end in "at" where they name a place: "Unterminated string starting at".
        where = error.msg.removesuffix(" at")
        return f"not valid JSON ({where} at column {error.colno})"
    try:
        _apply(state, record)
    except _SHAPE_ERRORS as error:
        return f"not a journal record ({type(error).__name__}: {error})"
    return None


def _set_aside(side: Path, damaged: Sequence[DamagedLine]) -> None:
    """Append ``damaged`` to ``side``, flushed to the disk before the journal loses them."""
    text = "".join(
        json.dumps({"line": item.number, "reason": item.reason, "text": item.text}) + "\n"
        for item in damaged
    )
    data = text.encode("utf-8", errors="surrogateescape")
    with reporting_a_full_disk(side, len(data), resume_hint(side.parent)):
        with side.open("ab") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())


def _cut_torn_tail(path: Path) -> None:
    """Cut a last line that a kill left unfinished (no newline), before appending."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as file:
        data = file.read()
        if data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        logger.warning("%s: cut off a torn last line (%d bytes)", path, len(data) - keep)
        file.truncate(keep)


def _apply(state: JournalState, record: Any) -> None:
    """Apply one record to ``state``; one of the wrong shape raises one of
    :data:`_SHAPE_ERRORS` before ``state`` is changed (then it can be set aside)."""
    if not isinstance(record, dict):
        raise TypeError(f"a JSON {type(record).__name__}, not an object")
    event = record["event"]
    written = float(record.get("time", 0.0))
    if event == "start":
        settings = dict(record["settings"])
        state.settings = state.settings or settings
        state.latest_settings = settings
        state.num_sessions += 1
        state.session_starts.append(written)
    elif event == "submit":
        # Journals written before batches were one record hold one "config" each.
        configs = [
            Config.from_dict(data) for data in record.get("configs", [record.get("config")])
        ]
        search_state = record["search"]
        for config in configs:
            state.submitted[config.trial_id] = config
            state.submit_times[config.trial_id] = written
        state.search_state = search_state
    elif event == "finish":
        trial = Trial.from_dict(record["trial"])
        if trial.config.trial_id in state.finish_times:
            # Written by a second driver on the folder (before the lock existed): the
            # first result stands, and the budget counts each trial once.
            state.num_duplicates += 1
            return
        state.finished.append(trial)
        state.finish_times[trial.config.trial_id] = written
    elif event == "note":
        trial_id, notes = int(record["trial_id"]), dict(record["notes"])
        state.notes[trial_id] = notes
    else:
        raise ValueError(f"unknown journal event {event!r}")
