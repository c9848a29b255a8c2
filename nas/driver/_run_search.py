"""``run_search``: the Python entry point that ``nas-search`` wraps."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.driver._driver import (
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    DEFAULT_STOP_GRACE,
    Driver,
    best_trials,
    job_of,
    segment,
)
from nas.driver._journal import JOURNAL_NAME, JournalState, read_journal
from nas.driver._model_keeper import MODELS_FOLDER
from nas.evaluate import (
    Evaluator,
    MPIEvaluator,
    ProcessPoolEvaluator,
    SerialEvaluator,
    SimulatedEvaluator,
    serve,
)
from nas.evaluate._simulated import default_num_ranks
from nas.problem import Problem, load_problem
from nas.problem._training_settings import extreme_values
from nas.schedule import (
    WIDTH_SETTING_SCHEDULERS,
    Scheduler,
    SchedulingContext,
    make_scheduler,
)
from nas.search import AMBS, AgEBO, GridSearch, RandomSearch, RegularizedEvolution, Search
from nas.trial import Trial

#: Search algorithms by the name ``--search`` takes.
SEARCHES: dict[str, type[Search]] = {
    "random": RandomSearch,
    "regevo": RegularizedEvolution,
    "agebo": AgEBO,
    "ambs": AMBS,
    "grid": GridSearch,
}
EVALUATORS = ("process", "serial", "mpi", "simulated")
#: Settings a resumed search may change; any other difference is refused.
_CHANGEABLE = {
    "max_evals",
    "timeout",
    "num_workers",
    "eval_timeout",
    "evaluator",
    "keep_models",
    "stop_grace",
    "max_consecutive_failures",
}

logger = logging.getLogger("nas.driver")

#: The settings of a search, for ``--resume`` (the journal's start record has them too).
SETTINGS = "settings.json"


@dataclass(frozen=True)
class SearchResults:
    """The trials of a search, in the order they finished."""

    trials: list[Trial]
    problem: Problem
    directory: Path
    #: Why the search returned before its budget (None: the budget was reached).
    stop_reason: str | None = None
    #: Evaluations without a result, re-run by a resume.
    num_unfinished: int = 0
    #: Whether it stopped because too many evaluations failed in a row.
    gave_up: bool = False

    def best(self, k: int = 1) -> list[Trial]:
        """The ``k`` best successful trials, best first."""
        return best_trials(self.trials, self.problem, k)


def run_search(
    problem: str,
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
    progress: bool = True,
    stop_grace: float = DEFAULT_STOP_GRACE,
    max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
) -> SearchResults | None:
    """Search ``problem`` and write the journal and ``results.csv`` to ``out``.

    Args:
        problem: the problem as ``"module:attribute"`` (workers import it by name).
        out: output directory; it must not hold a search unless ``resume`` is set.
        search: one of :data:`SEARCHES` (``random``, ``regevo``, ``agebo``, ``ambs``,
            ``grid``). A grid's size is reported before anything starts, and a grid
            larger than ``max_evals`` is refused (see :class:`nas.search.GridSearch`).
        max_evals: finished evaluations to reach (failed ones count).
        num_workers: parallel evaluations (default: the CPU cores); for the simulated
            evaluator, the simulated ranks.
        evaluator: ``"process"`` (a pool of worker processes), ``"serial"``,
            ``"mpi"`` (under ``mpirun``: every rank calls ``run_search``; rank 0 drives
            and returns the results, the other ranks train and return None), or
            ``"simulated"`` (no training: synthetic learning curves on ``num_workers``
            simulated ranks and a simulated clock, see
            :class:`nas.evaluate.SimulatedEvaluator`; ``eval_timeout`` is then in
            simulated seconds; nothing is saved in ``models``).
        seed: seed of the search and, through it, of every training.
        timeout: wall-clock seconds after which the search stops starting evaluations.
        eval_timeout: seconds of training allowed per evaluation.
        scheduler: what trains next and for how long, over the search: ``"none"``
            (each proposal trains fully) or a name in :data:`nas.schedule.SCHEDULERS`.
        scheduler_kwargs: the scheduler's parameters.
        search_kwargs: arguments of the search (``population_size``, ``points``, ...),
            JSON values: they are recorded in ``settings.json`` for resume.
        keep_models: how many of the best trained models to keep in ``out/models``
            (for ``nas-export``); 0 saves none.
        resume: continue the search recorded in ``out``.
        progress: show a progress bar.
        stop_grace: seconds to wait for running evaluations when the search stops
            early (timeout, SIGINT/SIGTERM); what is still running is re-run on resume.
        max_consecutive_failures: stop after this many failed evaluations in a row
            (0: never).

    Returns:
        The :class:`SearchResults` (None on the worker ranks of the MPI evaluator).

    Raises:
        ValueError: for a directory that holds a search (without ``resume``), settings
            that differ from the recorded ones on resume, or a problem whose
            ``num_ranks`` is wider than the evaluator can run.

    Worker processes are started with ``spawn`` (forking TensorFlow is unsafe), which
    re-imports the main module: in a script, call this under
    ``if __name__ == "__main__":``, as for any multiprocessing code.

    Example:
        >>> results = run_search("problems.breast_cancer:problem", "runs/bc", "regevo",
        ...                      max_evals=20, num_workers=2, seed=0)
        >>> results.best(1)[0].result.objective
    """
    settings = _settings(locals())
    directory = Path(out)
    models = directory / MODELS_FOLDER if keep_models else None
    if evaluator == "mpi":
        comm = mpi_world()
        if comm.Get_rank() != 0:
            serve(comm)
            return None
        # Made before anything can fail: closing it releases the worker ranks, which
        # would otherwise wait for tasks forever.
        with MPIEvaluator(problem, comm, timeout=eval_timeout, models_directory=models) as pool:
            return _search(
                settings, directory, resume, lambda: contextlib.nullcontext(pool), progress
            )
    return _search(
        settings,
        directory,
        resume,
        lambda: make_evaluator(evaluator, problem, num_workers, eval_timeout, models),
        progress,
    )


def _search(
    settings: dict[str, Any],
    directory: Path,
    resume: bool,
    open_evaluator: Callable[[], AbstractContextManager[Evaluator]],
    progress: bool = True,
) -> SearchResults:
    loaded_problem = load_problem(settings["problem"])
    history = read_journal(directory) if resume else None
    if history is not None and history.settings is None and (directory / SETTINGS).exists():
        # Killed while starting (settings written, no evaluation recorded): start over.
        history = None
    if history is not None:
        _check_resumable(directory, history.settings, settings)
    elif (directory / JOURNAL_NAME).exists():
        raise ValueError(
            f"{directory} already holds a search; pass resume=True (--resume) to continue "
            "it, or choose another output directory"
        )
    seed = settings["seed"]
    widths = tuple(sorted(extreme_values(loaded_problem.hyperparameters["num_ranks"])))
    # A scheduler that sets the width (RASDA) owns num_ranks: the search does not search it.
    sets_widths = settings["scheduler"] in WIDTH_SETTING_SCHEDULERS
    search_object = make_search(
        settings["search"],
        loaded_problem,
        seed,
        settings["search_kwargs"],
        settings["max_evals"],
        fixed={"num_ranks": widths[0]} if sets_widths else None,
    )
    if isinstance(search_object, GridSearch):
        _report(search_object.describe(), progress)
    # Written before anything slow starts, so that a kill during start-up leaves a
    # folder that --resume can start again.
    directory.mkdir(parents=True, exist_ok=True)
    (directory / SETTINGS).write_text(json.dumps(settings, indent=2))
    with open_evaluator() as backend:
        context = SchedulingContext(
            max_epochs=max(extreme_values(loaded_problem.hyperparameters["epochs"])),
            max_width=backend.max_width,
            num_workers=backend.num_workers,
            seed=seed,
            direction=loaded_problem.direction,
            widths=widths,
        )
        scheduler = make_scheduler(
            settings["scheduler"], search_object, context, settings["scheduler_kwargs"]
        )
        if not sets_widths:  # RASDA caps the widths at the evaluator's
            check_widths(loaded_problem, backend, settings["evaluator"])
        if history is not None:
            replay(scheduler, history, loaded_problem)
            backend.restore(history.finished)
        driver = Driver(
            loaded_problem,
            scheduler,
            backend,
            directory,
            settings["max_evals"],
            settings,
            timeout=settings["timeout"],
            seed=seed,
            history=history,
            keep_models=settings["keep_models"],
            progress=progress,
            stop_grace=settings["stop_grace"],
            max_consecutive_failures=settings["max_consecutive_failures"],
        )
        trials = driver.run()
        unfinished = driver.num_unfinished
    return SearchResults(
        trials, loaded_problem, directory, driver.stop_reason, unfinished, driver.gave_up
    )


def replay(scheduler: Scheduler, history: JournalState, problem: Problem) -> None:
    """Bring a new scheduler (and its search) to where the journal's search was.

    The finished segments are told again in order, then the state saved with the last
    submission restored (random generators, what replaying cannot rebuild), then the
    evaluations that will be re-run are declared running (model-based searches count
    them as pending again). The scheduler then proposes what the interrupted one would.
    """
    scheduler.tell([segment(trial, problem) for trial in history.finished])
    if history.search_state is not None:
        scheduler.set_state(history.search_state)
    scheduler.running([job_of(config) for config in history.unfinished])


def check_widths(problem: Problem, evaluator: Evaluator, name: str) -> None:
    """Refuse a problem whose ``num_ranks`` can exceed what the evaluator runs."""
    widest = max(extreme_values(problem.hyperparameters["num_ranks"]))
    if widest > evaluator.max_width:
        raise ValueError(
            f"problem {problem.name!r} asks for up to num_ranks={widest} ranks per "
            f"evaluation, but the {name} evaluator runs at most {evaluator.max_width}: "
            f"use --evaluator mpi with at least {widest + 1} ranks (one drives), or "
            "narrow num_ranks"
        )


def mpi_world() -> Any:
    """MPI's world communicator, or a clear error when mpi4py is missing."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(
            "the MPI evaluator needs mpi4py: run scripts/setup.sh or pip install 'nas[mpi]'"
        ) from error
    return MPI.COMM_WORLD


