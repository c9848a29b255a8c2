"""Why a search stops before its budget, and the signals that ask it to.

A batch scheduler sends SIGTERM shortly before it kills a job at its wall-time limit,
and a user presses Ctrl-C (SIGINT). Either one asks the driver to stop proposing, wait a
bounded time for running evaluations, write everything and return, so that the search
ends with exit code 0 and continues with ``--resume``. A second signal stops the wait.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType, TracebackType

logger = logging.getLogger("nas.driver")

#: The signals that ask a search to stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """While entered, SIGINT and SIGTERM are counted instead of ending the process.

    Handlers can only be installed from the main thread; elsewhere (a search run from a
    worker thread of a notebook, say) the signals keep their usual effect.
    """

    def __init__(self) -> None:
        self.received: list[str] = []
        self._previous: dict[int, object] = {}

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
            signal.signal(number, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, number: int, frame: FrameType | None) -> None:
        name = signal.Signals(number).name
        self.received.append(name)
        if len(self.received) == 1:
            logger.warning("received %s: finishing; send it again to stop at once", name)
