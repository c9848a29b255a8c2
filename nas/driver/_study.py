"""``Study``: one search of one problem, written to one folder, made from objects.

The Python entry point. It takes a :class:`~nas.problem.Problem`, a search, a scheduler
and an evaluator as objects (names are accepted too, and resolved here, once, through
the registries of :mod:`nas.search`, :mod:`nas.schedule` and :mod:`nas.evaluate`), plus
callbacks, and owns the wiring: the journal, resume, the check that the data loads and a
model builds before any worker starts, and the driver loop.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas._stop import stop_signals
from nas.driver._driver import (
    CHECKPOINTS_FOLDER,
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    DEFAULT_STOP_GRACE,
    Driver,
    best_trials,
    front_trials,
    job_of,
    segment,
)
from nas.driver._files import replace_text
from nas.driver._journal import (
    DAMAGED_NAME,
    JOURNAL_NAME,
    JournalState,
    journal_has_records,
    read_journal,
    read_journal_leniently,
    repair_journal,
)
from nas.driver._lock import FolderLock
from nas.driver._model_keeper import MODELS_FOLDER
from nas.evaluate import (
    EVALUATORS,
    Evaluator,
    exit_if_importing_main_in_a_worker,
    make_evaluator,
    mpi_world,
    serve,
    start_worker_server,
)
from nas.exceptions import ProblemError
from nas.problem import Problem, load_problem
from nas.problem._training_settings import extreme_values
from nas.schedule import (
    ONE_OBJECTIVE_SCHEDULERS,
    SCHEDULERS,
    WIDTH_SETTING_SCHEDULERS,
    FullTraining,
    Scheduler,
    SchedulingContext,
    make_scheduler,
)
from nas.search import SEARCHES, GridSearch, Search
from nas.train._tensorboard import TENSORBOARD_FOLDER, check_tensorboard
from nas.train._warm import checked_memory
from nas.trial import Trial

logger = logging.getLogger("nas.driver")

#: The settings of a search, for ``--resume`` (the journal's start record has them too).
SETTINGS = "settings.json"
#: What a study does with a folder that already holds a search.
IF_EXISTS = ("error", "resume", "overwrite")
#: Settings a resumed search may change; any other difference is refused.
CHANGEABLE = frozenset(
    {
        "max_evals",
        "timeout",
        "num_workers",
        "eval_timeout",
        "evaluator",
        "keep_models",
        "stop_grace",
        "max_consecutive_failures",
        "tensorboard",
        "warm_memory",
    }
)
#: What a search writes into its folder: all that ``if_exists="overwrite"`` removes.
_OWN_FILES = (
    JOURNAL_NAME,
    SETTINGS,
    "results.csv",
    MODELS_FOLDER,
    CHECKPOINTS_FOLDER,
    TENSORBOARD_FOLDER,
)
#: What the settings record about the problem beside its reference (not arguments).
PROBLEM_DESCRIPTION = ("problem_name", "objective", "direction", "objectives", "constraints")


class Callback:
    """Hooks into a study's run: subclass and override what you need.

    A plain function given as a callback is called as :meth:`on_trial_end`.

    Example:
        >>> class Log(Callback):
        ...     def on_trial_end(self, trial):
        ...         print(trial.config.trial_id, trial.result.objective)
        >>> Study(problem, "runs/mine", callbacks=[Log()])
    """

    def on_search_start(self, study: Study) -> None:
        """Called once the search, scheduler and evaluator are made (and, on resume,
        brought to where the journal left them, with the checkpoints no job can continue
        deleted), before the first evaluation starts."""

    def on_trial_end(self, trial: Trial) -> None:
        """Called with each finished trial, once the journal and results.csv hold it."""

    def on_search_end(self, results: SearchResults) -> None:
        """Called when the run returns, with what it returns."""


class _TrialFunction(Callback):
    def __init__(self, function: Callable[[Trial], Any]) -> None:
        self.on_trial_end = function  # type: ignore[method-assign]


class SearchFailedError(RuntimeError):
    """The search cannot work: the data does not load or no architecture builds."""


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
    #: Distinct configurations evaluated (same arch_seq and hyperparameters count once).
    num_distinct: int = 0
    #: Whether it ended before its budget because the search had evaluated every
    #: configuration of the space.
    exhausted: bool = False

    def best(self, k: int = 1) -> list[Trial]:
        """The ``k`` best successful trials, best first (with several objectives or
        constraints: by :func:`nas.pareto.rank_order`)."""
        return best_trials(self.trials, self.problem, k)

    def pareto_front(self) -> list[Trial]:
        """The trials on the Pareto front, in trial order: ok, meeting every constraint,
        and dominated by no other such trial in every objective."""
        return front_trials(self.trials, self.problem)


class Study:
    """A search of ``problem``, written to ``directory``.

    Args:
        problem: the :class:`~nas.problem.Problem`, or a reference to one
            (``"module:attribute"``).
        directory: the output folder: journal, ``results.csv``, ``settings.json``,
            the best models.
        search: a :class:`~nas.search.Search` made for the problem (for example
            ``RegularizedEvolution.for_problem(problem, population_size=20, seed=0)``),
            or the name of one in :data:`nas.search.SEARCHES` with ``search_options``.
        max_evals: finished evaluations to reach (failed ones count).
        scheduler: what trains next and for how long: None (each proposal trains fully),
            a name in :data:`nas.schedule.SCHEDULERS` with ``scheduler_options``, or a
            :class:`~nas.schedule.Scheduler` made over ``search``.
        evaluator: where evaluations run: a name in :data:`nas.evaluate.EVALUATORS`
            (``"process"``, ``"serial"``, ``"mpi"``, ``"simulated"``), made and closed
            by the study, or an :class:`~nas.evaluate.Evaluator`, which stays open for
            the caller to reuse and close. With ``"mpi"``, every rank runs the study;
            rank 0 drives and the others train.
        num_workers: parallel evaluations of an evaluator made by name (default: the
            CPU cores; simulated ranks for ``"simulated"``).
        seed: seed of a search made by name and of every training.
        timeout: wall-clock seconds after which no evaluation starts.
        eval_timeout: seconds of training allowed per evaluation.
        search_options, scheduler_options: parameters of a search or scheduler given by
            name (JSON values: ``settings.json`` records them for resume).
        keep_models: how many of the best trained models to keep for ``nas-export``.
        stop_grace: seconds to wait for running evaluations when the search stops early.
        max_consecutive_failures: stop after this many failed evaluations in a row
            (0: never).
        callbacks: :class:`Callback` objects, or functions called with each finished
            :class:`~nas.trial.Trial` once it is recorded.
        if_exists: what to do when ``directory`` holds a search: ``"error"`` (refuse),
            ``"resume"`` (continue it: the settings must match the recorded ones, and a
            difference is named) or ``"overwrite"`` (delete its files and start again).
            A journal holding nothing yet (a kill before its first record) starts again
            with these settings.
        repair: with ``if_exists="resume"``: set aside the journal's lines that are not
            records (damaged in its middle by a disk or file system fault, or a hand
            edit; a kill only cuts the last line, which is always dropped) in
            ``journal.damaged.jsonl`` beside it, say how many, and resume from the rest
            (``nas-search --resume DIR --repair``). Without it such a journal is refused
            with a :class:`~nas.driver.JournalDamagedError` naming the line.
        progress: show progress on the console.
        tensorboard: write each evaluation's TensorBoard logs to
            ``directory/tensorboard/<trial_id>``: Keras' ``TensorBoard`` callback
            (``epoch_loss``, the metrics) and TensorBoard's HParams summary of the
            trial (hyperparameters, ``arch_seq``, the best ``objective``), so that
            ``tensorboard --logdir directory/tensorboard`` compares the trials. Needs
            the ``tensorboard`` package (``pip install 'nas[tensorboard]'``). It may
            change on resume. Callbacks of your own: the problem's ``callbacks``.
        warm_memory: bytes of trained models each worker of an evaluator made by name
            may keep in memory, so that a configuration's next segment (ASHA, LCM, PBT)
            continues warm on the worker that trained it, without loading, compiling
            and tracing it again (None: 1 GiB, at most a quarter of the memory over the
            workers; 0: every segment loads its checkpoint). It may change on resume.

    Raises:
        ValueError: for a bad argument, named with what was expected.

    Example:
        >>> from nas import Study
        >>> from nas.search import RegularizedEvolution
        >>> search = RegularizedEvolution.for_problem(problem, population_size=20, seed=0)
        >>> study = Study(problem, "runs/mine", search, max_evals=50, evaluator="serial")
        >>> results = study.run()
        >>> results.best(1)[0].result.objective
    """

    def __init__(
        self,
        problem: Problem | str,
        directory: str | Path,
        search: Search | str = "regevo",
        max_evals: int = 100,
        *,
        scheduler: Scheduler | str | None = None,
        evaluator: Evaluator | str = "process",
        num_workers: int | None = None,
        seed: int | None = None,
        timeout: float | None = None,
        eval_timeout: float | None = None,
        search_options: Mapping[str, Any] | None = None,
        scheduler_options: Mapping[str, Any] | None = None,
        keep_models: int = 3,
        stop_grace: float = DEFAULT_STOP_GRACE,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        callbacks: Sequence[Callback | Callable[[Trial], Any]] = (),
        if_exists: str = "error",
        repair: bool = False,
        progress: bool = True,
        tensorboard: bool = False,
        warm_memory: int | None = None,
    ) -> None:
        self.problem = load_problem(problem) if isinstance(problem, str) else problem
        if not isinstance(self.problem, Problem):
            raise ValueError(
                f"problem must be a nas.problem.Problem or 'module:attribute', got {problem!r}"
            )
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"the output folder {self.directory} is a file: give a folder")
        if if_exists not in IF_EXISTS:
            raise ValueError(f"if_exists must be one of {list(IF_EXISTS)}, got {if_exists!r}")
        if isinstance(max_evals, bool) or not isinstance(max_evals, int) or max_evals < 1:
            raise ValueError(f"max_evals must be a positive int, got {max_evals!r}")
        if repair and if_exists != "resume":
            raise ValueError(
                f"repair=True repairs the journal of a search to resume: give it with "
                f"if_exists='resume', not if_exists={if_exists!r}"
            )
        if warm_memory is not None and isinstance(evaluator, Evaluator):
            raise ValueError(
                "give warm_memory only with an evaluator given by name; an evaluator "
                "object takes its own (ProcessPoolEvaluator(..., warm_memory=...))"
            )
        self.if_exists = if_exists
        self.repair = bool(repair)
        self._search, self._scheduler, self._evaluator = search, scheduler, evaluator
        #: The search, scheduler and evaluator of the run, once :meth:`run` has made
        #: them (what :meth:`Callback.on_search_start` can look at).
        self.search: Search | None = None
        self.scheduler: Scheduler | None = None
        self.evaluator: Evaluator | None = None
        self.callbacks = [_callback(callback) for callback in callbacks]
        self.progress = progress
        self.settings = self._settings(
            max_evals=max_evals,
            num_workers=num_workers,
            seed=seed,
            timeout=timeout,
            eval_timeout=eval_timeout,
            search_options=search_options,
            scheduler_options=scheduler_options,
            keep_models=keep_models,
            stop_grace=stop_grace,
            max_consecutive_failures=max_consecutive_failures,
            tensorboard=_checked_tensorboard(tensorboard),
            warm_memory=None if warm_memory is None else checked_memory(warm_memory),
        )

    def run(self) -> SearchResults | None:
        """Run the search to its budget, or until it stops early, and return its trials.

        Returns None on the worker ranks of the MPI evaluator (they train until rank 0
        is done).

        Raises:
            SearchFailedError: when the data does not load or no architecture builds:
                checked once, here, before any worker starts.
            ValueError: when the folder holds a search and ``if_exists`` is ``"error"``,
                or the recorded settings differ from these on ``"resume"``.
            JournalDamagedError: (a ValueError) on ``"resume"`` without ``repair``, when
                a line in the middle of the journal is not a record.
            DiskFullError: (an OSError) when the disk of the folder is full; the folder
                stays resumable once space is freed.
            FolderInUseError: when another driver is running a search in the folder.
            SearchStopped: (a BaseException, as KeyboardInterrupt) when SIGINT or
                SIGTERM arrives before the folder is touched: nothing was run or
                written. Later, a signal stops the search early (see ``stop_grace``).
        """
        exit_if_importing_main_in_a_worker()  # a script without a __main__ guard
        if self.search is not None:
            raise RuntimeError(
                "this study has run: make a new Study (with if_exists='resume' and a "
                "larger max_evals to continue it)"
            )
        # Caught for the whole run (nas-search catches them from its first line), so
        # that a signal at any instant stops the search cleanly (see nas._stop).
        with stop_signals():
            return self._run_on_evaluator()

    def _run_on_evaluator(self) -> SearchResults | None:
        given = self._evaluator
        if isinstance(given, Evaluator):
            given.models_directory = self._models_directory()
            return self._run(lambda: contextlib.nullcontext(given), given.trains)
        if given == "mpi":
            comm = mpi_world()
            if comm.Get_rank() != 0:
                serve(comm)
                return None
            # Made before anything can fail: closing it releases the worker ranks, which
            # would otherwise wait for tasks forever.
            with self._made_evaluator() as pool:
                return self._run(lambda: contextlib.nullcontext(pool), pool.trains)
        return self._run(self._made_evaluator, trains=given != "simulated")

    # -- the run ----------------------------------------------------------------------

    def _run(
        self, open_evaluator: Callable[[], AbstractContextManager[Evaluator]], trains: bool
    ) -> SearchResults:
        # What can fail without touching the folder fails first, leaving no folder; a
        # stop signal, with nothing written yet, ends the run at once (SearchStopped).
        with stop_signals() as signals, signals.interrupting():
            self._refuse_a_folder_in_use()
            search = self.search = self._make_search()
            if isinstance(search, GridSearch):
                _report(search.describe(), self.progress)
            if trains:
                if self._evaluator == "process":
                    start_worker_server()  # it imports TensorFlow while the checks run
                self._preflight()
        with FolderLock(self.directory):  # before reading: one driver per folder
            return self._run_locked(search, open_evaluator)

    def _run_locked(
        self, search: Search, open_evaluator: Callable[[], AbstractContextManager[Evaluator]]
    ) -> SearchResults:
        history = self._history()
        settings = self.settings
        # Written before anything slow starts, so that a kill during start-up leaves a
        # folder that resume can start again.
        self.directory.mkdir(parents=True, exist_ok=True)
        replace_text(self.directory / SETTINGS, json.dumps(settings, indent=2))
        with open_evaluator() as backend:  # only now: the checks above start no worker
            self.evaluator = backend
            scheduler = self.scheduler = self._make_scheduler(search, backend)
            if settings["scheduler"] not in WIDTH_SETTING_SCHEDULERS:  # RASDA caps widths
                check_widths(self.problem, backend, settings["evaluator"])
            if history is not None:
                replay(scheduler, history, self.problem)
                backend.restore(history.finished)
            driver = Driver(
                self.problem,
                scheduler,
                backend,
                self.directory,
                settings["max_evals"],
                settings,
                timeout=settings["timeout"],
                seed=settings["seed"],
                history=history,
                keep_models=settings["keep_models"],
                progress=self.progress,
                stop_grace=settings["stop_grace"],
                max_consecutive_failures=settings["max_consecutive_failures"],
                callbacks=[callback.on_trial_end for callback in self.callbacks],
            )
            for callback in self.callbacks:
                callback.on_search_start(self)
            trials = driver.run()
            unfinished = driver.num_unfinished
        results = SearchResults(
            trials,
            self.problem,
            self.directory,
            driver.stop_reason,
            unfinished,
            driver.gave_up,
            num_distinct=search.num_distinct,
            exhausted=search.exhausted and len(trials) < settings["max_evals"],
        )
        if results.exhausted:
            logger.info("every configuration of the space was evaluated (%d)", search.num_distinct)
        for callback in self.callbacks:
            callback.on_search_end(results)
        return results

    def _refuse_a_folder_in_use(self) -> None:
        """Refuse at once a folder holding a search (``if_exists="error"``), before the
        data is loaded; the check is made again under the folder's lock."""
        if self.if_exists == "error" and journal_has_records(self.directory):
            # Started together with another new search, the other may run it: name it.
            FolderLock(self.directory).refuse_if_held()
            raise self._holds_a_search()

    def _history(self) -> JournalState | None:
        """What the folder holds, after ``if_exists`` has been applied."""
        # A journal without a whole record was killed before its first: nothing to keep.
        holds_search = journal_has_records(self.directory)
        if holds_search and self.if_exists == "overwrite":
            for name in _OWN_FILES:
                path = self.directory / name
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            return None
        if self.if_exists != "resume":
            if holds_search:
                raise self._holds_a_search()
            return None
        if self.repair and holds_search:
            self._repair_journal()
        history = read_journal(self.directory)
        if history.settings is None:
            # Nothing recorded yet (killed while starting): start over.
            return None
        _check_resumable(self.directory, history.settings, self.settings)
        return history

    def _repair_journal(self) -> None:
        """Set the journal's damaged lines aside, saying how many and where (always on
        the console: lines leave the journal, nothing is dropped silently)."""
        damaged = repair_journal(self.directory)
        journal = self.directory / JOURNAL_NAME
        if not damaged:
            _report(f"{journal}: no damaged line, nothing to repair", show=True)
            return
        numbers = ", ".join(str(item.number) for item in damaged[:10])
        numbers += ", ..." if len(damaged) > 10 else ""
        _report(
            f"{journal}: set {len(damaged)} damaged line(s) aside (line(s) {numbers}) in "
            f"{self.directory / DAMAGED_NAME}; resuming from the other records",
            show=True,
        )

    def _holds_a_search(self) -> ValueError:
        return ValueError(
            f"{self.directory} already holds a search: pass if_exists='resume' "
            "(nas-search --resume) to continue it or if_exists='overwrite' to start "
            "it again, or choose another folder"
        )

    def _preflight(self) -> None:
        """Load the data and build a model once, here, so that a problem that cannot
        work (data that do not load or do not fit the space, a space that never builds)
        fails at once with its error instead of once per evaluation."""
        try:
            self.problem.load_data()  # cached: check() below does not load it again
        except Exception as error:
            raise SearchFailedError(
                f"problem {self.problem.name!r}: loading the data failed: "
                f"{type(error).__name__}: {error}"
            ) from error
        try:
            self.problem.check()
        except ProblemError as error:  # one line naming the problem and what does not fit
            raise SearchFailedError(str(error)) from error
        except Exception as error:
            raise SearchFailedError(
                f"problem {self.problem.name!r}: {type(error).__name__}: {error}"
            ) from error

    # -- objects from names, names from objects ---------------------------------------

    def _settings(self, **given: Any) -> dict[str, Any]:
        """What ``settings.json`` records: names and JSON values only."""
        search, scheduler, evaluator = self._search, self._scheduler, self._evaluator
        search_options = _json(given.pop("search_options"), "search_options")
        scheduler_options = _json(given.pop("scheduler_options"), "scheduler_options")
        if isinstance(search, Search):
            if search_options:
                raise ValueError("give search_options only with a search given by name")
            if search.num_told:
                raise ValueError(
                    "the search object has already been told results: make a new one for "
                    "each study (a resumed study tells it the journal's results itself)"
                )
            _check_search_fits(search, self.problem)
            search_options = search.options()
            search_name = SEARCHES.name_of(search)
        elif isinstance(search, str):
            SEARCHES.get(search)  # an unknown name fails here, listing the known ones
            search_name = search
        else:
            raise ValueError(f"search must be a nas.search.Search or a name, got {search!r}")
        if isinstance(scheduler, Scheduler):
            if scheduler_options:
                raise ValueError("give scheduler_options only with a scheduler given by name")
            if isinstance(search, Search) and scheduler.search is not search:
                raise ValueError("the scheduler was made over another search than `search`")
            scheduler_name = SCHEDULERS.name_of(scheduler)
            scheduler_options = scheduler.arguments(without=("search",))
        elif scheduler is None or isinstance(scheduler, str):
            scheduler_name = scheduler or "none"
            SCHEDULERS.get(scheduler_name)
        else:
            raise ValueError(
                f"scheduler must be a nas.schedule.Scheduler, a name or None, got {scheduler!r}"
            )
        if isinstance(evaluator, Evaluator):
            evaluator_name = EVALUATORS.name_of(evaluator)
        elif isinstance(evaluator, str):
            EVALUATORS.get(evaluator)
            evaluator_name = evaluator
        else:
            raise ValueError(
                f"evaluator must be a nas.evaluate.Evaluator or a name, got {evaluator!r}"
            )
        _check_ranks_by_front(scheduler, scheduler_name, evaluator_name, self.problem)
        return {
            "problem": self.problem.reference,
            # Recorded so that plots, loaders and exports name and rank a search whose
            # problem was an object (no reference to import it by) without the problem.
            "problem_name": self.problem.name,
            "objective": self.problem.objective,
            "direction": self.problem.direction,
            "objectives": {item.name: item.direction for item in self.problem.objectives},
            "constraints": [str(item) for item in self.problem.constraints],
            "search": search_name,
            "evaluator": evaluator_name,
            **given,
            "search_kwargs": search_options,
            "scheduler": scheduler_name,
            "scheduler_kwargs": scheduler_options,
        }

    def _make_search(self) -> Search:
        search = self._given_or_named_search()
        # Never propose an architecture that switches every path to an output off.
        search.set_validity(self.problem.build_space().is_valid)
        return search

    def _given_or_named_search(self) -> Search:
        if isinstance(self._search, Search):
            return self._search
        if isinstance(self._scheduler, Scheduler):
            return self._scheduler.search
        width_held = self.settings["scheduler"] in WIDTH_SETTING_SCHEDULERS
        return make_search(
            self.settings["search"],
            self.problem,
            self.settings["seed"],
            self.settings["search_kwargs"],
            self.settings["max_evals"],
            # A scheduler that sets the width (RASDA) owns num_ranks: it is not searched.
            fixed={"num_ranks": self._widths()[0]} if width_held else None,
        )

    def _make_scheduler(self, search: Search, backend: Evaluator) -> Scheduler:
        if isinstance(self._scheduler, Scheduler):
            return self._scheduler
        context = SchedulingContext(
            max_epochs=max(extreme_values(self.problem.hyperparameters["epochs"])),
            max_width=backend.max_width,
            num_workers=backend.num_workers,
            seed=self.settings["seed"],
            direction=self.problem.direction,
            widths=self._widths(),
        )
        name = self.settings["scheduler"]
        if name == "none":
            return FullTraining(search)
        return make_scheduler(name, search, context, self.settings["scheduler_kwargs"])

    def _made_evaluator(self) -> Evaluator:
        return make_evaluator(
            self.settings["evaluator"],
            self.problem,
            self.settings["num_workers"],
            self.settings["eval_timeout"],
            self._models_directory(),
            self.settings["warm_memory"],
        )

    def _models_directory(self) -> Path | None:
        return self.directory / MODELS_FOLDER if self.settings["keep_models"] else None

    def _widths(self) -> tuple[int, ...]:
        return tuple(sorted(extreme_values(self.problem.hyperparameters["num_ranks"])))


