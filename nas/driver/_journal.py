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
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.trial import Config, Trial

logger = logging.getLogger("nas.driver")

JOURNAL_NAME = "journal.jsonl"


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


class Journal:
    """Writes events to ``<directory>/journal.jsonl`` (append-only, line-buffered)."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / JOURNAL_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _cut_torn_tail(self.path)
        self._file = self.path.open("a", encoding="utf-8")

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
        # One write() of a whole line, then flush: a kill leaves at worst a torn last line.
        self._file.write(json.dumps(record, allow_nan=False) + "\n")
        self._file.flush()


def read_journal(directory: Path) -> JournalState:
    """Replay ``<directory>/journal.jsonl``; a torn last line is reported and dropped."""
    state = JournalState()
    path = Path(directory) / JOURNAL_NAME
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = text.split("\n")
    # Every record is written with its newline in one write: a last line without one
    # was cut by a kill, even if what is there happens to parse.
    if lines[-1]:
        logger.warning(
            "%s: dropped a torn last line (the search was killed, or is writing it)", path
        )
    for number, line in enumerate(lines[:-1], start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(
                f"{path}:{number} is not valid JSON; the journal is damaged"
            ) from None
        _apply(state, record)
    if state.num_duplicates:
        logger.warning(
            "%s: ignored %d repeated finish record(s), keeping each trial's first (two "
            "drivers ran on the folder at once)",
            path,
            state.num_duplicates,
        )
    return state


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


def _apply(state: JournalState, record: dict[str, Any]) -> None:
    event = record["event"]
    written = float(record.get("time", 0.0))
    if event == "start":
        state.settings = state.settings or record["settings"]
        state.latest_settings = record["settings"]
        state.num_sessions += 1
        state.session_starts.append(written)
    elif event == "submit":
        # Journals written before batches were one record hold one "config" each.
        for data in record.get("configs", [record.get("config")]):
            config = Config.from_dict(data)
            state.submitted[config.trial_id] = config
            state.submit_times[config.trial_id] = written
        state.search_state = record["search"]
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
        state.notes[int(record["trial_id"])] = dict(record["notes"])
    else:
        raise ValueError(f"unknown journal event {event!r}")
