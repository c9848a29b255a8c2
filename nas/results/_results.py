"""The results of a search, finished or running: what :func:`nas.load_results` returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.pareto import as_minimised, rank_order
from nas.results._dataframe import records_to_dataframe
from nas.results._progress import Progress
from nas.results._record import TrialRecord

DIRECTIONS = ("max", "min")


@dataclass(frozen=True)
class Results:
    """A search's trials as its journal held them when loaded (load again to refresh).

    Attributes:
        directory: the search's folder.
        trials: the finished trials, in trial order (the order they were submitted).
        running: the trials submitted and not finished, in trial order.
        settings: the search's settings, as its latest session recorded them.
        objective: the name of the problem's objective (``"val_accuracy"``), None when
            the problem was not imported (``direction`` was given).
        direction: ``"max"`` or ``"min"``: which objective values are better.
        progress: how far the search has got (done, failed, rate, time left).
        objectives: every objective -> its direction, in the problem's order (one entry
            with one objective).
        constraints: the problem's constraints, as ``"num_parameters <= 1e+06"``.

    Example:
        >>> results = nas.load_results("runs/wine")
        >>> [trial.objective for trial in results.best(3)]
        [0.9722, 0.9444, 0.9444]
        >>> results.to_dataframe().groupby("hp_optimizer").objective.max()
    """

    directory: Path
    trials: list[TrialRecord]
    running: list[TrialRecord]
    settings: dict[str, Any]
    objective: str | None
    direction: str
    progress: Progress
    objectives: dict[str, str] = field(default_factory=dict)
    constraints: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'max' or 'min', got {self.direction!r}")

    @property
    def pareto_front(self) -> list[TrialRecord]:
        """The trials on the Pareto front (their ``pareto`` mark), in trial order."""
        return [trial for trial in self.trials if trial.pareto]

    def best(self, k: int = 1) -> list[TrialRecord]:
        """The ``k`` best finished trials by objective, best first, in the problem's
        direction; trials with no finite objective are left out; of equal objectives,
        the earlier trial comes first.

        With several objectives or constraints, best is first in
        :func:`nas.pareto.rank_order`: least constraint violation, then the Pareto
        front, then crowding distance."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        if len(self.objectives) > 1 or self.constraints:
            return self._ranked_by_front()[:k]
        sign = -1.0 if self.direction == "max" else 1.0
        scored = [
            trial
            for trial in self.trials
            if trial.ok and trial.objective is not None and math.isfinite(trial.objective)
        ]
        # sorted() is stable and trials are in trial order: ties keep the earlier first.
        return sorted(scored, key=lambda trial: sign * trial.objective)[:k]  # type: ignore[operator]

    def _ranked_by_front(self) -> list[TrialRecord]:
        directions = list(self.objectives.values())
        ranked = [
            trial
            for trial in self.trials
            if trial.ok
            and all(
                value is not None and math.isfinite(value)
                for value in (trial.objectives.get(name) for name in self.objectives)
            )
        ]
        if not ranked:
            return []
        points = as_minimised(
            [[trial.objectives[name] for name in self.objectives] for trial in ranked],
            directions,
        )
        order = rank_order(points, [trial.violation for trial in ranked])
        return [ranked[index] for index in order]

    @property
    def failed(self) -> list[TrialRecord]:
        """The finished trials that failed or timed out."""
        return [trial for trial in self.trials if not trial.ok]

    def to_dataframe(self, include_running: bool = False) -> Any:
        """The trials as a pandas DataFrame, one row per trial in trial order.

        Hyperparameters have their own ``hp_<name>`` columns, times are UTC
        ``datetime64``, integers stay integers (``Int64`` where some are missing), and
        ``arch_seq`` holds lists; :mod:`nas.results._dataframe` lists every column's type.

        Args:
            include_running: add the trials not finished (status ``"running"``).

        Raises:
            ImportError: pandas is not installed (``pip install 'nas[pandas]'``).

        Example:
            >>> frame = nas.load_results("runs/wine").to_dataframe()
            >>> frame.sort_values("objective", ascending=False).head(3)
        """
        records = self.trials + self.running if include_running else self.trials
        return records_to_dataframe(sorted(records, key=lambda trial: trial.trial_id))
