"""Writing a search's files whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it: atomic on
    POSIX file systems, Lustre and GPFS included, so a reader (or a kill) sees the old
    file or the new one, never a mix or an empty file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8", newline="")  # verbatim: csv ends rows with \r\n
    os.replace(temporary, path)
