"""``run_search``: the by-name form of :class:`~nas.driver.Study`, as ``nas-search``
calls it (every argument a name or a JSON value, as ``settings.json`` records them)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nas.driver._driver import DEFAULT_MAX_CONSECUTIVE_FAILURES, DEFAULT_STOP_GRACE
from nas.driver._study import PROBLEM_DESCRIPTION, SearchResults, Study
from nas.problem import Problem


def run_search(
    problem: str | Problem,
    out: str | Path,
    search: str = "regevo",
    max_evals: int = 100,
    *,
    num_workers: int | None = None,
    evaluator: str = "process",
    seed: int | None = None,
    timeout: float | None = None,
    eval_timeout: float | None = None,
    search_kwargs: Mapping[str, Any] | None = None,
    scheduler: str = "none",
    scheduler_kwargs: Mapping[str, Any] | None = None,
    keep_models: int = 3,
    resume: bool = False,
    repair: bool = False,
    progress: bool = True,
    stop_grace: float = DEFAULT_STOP_GRACE,
    max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
    tensorboard: bool = False,
    warm_memory: int | None = None,
    **recorded: Any,
) -> SearchResults | None:
    """Search ``problem`` and write the journal and ``results.csv`` to ``out``.

    The arguments are those of :class:`Study`, by name: ``search`` one of
    :data:`nas.search.SEARCHES` with ``search_kwargs``, ``scheduler`` one of
    :data:`nas.schedule.SCHEDULERS` with ``scheduler_kwargs``, ``evaluator`` one of
    :data:`nas.evaluate.EVALUATORS`; ``resume`` continues the search recorded in
    ``out``, and ``repair`` sets aside the lines of its journal that are not records
    (see :class:`Study`). What a ``settings.json`` records about the problem
    (``problem_name``, ``objective``, ``direction``) is accepted and ignored, so that
    recorded settings can be passed back as they are.

    Worker processes are never forked from this process (forking TensorFlow once it
    ran is unsafe): they fork from a server that imported it and ran nothing
    (multiprocessing's ``forkserver``), and import the main module as spawned processes
    do: in a script, call this under ``if __name__ == "__main__":``, as for any
    multiprocessing code.

    Returns:
        The :class:`SearchResults` (None on the worker ranks of the MPI evaluator).

    Example:
        >>> results = run_search("problems.breast_cancer:problem", "runs/bc", "regevo",
        ...                      max_evals=20, num_workers=2, seed=0)
        >>> results.best(1)[0].result.objective
    """
    unknown = set(recorded) - set(PROBLEM_DESCRIPTION)
    if unknown:
        raise TypeError(f"run_search() got unexpected keyword arguments {sorted(unknown)}")
    study = Study(
        problem,
        out,
        search,
        max_evals,
        scheduler=scheduler,
        evaluator=evaluator,
        num_workers=num_workers,
        seed=seed,
        timeout=timeout,
        eval_timeout=eval_timeout,
        search_options=search_kwargs,
        scheduler_options=scheduler_kwargs,
        keep_models=keep_models,
        stop_grace=stop_grace,
        max_consecutive_failures=max_consecutive_failures,
        if_exists="resume" if resume else "error",
        repair=repair,
        progress=progress,
        tensorboard=tensorboard,
        warm_memory=warm_memory,
    )
    return study.run()