def _checked_tensorboard(tensorboard: Any) -> bool:
    if not isinstance(tensorboard, bool):
        raise ValueError(f"tensorboard must be True or False, got {tensorboard!r}")
    if tensorboard:
        check_tensorboard()  # here, not once per evaluation in the workers
    return tensorboard


def _callback(callback: Callback | Callable[[Trial], Any]) -> Callback:
    if isinstance(callback, Callback):
        return callback
    if callable(callback):
        return _TrialFunction(callback)
    raise ValueError(
        f"a callback must be a nas.driver.Callback or a function of a finished trial, "
        f"got {callback!r}"
    )


def make_search(
    name: str,
    problem: Problem,
    seed: int | None,
    options: Mapping[str, Any] | None = None,
    max_evals: int | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> Search:
    """The search ``name`` (see :data:`nas.search.SEARCHES`) over ``problem``.

    ``max_evals`` goes to searches that take it (a grid checks that it fits the budget);
    ``fixed`` holds some hyperparameters at a value instead of the problem's range.
    Options recorded from an object (``seed`` among them) win over ``seed``.
    """
    search_class = SEARCHES.get(name)
    options = {"seed": seed, **(options or {})}
    parameters = inspect.signature(search_class).parameters
    if max_evals is not None and "max_evals" in parameters and "max_evals" not in options:
        options["max_evals"] = max_evals
    hyperparameters = {**problem.hyperparameters, **(fixed or {})}
    return search_class(problem.build_space().choices, hyperparameters, **options)


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


def _check_search_fits(search: Search, problem: Problem) -> None:
    """Refuse a search made for another space or other hyperparameters."""
    choices = problem.build_space().choices
    if list(search.choices) != list(choices):
        raise ValueError(
            f"the search was made for a space with choices {search.choices}, but problem "
            f"{problem.name!r}'s space has {choices}: make it with "
            f"{type(search).__name__}.for_problem(problem, ...)"
        )
    names, expected = sorted(search.hyperparameters.names), sorted(problem.hyperparameters.names)
    if names != expected:
        raise ValueError(
            f"the search was made for hyperparameters {names}, but problem "
            f"{problem.name!r} has {expected}: make it with "
            f"{type(search).__name__}.for_problem(problem, ...)"
        )


def _check_ranks_by_front(scheduler: Any, name: str, evaluator: str, problem: Problem) -> None:
    """Refuse, for a problem of several objectives or constraints, a scheduler that ranks
    by one score and the simulated evaluator (it simulates one learning curve and
    measures no model)."""
    if len(problem.objectives) == 1 and not problem.constraints:
        return
    what = ", ".join(str(item) for item in problem.objectives)
    if problem.constraints:
        what += "; constraints " + ", ".join(str(item) for item in problem.constraints)
    if isinstance(scheduler, Scheduler):
        by_front = scheduler.ranks_by_front
    else:
        by_front = name not in ONE_OBJECTIVE_SCHEDULERS
    if not by_front:
        able = sorted(set(SCHEDULERS) - ONE_OBJECTIVE_SCHEDULERS)
        raise ValueError(
            f"scheduler {name!r} ranks configurations by one objective, but problem "
            f"{problem.name!r} has {what}: use one of {able}"
        )
    if evaluator == "simulated":
        raise ValueError(
            f"the simulated evaluator simulates one learning curve and measures no model, "
            f"but problem {problem.name!r} has {what}: use evaluator 'process', 'serial' "
            "or 'mpi'"
        )


def _check_resumable(directory: Path, recorded: dict[str, Any], settings: dict[str, Any]) -> None:
    different = {
        name: (recorded.get(name), value)
        for name, value in settings.items()
        if name not in CHANGEABLE
        and recorded.get(name) != value
        # A problem given as an object has no reference; its name identifies it.
        and not (name == "problem" and None in (recorded.get(name), value))
        # A folder written by an earlier version lacks the settings added since.
        and name in recorded
    }
    if different:
        details = ", ".join(
            f"{k}: recorded {old!r}, now {new!r}" for k, (old, new) in different.items()
        )
        raise ValueError(f"cannot resume {directory} with different settings ({details})")


def recorded_settings(directory: Path) -> dict[str, Any] | None:
    """The settings of the search in ``directory``: ``settings.json``, or, when it is
    missing or damaged, the journal's latest start record (which holds the same);
    None when the folder holds no search."""
    try:
        return dict(json.loads((Path(directory) / SETTINGS).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass
    if not (Path(directory) / JOURNAL_NAME).exists():
        return None
    # Damaged lines are refused (or repaired) by the resume itself, which needs these first.
    return read_journal_leniently(directory)[0].latest_settings


def recorded_objective(settings: Mapping[str, Any]) -> tuple[str, str]:
    """The objective a search ranks by and its direction (``"max"`` or ``"min"``), from
    its recorded ``settings``; for a folder written before they were recorded, from its
    problem, which must then be importable here.

    Raises:
        ProblemError: the folder records neither, and its problem cannot be imported.
    """
    if "objective" in settings and "direction" in settings:
        return settings["objective"], settings["direction"]
    if settings.get("problem") is None:
        raise ProblemError(
            f"the search of problem {settings.get('problem_name')!r} records neither its "
            "objective nor a problem to import"
        )
    problem = load_problem(settings["problem"])
    return problem.objective, problem.direction


def recorded_objectives(settings: Mapping[str, Any]) -> dict[str, str]:
    """Every objective of a search -> its direction, from its recorded ``settings`` (a
    folder written before several were recorded: its one objective)."""
    if "objectives" in settings:
        return dict(settings["objectives"])
    objective, direction = recorded_objective(settings)
    return {objective: direction}


def _json(options: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """``options`` as JSON reads them back, so that a resume compares like with like."""
    try:
        return json.loads(json.dumps(dict(options or {})))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} must hold JSON values (recorded for resume): {error}") from None


def _report(message: str, show: bool) -> None:
    """Log ``message``, and print it when progress is shown (interactive runs)."""
    logger.info(message)
    if show:
        print(message, file=sys.stderr, flush=True)
