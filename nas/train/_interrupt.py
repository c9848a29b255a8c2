"""Ask trainings running in this process to stop between two batches.

A worker rank of the MPI evaluator calls :func:`request_interrupt` when rank 0 stops
the search (its wall time is up, or it received SIGTERM): the training in progress ends
at the next batch, with status ``timeout`` and a reason saying so, instead of running to
its end while the job waits. MPI cannot kill a rank, so this is how a stop reaches one.
"""

from __future__ import annotations

import threading

_INTERRUPT = threading.Event()

#: The reason recorded for a training stopped by :func:`request_interrupt`.
INTERRUPTED = "interrupted: the search is stopping"


def request_interrupt() -> None:
    """Make trainings in this process stop at their next batch (thread-safe)."""
    _INTERRUPT.set()


def clear_interrupt() -> None:
    """Let trainings run again."""
    _INTERRUPT.clear()


def interrupt_requested() -> bool:
    return _INTERRUPT.is_set()
