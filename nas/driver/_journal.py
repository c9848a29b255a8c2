"""The append-only journal of a search: every submission and every finished trial.

One JSON document per line, written and flushed as it happens, so that a search killed
at any instant loses nothing it had finished. Only the driver writes it (shared HPC file
systems handle one writer appending far better than many). A last line cut short by a
kill is detected on reading, reported, and dropped.
"""

from __future__ import annotations

import json
import logging
import time
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
        self._file = self.path.open("a", encoding="utf-8")

    def start(self, settings: dict[str, Any]) -> None:
        self._write({"event": "start", "settings": settings})

    def submit(self, config: Config, search_state: dict[str, Any]) -> None:
        self._write({"event": "submit", "config": config.to_dict(), "search": search_state})

    def finish(self, trial: Trial) -> None:
        self._write({"event": "finish", "trial": trial.to_dict()})

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
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                logger.warning("%s: dropped a torn last line (the search was killed)", path)
                break
            raise ValueError(
                f"{path}:{number} is not valid JSON; the journal is damaged"
            ) from None
        _apply(state, record)
    return state


def _apply(state: JournalState, record: dict[str, Any]) -> None:
    event = record["event"]
    if event == "start":
        state.settings = state.settings or record["settings"]
        state.num_sessions += 1
    elif event == "submit":
        config = Config.from_dict(record["config"])
        state.submitted[config.trial_id] = config
        state.search_state = record["search"]
    elif event == "finish":
        state.finished.append(Trial.from_dict(record["trial"]))
    else:
        raise ValueError(f"unknown journal event {event!r}")
