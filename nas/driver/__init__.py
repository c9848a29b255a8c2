"""The driver: runs a search against an evaluator, with a journal and resume."""

from nas.driver._driver import Driver
from nas.driver._journal import Journal, JournalState, read_journal
from nas.driver._run_search import EVALUATORS, SEARCHES, SearchResults, make_search, run_search

__all__ = [
    "EVALUATORS",
    "SEARCHES",
    "Driver",
    "Journal",
    "JournalState",
    "SearchResults",
    "make_search",
    "read_journal",
    "run_search",
]
