"""The worker rank's loop against rank 0's messages, with a scripted communicator.

MPI keeps one sender's messages in order for one receive, not across tags: the loop
probes for a task, then for the stop, and a task sent before the stop can arrive
between the two probes. Real ranks hit that window rarely (a hang under load); a
scripted communicator opens it every time.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from nas.evaluate import _mpi_worker
from nas.evaluate._mpi_protocol import DONE, STOP, TASK
from nas.train._interrupt import interrupt_requested


class Message:
    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def recv(self) -> Any:
        return self.payload


class TaskArrivesWithTheStop:
    """Rank 0's messages to rank 1: no task at the first probe, then the stop and the
    task sent before it, both arrived by the time the stop is probed."""

    def __init__(self, task: Any) -> None:
        self.queued: dict[int, list[Any]] = {TASK: [], STOP: [None]}
        self.task = task
        self.sent: list[tuple[Any, int, int]] = []

    def Get_rank(self) -> int:  # noqa: N802 (mpi4py's name)
        return 1

    def improbe(self, source: int, tag: int) -> Message | None:
        assert source == 0
        if tag == STOP and self.task is not None:
            self.queued[TASK].append(self.task)  # arrived between the two probes
            self.task = None
        return Message(self.queued[tag].pop(0)) if self.queued[tag] else None

    def iprobe(self, source: int, tag: int) -> bool:
        return bool(self.queued[tag])

    def send(self, payload: Any, dest: int, tag: int) -> None:
        self.sent.append((payload, dest, tag))


def test_a_task_that_arrives_with_the_stop_is_answered_before_the_loop_ends(monkeypatch):
    ran = []

    def run(task: Any, comm: Any, rank: int) -> str:
        ran.append((task.name, interrupt_requested()))
        return f"done {task.name}"

    monkeypatch.setattr(_mpi_worker, "_node_placement", lambda comm: (0, 1))
    monkeypatch.setattr(_mpi_worker, "ignore_stop_signals", lambda: None)
    monkeypatch.setattr(_mpi_worker, "_run", run)
    comm = TaskArrivesWithTheStop(SimpleNamespace(name="trial 7", warm_memory=0))

    _mpi_worker.serve(comm)  # returns: the stop was received

    # Rank 0 waits for an answer from every rank it gave a task, also while closing.
    assert comm.sent == [("done trial 7", 0, DONE)]
    # Run as a task running when the stop came would be: asked to stop at once.
    assert ran == [("trial 7", True)]
    assert not interrupt_requested()