def make_search(
    name: str,
    problem: Problem,
    seed: int | None,
    kwargs: Mapping[str, Any] | None = None,
    max_evals: int | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> Search:
    """The search ``name`` over the problem's space and hyperparameters.

    ``max_evals`` goes to searches that take it (a grid checks that it fits the budget);
    ``fixed`` holds some hyperparameters at a value instead of the problem's range.
    """
    if name not in SEARCHES:
        raise ValueError(f"unknown search {name!r}; expected one of {sorted(SEARCHES)}")
    search_class = SEARCHES[name]
    kwargs = dict(kwargs or {})
    if max_evals is not None and "max_evals" in inspect.signature(search_class).parameters:
        kwargs["max_evals"] = max_evals
    choices = problem.build_space().choices
    hyperparameters = {**problem.hyperparameters, **(fixed or {})}
    return search_class(choices, hyperparameters, seed=seed, **kwargs)


def _report(message: str, show: bool) -> None:
    """Log ``message``, and print it when the progress bar is shown (interactive runs)."""
    logger.info(message)
    if show:
        print(message, file=sys.stderr, flush=True)


def make_evaluator(
    name: str,
    problem: str,
    num_workers: int | None,
    eval_timeout: float | None,
    models_directory: Path | None = None,
) -> Evaluator:
    """The evaluator backend ``name``."""
    if name == "process":
        return ProcessPoolEvaluator(
            problem, num_workers, timeout=eval_timeout, models_directory=models_directory
        )
    if name == "serial":
        return SerialEvaluator(problem, timeout=eval_timeout, models_directory=models_directory)
    if name == "simulated":
        # num_workers counts simulated ranks; eval_timeout is in simulated seconds.
        ranks = num_workers or default_num_ranks()
        return SimulatedEvaluator.for_problem(load_problem(problem), ranks, timeout=eval_timeout)
    raise ValueError(f"unknown evaluator {name!r}; expected one of {list(EVALUATORS)}")


def _settings(arguments: Mapping[str, Any]) -> dict[str, Any]:
    names = (
        "problem",
        "search",
        "max_evals",
        "num_workers",
        "evaluator",
        "seed",
        "timeout",
        "eval_timeout",
        "search_kwargs",
        "scheduler",
        "scheduler_kwargs",
        "keep_models",
        "stop_grace",
        "max_consecutive_failures",
    )
    settings = {name: arguments[name] for name in names}
    # As JSON reads them back, so that a resume compares like with like (tuples as lists).
    for name in ("search_kwargs", "scheduler_kwargs"):
        settings[name] = json.loads(json.dumps(dict(settings[name] or {})))
    return settings


def _check_resumable(
    directory: Path, recorded: dict[str, Any] | None, settings: dict[str, Any]
) -> None:
    if recorded is None:
        raise ValueError(f"{directory} holds no search to resume (no {JOURNAL_NAME})")
    different = {
        name: (recorded.get(name), value)
        for name, value in settings.items()
        if name not in _CHANGEABLE and recorded.get(name) != value
    }
    if different:
        details = ", ".join(
            f"{k}: recorded {old!r}, now {new!r}" for k, (old, new) in different.items()
        )
        raise ValueError(f"cannot resume {directory} with different settings ({details})")
