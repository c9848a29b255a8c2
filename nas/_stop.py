"""The signals that ask a search to stop, caught from its first instant to its last.

A batch scheduler sends SIGTERM shortly before it kills a job at its wall-time limit,
and a user presses Ctrl-C (SIGINT). Either one asks the search to stop proposing, wait
a bounded time for running evaluations, write everything and return, so that it ends
with exit code 0 and continues with ``--resume``. A second signal ends the wait.

Where a signal can land in ``nas-search``, and what it does:

* while the interpreter starts, before :func:`nas.cli.search_main` runs (tens of
  milliseconds): the default action. Nothing was started, nothing is lost.
* from the first line of ``search_main`` on, the signals are caught for the rest of the
  process (:func:`stop_signals`), and counted until the search can act on them:

  - before the search touches its folder (arguments, the problem's import, the check
    that its data loads and a model builds): it does not start. The check is
    interrupted at once (:meth:`StopSignals.interrupting`; nothing is written yet, so
    nothing is lost), :class:`SearchStopped` is raised, and ``nas-search`` exits with 0,
    saying that nothing was run and how to start or continue the search. A user who
    stops a search that has not begun expects it to end now, not after data loads.
  - once the folder is locked: the driver stops before its first proposal, or after
    the evaluations running, and writes everything; the summary says so and gives the
    resume command.
  - while the journal and results are closed, the workers stopped and the summary
    printed: counted, and nothing more to do; the search ends as it would have.

Worker processes ignore both signals from their first instruction: they are blocked
while a worker starts (:func:`blocked_while_starting`), so that a signal sent to the
whole process group while a worker imports TensorFlow is held, then discarded by
:func:`ignore_stop_signals`. The driver decides what happens to their evaluations.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType

logger = logging.getLogger("nas.driver")

#: The signals that ask a search to stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SearchStopped(BaseException):
    """A stop signal arrived before the search started anything: nothing was run or
    written.

    A BaseException, as KeyboardInterrupt is: it may be raised in the middle of the
    problem's own code (loading its data), which must not take it for one of its errors.
    """

    def __init__(self, signal_name: str) -> None:
        self.signal_name = signal_name
        super().__init__(f"received {signal_name} before the search started: nothing was run")


class StopSignals:
    """While entered, SIGINT and SIGTERM are counted instead of ending the process.

    Handlers can only be installed from the main thread; elsewhere (a search run from a
    worker thread of a notebook, say) the signals keep their usual effect.

    Args:
        keep: ignore the signals from the exit on, for a program that ends right after
            (a signal in its last instants must not turn exit code 0 into 143).
    """

    def __init__(self, keep: bool = False) -> None:
        self.received: list[str] = []
        self.keep = keep
        self._previous: dict[int, object] = {}
        self._interrupting = False

    @property
    def count(self) -> int:
        return len(self.received)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for number in STOP_SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for number, handler in self._previous.items():
            # A kept handler would not last: Python resets its own handlers to the
            # default early in finalising, before the seconds of TensorFlow's teardown,
            # but leaves an ignored signal ignored. The exit code is decided by now.
            signal.signal(number, signal.SIG_IGN if self.keep else handler)  # type: ignore[arg-type]
        self._previous.clear()

    @contextmanager
    def interrupting(self) -> Iterator[None]:
        """While inside, a stop signal raises :class:`SearchStopped` at once, as does
        entering after one arrived: for work before anything is written, which a stop
        may cut short (see the module)."""
        self._raise_if_received()
        self._interrupting = True
        try:
            yield
        finally:
            self._interrupting = False
        # A signal whose exception the interrupted code swallowed (a bare except) still
        # stops the search here.
        self._raise_if_received()

    def _raise_if_received(self) -> None:
        if self.received:
            raise SearchStopped(self.received[0])

    def _handle(self, number: int, frame: FrameType | None) -> None:
        name = signal.Signals(number).name
        self.received.append(name)
        if self._interrupting:
            self._interrupting = False  # once: the stop unwinds from here
            raise SearchStopped(name)
        if len(self.received) == 1:
            logger.warning("received %s: finishing; send it again to stop at once", name)


#: The handlers installed by the outermost :func:`stop_signals` of this process.
_active: StopSignals | None = None


@contextmanager
def stop_signals(keep: bool = False) -> Iterator[StopSignals]:
    """This process's :class:`StopSignals`: installed here, or, when a caller has
    installed them already (``nas-search`` from its first line, a study around its
    driver), theirs, so that a signal received before is still counted.

    ``keep`` is for the outermost caller only (see :class:`StopSignals`).
    """
    global _active  # noqa: PLW0603 - one set of handlers per process, as signals are
    if _active is not None:
        yield _active
        return
    with StopSignals(keep) as signals:
        _active = signals
        try:
            yield signals
        finally:
            _active = None


@contextmanager
def blocked_while_starting() -> Iterator[None]:
    """Hold SIGINT and SIGTERM pending in this thread while it starts a worker process.

    A child inherits the signal mask through fork and through exec (multiprocessing's
    spawn, and its start of a fork server, do both; the fork server's children inherit
    the server's dispositions instead), so a signal sent to the process group cannot
    kill the new process before its first instruction ignores it
    (:func:`ignore_stop_signals`). multiprocessing starts its resource tracker the same
    way. This process's own mask is restored on exit: a signal that came meanwhile is
    then handled here as usual.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_stop_signals() -> None:
    """In a worker: ignore SIGINT and SIGTERM (the driver decides what happens to its
    evaluations, and ends it when it closes), then unblock them; one that arrived while
    they were blocked is discarded, being ignored."""
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
