"""The driver: runs a search against an evaluator, with a journal and resume.

:class:`Study` is the entry point (objects in); :func:`run_search` its by-name form.
"""

from nas._stop import SearchStopped
from nas.driver._driver import Driver
from nas.driver._journal import (
    DamagedLine,
    Journal,
    JournalDamagedError,
    JournalState,
    read_journal,
    repair_journal,
)
from nas.driver._lock import FolderInUseError
from nas.driver._run_search import run_search
from nas.driver._study import (
    Callback,
    SearchFailedError,
    SearchResults,
    Study,
    make_search,
    recorded_objective,
    recorded_objectives,
    recorded_settings,
)

__all__ = [
    "Callback",
    "DamagedLine",
    "Driver",
    "FolderInUseError",
    "Journal",
    "JournalDamagedError",
    "JournalState",
    "SearchFailedError",
    "SearchResults",
    "SearchStopped",
    "Study",
    "make_search",
    "read_journal",
    "recorded_objective",
    "recorded_objectives",
    "recorded_settings",
    "repair_journal",
    "run_search",
]
