"""Exceptions of nas, under one root so that callers can catch ``NASError``.

What nas itself finds wrong raises one of them: a malformed space or problem, a failed
training, a damaged journal, a folder another search holds, a full disk. They subclass
``ValueError``, ``RuntimeError`` or ``OSError`` as well, so ordinary ``except`` clauses
keep working. An argument out of range given to a search, scheduler, evaluator or
``Study`` raises a plain ``ValueError`` or ``TypeError`` naming it, as Python's own
functions do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path


class NASError(Exception):
    """Root of the exceptions nas defines (see the module)."""


class SpaceError(NASError, ValueError):
    """A search space, or an architecture of one, is malformed.

    The message names the node, the operation and the shapes involved.
    """


class ProblemError(NASError, ValueError):
    """A problem definition or a hyperparameter configuration is invalid."""


class TrainingError(NASError, RuntimeError):
    """Training one configuration failed (diverged, raised, ran out of memory)."""


class DiskFullError(NASError, OSError):
    """Writing a file failed because its disk is full (ENOSPC) or its quota is spent
    (EDQUOT). The message names the file and the space left, measured on the spot.

    A search stopped by it is resumable once space is freed: its files are written
    whole or not at all, and a journal line cut short is dropped on resume.
    """

    def __init__(
        self, path: str | Path, size: int | None = None, quota: bool = False, hint: str = ""
    ) -> None:
        self.path = Path(path)
        what = "the disk quota is spent" if quota else "the disk is full"
        needed = f"; {_bytes(size)} to write" if size is not None else ""
        hint = f"; {hint}" if hint else ""
        super().__init__(
            f"cannot write {self.path}: {what} ({_space_left(self.path)}{needed}){hint}"
        )
        # Still an OSError of the same errno, for callers that test it.
        self.errno = errno.EDQUOT if quota else errno.ENOSPC


@contextlib.contextmanager
def reporting_a_full_disk(
    path: str | Path, size: int | None = None, hint: Callable[[], str] | None = None
) -> Iterator[None]:
    """Turn an ``OSError`` of a full disk (or spent quota), raised while writing ``path``
    (``size`` bytes, when known), into a :class:`DiskFullError` naming it and ending
    with what ``hint()`` says to do (asked only then); other errors pass unchanged.
    Needed because a failed ``write()`` does not name its file."""
    try:
        yield
    except DiskFullError:
        raise
    except OSError as error:
        cause = _disk_full_errno(error)
        if cause is None:
            raise
        raise DiskFullError(path, size, cause == errno.EDQUOT, hint() if hint else "") from error


def _disk_full_errno(error: BaseException) -> int | None:
    """``errno.ENOSPC`` or ``errno.EDQUOT`` when ``error``, or what caused it, is a full
    disk (libraries such as h5py re-raise it without the errno), else None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return current.errno
        text = str(current)
        for number in (errno.ENOSPC, errno.EDQUOT):
            if os.strerror(number) in text:
                return number
        current = current.__cause__ or current.__context__
    return None


def _space_left(path: Path) -> str:
    """``"12.0 KiB free of 1.0 MiB"`` on the file system of ``path`` (its nearest
    existing folder), or ``"free space unknown"``."""
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return "free space unknown"
    return f"{_bytes(usage.free)} free of {_bytes(usage.total)}"


def _bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
