"""The driver's progress display: a bar on a terminal, plain lines anywhere else."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

#: Seconds after which a finished evaluation is reported even below ``every``.
INTERVAL = 60.0


class Progress:
    """Show how far a search is, on stderr.

    On a terminal, a tqdm bar. Anywhere else (a batch job's log, a pipe, the ranks of
    ``mpirun``, whose output is forwarded through pipes) a bar's redrawn frames would pile
    up in the file, so a plain line is written instead, after an evaluation finishes and
    either ``every`` more have finished since the last line, or ``interval`` seconds have
    passed. ``every`` defaults to a tenth of the budget: about ten lines a search, however
    fast its evaluations (a simulated search runs thousands a second); the minute keeps a
    slow search's log showing it is alive. Nothing is written while nothing finishes, so
    hours of training do not fill the log with lines that say nothing new.

    Args:
        total: the evaluations the search runs to (its budget).
        initial: those already finished (a resumed search).
        enabled: False shows nothing.
        stream: where to write (default ``sys.stderr``); a bar only if it is a terminal.
        every: evaluations between two plain lines (default: a tenth of the budget).
        interval: seconds after which a plain line is written for any new evaluation.
        clock: the time in seconds (a monotonic clock by default; tests pass their own).

    Example:
        >>> progress = Progress(100, stream=sys.stdout, every=50)
        >>> progress.update(50, "best val_accuracy 0.97, 0 failed")  # doctest: +ELLIPSIS
        50/100 evaluations (50%), best val_accuracy 0.97, 0 failed, 00:00 elapsed, ...
        >>> progress.close()
    """

    def __init__(
        self,
        total: int,
        initial: int = 0,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        every: int | None = None,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = sys.stderr if stream is None else stream
        self._enabled = enabled
        self._bar = None
        if enabled and _is_terminal(self._stream):
            self._bar = tqdm(
                total=total,
                initial=initial,
                unit="eval",
                dynamic_ncols=True,
                file=self._stream,
            )
        self._total, self._initial, self._done = total, initial, initial
        self._every = max(1, total // 10) if every is None else every
        self._interval = interval
        self._clock = clock
        self._started = self._last_time = clock()
        self._last_done = initial
        self._summary = ""

    def update(self, finished: int, summary: str) -> None:
        """Count ``finished`` more evaluations; ``summary`` says how the search stands."""
        self._done += finished
        self._summary = summary
        if self._bar is not None:
            self._bar.update(finished)
            self._bar.set_postfix_str(summary, refresh=False)
        elif self._enabled and finished and self._line_due():
            self._write_line()

    def close(self) -> None:
        """End the bar, or write the last line if evaluations finished since the last."""
        if self._bar is not None:
            self._bar.close()
        elif self._enabled and self._done > self._last_done:
            self._write_line()

    def _line_due(self) -> bool:
        return (
            self._done - self._last_done >= self._every
            or self._clock() - self._last_time >= self._interval
        )

    def _write_line(self) -> None:
        now = self._clock()
        elapsed = now - self._started
        parts = [f"{self._done}/{self._total} evaluations ({self._done / self._total:.0%})"]
        if self._summary:
            parts.append(self._summary)
        parts.append(f"{tqdm.format_interval(elapsed)} elapsed")
        done_here, left = self._done - self._initial, self._total - self._done
        if done_here and left > 0:  # at this session's pace
            parts.append(f"about {tqdm.format_interval(elapsed / done_here * left)} left")
        print(", ".join(parts), file=self._stream, flush=True)
        self._last_time, self._last_done = now, self._done


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
