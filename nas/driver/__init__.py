"""The driver: runs a search against an evaluator, with a journal and resume.

:class:`Study` is the entry point (objects in); :func:`run_search` its by-name form.
"""

from nas.driver._driver import Driver
from nas.driver._journal import Journal, JournalState, read_journal
from nas.driver._lock import FolderInUseError
from nas.driver._run_search import run_search
from nas.driver._study import (
    Callback,
    SearchFailedError,
    SearchResults,
    Study,
    make_search,
    recorded_settings,
)

__all__ = [
    "Callback",
    "Driver",
    "FolderInUseError",
    "Journal",
    "JournalState",
    "SearchFailedError",
    "SearchResults",
    "Study",
    "make_search",
    "read_journal",
    "recorded_settings",
    "run_search",
]
