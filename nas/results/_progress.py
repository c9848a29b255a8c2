"""How far a search has got, and how fast it goes: what ``nas-status`` reports.

Rates come from the journal's own times (when the driver wrote each event), not the
trials' timings: those are the workers' clocks, and the simulated evaluator's is not
the wall clock. Time between sessions (a search stopped, then resumed a day later)
does not count: a session counts from its start to its last finished evaluation.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from nas.driver import JournalState
from nas.results._record import utc


@dataclass(frozen=True)
class Progress:
    """How far a search has got, when its journal was read.

    Attributes:
        done: finished evaluations, failed ones included (they count toward the budget).
        failed: those that failed or timed out.
        running: submitted and not finished (when the search was stopped: left for
            ``--resume`` to run again).
        max_evals: the budget of the latest session.
        evaluations_per_minute: finished evaluations per minute of the sessions' time,
            None before the first has finished.
        time_left: until the budget is reached at that rate, or the latest session's
            timeout ends it if sooner; zero once the budget is reached; None when
            there is no rate yet.
        updated_at: when the journal was last written (UTC).
        sessions: the sessions that ran it (each ``--resume`` starts one).

    Example:
        >>> progress = nas.load_results("runs/wine").progress
        >>> progress.done, progress.max_evals, progress.time_left
        (4, 6, datetime.timedelta(seconds=41, microseconds=250000))
    """

    done: int
    failed: int
    running: int
    max_evals: int
    evaluations_per_minute: float | None
    time_left: timedelta | None
    updated_at: datetime
    sessions: int

    @property
    def budget_reached(self) -> bool:
        """Whether ``max_evals`` evaluations have finished."""
        return self.done >= self.max_evals


def progress_of(state: JournalState, now: float) -> Progress:
    """The progress the journal ``state`` shows at unix time ``now``."""
    settings = state.latest_settings or state.settings or {}
    max_evals = int(settings.get("max_evals", 0))
    done = len(state.finished)
    failed = sum(not trial.result.ok for trial in state.finished)
    rate = _evaluations_per_minute(state.session_starts, list(state.finish_times.values()))
    time_left: timedelta | None = timedelta(0)
    if done < max_evals:
        time_left = None
        if rate:
            seconds = (max_evals - done) / rate * 60.0
            timeout = settings.get("timeout")
            if timeout is not None and state.session_starts:
                # The driver stops starting evaluations once its session's timeout is over.
                seconds = min(seconds, max(0.0, state.session_starts[-1] + timeout - now))
            time_left = timedelta(seconds=seconds)
    times = [*state.session_starts, *state.submit_times.values(), *state.finish_times.values()]
    return Progress(
        done=done,
        failed=failed,
        running=len(state.unfinished),
        max_evals=max_evals,
        evaluations_per_minute=rate,
        time_left=time_left,
        updated_at=utc(max(times, default=0.0)),
        sessions=state.num_sessions,
    )


def _evaluations_per_minute(starts: list[float], finishes: list[float]) -> float | None:
    """Evaluations finished per minute of the sessions, each from its start to its last
    finished evaluation."""
    counts = [0] * len(starts)
    ends = list(starts)
    for finished in finishes:
        session = bisect.bisect_right(starts, finished) - 1
        if session >= 0:
            counts[session] += 1
            ends[session] = max(ends[session], finished)
    seconds = sum(end - start for start, end in zip(starts, ends))
    if not sum(counts) or seconds <= 0 or not math.isfinite(seconds):
        return None
    return sum(counts) / seconds * 60.0
