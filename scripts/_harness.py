"""What the benchmark scripts share: timing a study, a hyperparameter's largest value,
plain-text tables.

The scripts run as files (``PYTHONPATH=. .venv/bin/python scripts/NAME.py``), so this
folder is first on their path and on their spawned workers'; they import this module
as ``_harness``. Only the public API of ``nas`` is used here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from nas import Callback
from nas.problem import Categorical, Constant, Hyperparameter


class Stopwatch(Callback):
    """A study's callback timing its search: from :meth:`on_search_start` (the search,
    scheduler and evaluator made, the data checked) to :meth:`on_search_end`.

    Attributes:
        wall: wall-clock seconds of the search (``time.perf_counter``).
        cpu: CPU seconds of this process over it (``time.process_time``).
        started_at: when it started, as ``time.time()`` (to compare with trials' times).
    """

    def __init__(self) -> None:
        self.wall = self.cpu = self.started_at = 0.0
        self._wall = self._cpu = 0.0

    def on_search_start(self, study: Any) -> None:
        self.started_at = time.time()
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    def on_search_end(self, results: Any) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def largest_value(hyperparameter: Hyperparameter) -> Any:
    """The largest value ``hyperparameter`` takes (of a problem's ``epochs``, the full
    training budget)."""
    if isinstance(hyperparameter, Constant):
        return hyperparameter.value
    if isinstance(hyperparameter, Categorical):
        return max(hyperparameter.choices)
    return hyperparameter.high  # type: ignore[attr-defined]  # Int and Float


def format_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    widths: Sequence[int] | None = None,
    header_align: str = ">",
    separator: bool = True,
    show_header: bool = True,
) -> str:
    """A plain-text table: cells right-aligned in columns separated by ``" | "``.

    Args:
        header: the column names.
        rows: the cells, already written as text.
        widths: each column's width (default: its widest cell, header included).
        header_align: ``">"`` (right) or ``"<"`` (left) for the names.
        separator: a ``-|-`` line under the names.
        show_header: the names at all (False: rows to append to a table printed before).
    """
    if widths is None:
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    if show_header:
        lines.append(" | ".join(f"{name:{header_align}{w}}" for name, w in zip(header, widths)))
        if separator:
            lines.append("-|-".join("-" * width for width in widths))
    lines += [" | ".join(f"{cell:>{w}}" for cell, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)
