"""Writing a search's files whole or not at all, and naming a full disk when that fails."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from nas.exceptions import reporting_a_full_disk

#: What a search records before anything else: with either, it can be resumed.
_RECORDS = ("settings.json", "journal.jsonl")


def resume_hint(directory: Path) -> Callable[[], str]:
    """What to do when the disk of a search's folder is full, told when it happens: the
    folder stays resumable, unless it was full before the search recorded anything."""

    def hint() -> str:
        if not any((directory / name).exists() for name in _RECORDS):
            return "free some space, then start the search again"
        return (
            f"free some space, then resume it (nas-search --resume {directory}, or "
            "if_exists='resume')"
        )

    return hint


def replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it: atomic on
    POSIX file systems, Lustre and GPFS included, so a reader (or a kill) sees the old
    file or the new one, never a mix or an empty file.

    Raises:
        DiskFullError: when the disk is full, naming ``path``; the old file is kept and
            the temporary one removed (it would hold the space the user must free).
    """
    temporary = path.with_name(f".{path.name}.tmp")
    size = len(text.encode("utf-8"))
    with reporting_a_full_disk(path, size, resume_hint(path.parent)):
        try:
            # verbatim: csv ends rows with \r\n
            temporary.write_text(text, encoding="utf-8", newline="")
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
