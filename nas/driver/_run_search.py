"""``run_search``: the Python entry point that ``nas-search`` wraps."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.driver._driver import Driver, best_trials, observation
from nas.driver._journal import JOURNAL_NAME, read_journal
from nas.driver._model_keeper import MODELS_FOLDER
from nas.evaluate import Evaluator, ProcessPoolEvaluator, SerialEvaluator
from nas.problem import Problem, load_problem
from nas.search import AMBS, AgEBO, RandomSearch, RegularizedEvolution, Search
from nas.trial import Trial

#: Search algorithms by the name ``--search`` takes.
SEARCHES: dict[str, type[Search]] = {
    "random": RandomSearch,
    "regevo": RegularizedEvolution,
    "agebo": AgEBO,
    "ambs": AMBS,
}
EVALUATORS = ("process", "serial")
#: Settings a resumed search may change; any other difference is refused.
_CHANGEABLE = {"max_evals", "timeout", "num_workers", "eval_timeout", "evaluator", "keep_models"}


@dataclass(frozen=True)
class SearchResults:
    """The trials of a search, in the order they finished."""

    trials: list[Trial]
    problem: Problem
    directory: Path

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
    keep_models: int = 3,
    resume: bool = False,
    progress: bool = True,
) -> SearchResults:
    """Search ``problem`` and write the journal and ``results.csv`` to ``out``.

    Args:
        problem: the problem as ``"module:attribute"`` (workers import it by name).
        out: output directory; it must not hold a search unless ``resume`` is set.
        search: one of :data:`SEARCHES` (``random``, ``regevo``, ``agebo``, ``ambs``).
        max_evals: finished evaluations to reach (failed ones count).
        num_workers: parallel evaluations (default: the CPU cores).
        evaluator: ``"process"`` (a pool of worker processes) or ``"serial"``.
        seed: seed of the search and, through it, of every training.
        timeout: wall-clock seconds after which the search stops starting evaluations.
        eval_timeout: seconds of training allowed per evaluation.
        search_kwargs: arguments of the search (``population_size``, ...).
        keep_models: how many of the best trained models to keep in ``out/models``
            (for ``nas-export``); 0 saves none.
        resume: continue the search recorded in ``out``.
        progress: show a progress bar.

    Returns:
        The :class:`SearchResults`.

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
    loaded_problem = load_problem(problem)
    history = read_journal(directory) if resume else None
    if history is not None:
        _check_resumable(directory, history.settings, settings)
    elif (directory / JOURNAL_NAME).exists():
        raise ValueError(
            f"{directory} already holds a search; pass resume=True (--resume) to continue "
            "it, or choose another output directory"
        )
    search_object = make_search(search, loaded_problem, seed, search_kwargs)
    if history is not None:
        search_object.tell([observation(trial, loaded_problem) for trial in history.finished])
        if history.search_state is not None:
            search_object.set_state(history.search_state)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "settings.json").write_text(json.dumps(settings, indent=2))
    models = directory / MODELS_FOLDER if keep_models else None
    with make_evaluator(evaluator, problem, num_workers, eval_timeout, models) as backend:
        driver = Driver(
            loaded_problem,
            search_object,
            backend,
            directory,
            max_evals,
            settings,
            timeout=timeout,
            seed=seed,
            history=history,
            keep_models=keep_models,
            progress=progress,
        )
        trials = driver.run()
    return SearchResults(trials, loaded_problem, directory)


def make_search(
    name: str, problem: Problem, seed: int | None, kwargs: Mapping[str, Any] | None = None
) -> Search:
    """The search ``name`` over the problem's space and hyperparameters."""
    if name not in SEARCHES:
        raise ValueError(f"unknown search {name!r}; expected one of {sorted(SEARCHES)}")
    choices = problem.build_space().choices
    return SEARCHES[name](choices, problem.hyperparameters, seed=seed, **dict(kwargs or {}))


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
        "keep_models",
    )
    settings = {name: arguments[name] for name in names}
    settings["search_kwargs"] = dict(settings["search_kwargs"] or {})
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
