"""One driver per search folder: a lock held for the whole of a run.

Two drivers appending to one journal would run every evaluation twice and interleave
results.csv; on a cluster this happens when a job is resubmitted while the previous
one is still in its grace period. The lock is an ``fcntl`` record lock on a file in the
folder, which NFS (through its lock manager) and Lustre (mounted with ``flock``) honour
across nodes, unlike ``flock`` on older NFS clients or a lock file's mere existence.
The operating system releases it when its holder dies, even by SIGKILL, so a folder is
never left locked by a process that is gone; the holder's host, pid and start time,
written inside, serve only to name it.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import logging
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import Any

from nas.driver._files import resume_hint
from nas.exceptions import NASError, reporting_a_full_disk

logger = logging.getLogger("nas.driver")

LOCK_NAME = "search.lock"


class FolderInUseError(NASError, RuntimeError):
    """Another driver holds the search folder."""


class FolderLock:
    """Holds ``<directory>/search.lock`` while in its ``with`` block.

    Raises:
        FolderInUseError: on entering, when another process holds it, naming that
            process (host, pid, since when).
    """

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / LOCK_NAME
        self._fd: int | None = None

    def refuse_if_held(self) -> None:
        """Raise :class:`FolderInUseError` when another process holds the lock; hold
        nothing. (Not while this process holds it: closing any descriptor of the file
        releases a process's ``fcntl`` locks.)"""
        if self.path.exists():
            os.close(self._open_locked())

    def __enter__(self) -> FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = self._open_locked()
        previous = _holder(fd)
        if previous:
            logger.info("%s: took over the lock left by %s", self.path, _describe(previous))
        holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        data = (json.dumps(holder) + "\n").encode()
        try:
            # A full disk fails here first, at the start of a session: say so, by name.
            with reporting_a_full_disk(self.path, len(data), resume_hint(self.path.parent)):
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)
        except BaseException:
            os.close(fd)  # releases the lock
            raise
        self._fd = fd
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            # Closing releases the lock; the file stays, so the next holder locks the
            # same inode (removing it could let two processes lock two different files).
            os.close(self._fd)
            self._fd = None

    def _open_locked(self) -> int:
        """The lock file, opened and locked; FolderInUseError naming its holder."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # EACCES or EAGAIN, by platform: held by another process
            holder = _holder(fd)
            os.close(fd)
            raise FolderInUseError(
                f"{self.path.parent} is in use by another search ({_describe(holder)}): "
                "one driver per folder; wait for it to end or stop it first"
            ) from None
        return fd


def _holder(fd: int) -> dict[str, Any]:
    try:
        return dict(json.loads(os.pread(fd, 4096, 0).decode() or "{}"))
    except (ValueError, OSError):
        return {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "holder unknown"
    return f"pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('since')}"
