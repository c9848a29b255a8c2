"""``load_results``: a search's folder, finished or running, as typed trial records."""

from __future__ import annotations

import time
from pathlib import Path

from nas.driver import read_journal, recorded_objective, recorded_objectives
from nas.driver._driver import front_ids
from nas.exceptions import ProblemError
from nas.results._progress import progress_of
from nas.results._record import TrialRecord
from nas.results._results import DIRECTIONS, Results


def load_results(directory: str | Path, *, direction: str | None = None) -> Results:
    """Load the search in ``directory`` from its journal, while it runs or once done.

    Only reads: a running search goes on undisturbed (a line it is writing is left
    for the next load). Load again to see what has finished since.

    Args:
        directory: the search's output folder (``--out``), with ``journal.jsonl``.
        direction: ``"max"`` or ``"min"``: which objective is better. By default the
            one the search recorded (a folder written by an earlier version records
            only its problem, which is then imported by its reference); pass the
            direction to load such a folder without it.

    Returns:
        The :class:`Results`: finished and running trials in trial order, ``best(k)``,
        ``progress`` and ``to_dataframe()``.

    Raises:
        FileNotFoundError: ``directory`` does not exist or holds no search.
        ProblemError: the folder records no direction, its problem cannot be imported
            and no ``direction`` was given.
        ValueError: ``direction`` is neither ``"max"`` nor ``"min"``, or the journal is
            damaged.

    Example:
        >>> import nas
        >>> results = nas.load_results("runs/wine")
        >>> best = results.best(1)[0]
        >>> best.trial_id, best.objective, best.hyperparameters["learning_rate"]
        (4, 0.9722, 0.0031)
        >>> len(results.running), results.progress.evaluations_per_minute
        (2, 13.5)
    """
    directory = Path(directory)
    if direction is not None and direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'max' or 'min', got {direction!r}")
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a folder: no search to load")
    state = read_journal(directory)
    settings = state.latest_settings or state.settings
    if settings is None:
        raise FileNotFoundError(f"{directory} holds no search (no journal.jsonl)")
    objective = None
    if direction is None:
        try:
            objective, direction = recorded_objective(settings)
            objectives = recorded_objectives(settings)
        except ProblemError as error:
            raise ProblemError(
                f"{error}; pass direction='max' or 'min' to load {directory} without it"
            ) from error
    else:
        objectives = {settings.get("objective", "objective"): direction}
    front = front_ids(state.finished, objectives)
    trials = [
        TrialRecord.finished(
            trial,
            state.notes.get(trial.config.trial_id, {}),
            list(objectives),
            trial.config.trial_id in front,
        )
        for trial in state.finished
    ]
    running = [
        TrialRecord.unfinished(config, state.submit_times.get(config.trial_id, 0.0))
        for config in state.unfinished
    ]
    return Results(
        directory=directory,
        trials=sorted(trials, key=lambda trial: trial.trial_id),
        running=sorted(running, key=lambda trial: trial.trial_id),
        settings=dict(settings),
        objective=objective,
        direction=direction,
        objectives=objectives,
        constraints=list(settings.get("constraints", [])),
        progress=progress_of(state, time.time()),
    )
