"""What every worker runs for one config, whichever backend it lives in."""

from __future__ import annotations

import functools
import gc
import os
import pickle
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Union

import cloudpickle

from nas._imports import import_keras
from nas.exceptions import ProblemError
from nas.problem import Problem, load_problem
from nas.train import Stage, Status, TrainingResult, WarmModels, train
from nas.train._group import LEARNING_RATE_SCALING
from nas.train._tensorboard import tensorboard_callbacks, trial_log_dir
from nas.train._warm import checked_memory
from nas.trial import Config, TrialInfo, model_filename

#: The models this process keeps warm between the segments it trains: workers set its
#: budget (:func:`keep_warm_models`); its default of 0 keeps none.
WORKER_MODELS = WarmModels()


def keep_warm_models(memory: int) -> None:
    """Let :func:`evaluate` keep up to ``memory`` bytes of models in this process, so
    that the next segment of a configuration continues warm (0: none; the ones kept so
    far are dropped)."""
    WORKER_MODELS.memory = checked_memory(memory)
    if not memory:
        WORKER_MODELS.clear()


@functools.cache
def freeze_startup_objects() -> None:
    """Leave the objects this worker process has made so far, TensorFlow's and Keras'
    modules above all, out of Python's full garbage collections for good.

    :func:`nas.train.train` clears the Keras session before every model, which runs a
    full collection, and walking what importing TensorFlow made is most of its time. A
    worker calls this once, before its first model, so that no model is ever frozen (a
    frozen object that becomes garbage is never collected).
    """
    import_keras()
    gc.collect()
    gc.freeze()


def warm_memory_budget(memory: int | None, num_workers: int) -> int:
    """A worker's budget for warm models: ``memory`` bytes, checked, or by default (None)
    1 GiB and no more than a quarter of this machine's memory shared by ``num_workers``
    workers."""
    if memory is not None:
        return checked_memory(memory)
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: the plain default
        physical = 2**42
    return int(min(2**30, physical // (4 * max(1, num_workers))))


#: What a worker calls for each config: (problem source, config, timeout, models
#: directory) -> result. Must be importable by name (worker processes import it).
#: The MPI evaluator also passes ``comm=``: the communicator of the config's group of
#: ranks when it asks for more than one (``Config.num_ranks``), else None.
EvaluationFunction = Callable[..., TrainingResult]

#: How a problem reaches workers: its import reference (``"module:attribute"``), or the
#: pickled :class:`Problem` when it has none (made in a notebook or a script).
ProblemSource = Union[str, bytes]


def problem_source(problem: Problem | str) -> ProblemSource:
    """What evaluators send their workers for ``problem`` (a Problem or a reference).

    A problem loaded by reference travels as the reference (every worker imports it); any
    other is pickled with cloudpickle, which carries functions defined in a notebook or
    a script's ``__main__`` by value, so that worker processes and MPI ranks can load it.
    """
    if isinstance(problem, str):
        return problem
    if not isinstance(problem, Problem):
        raise TypeError(
            f"expected a nas.problem.Problem or a 'module:attribute' reference, got {problem!r}"
        )
    if problem.reference is not None:
        return problem.reference
    return cloudpickle.dumps(problem)


@functools.lru_cache(maxsize=4)
def load_problem_source(source: ProblemSource) -> Problem:
    """The problem ``source`` names, loaded once per worker and reused (its data and
    space are cached too)."""
    return pickle.loads(source) if isinstance(source, bytes) else load_problem(source)


def evaluate(
    problem_source: ProblemSource,
    config: Config,
    timeout: float | None,
    models_directory: Path | None = None,
    comm: Any = None,
) -> TrainingResult:
    """Train ``config`` on the problem; any error becomes a failed result.

    With ``models_directory``, a successful model is saved there as
    ``trial_<id>.keras`` for the driver to keep or delete. With ``comm`` (an mpi4py
    communicator of ``config.num_ranks`` ranks), the ranks train the config together,
    data-parallel; every rank of the group calls this and gets the same result.
    The problem's ``callbacks`` factory and, with ``config.tensorboard``, TensorBoard's
    give the training its Keras callbacks (see :func:`trial_callbacks`). A segment's
    model is kept warm in :data:`WORKER_MODELS` for the next, within its budget.
    """
    started_at = time.time()
    try:
        problem = load_problem_source(problem_source)
        callbacks, error = _made_callbacks(problem, config, comm)
        if error is not None:
            return unreported_result(config, started_at, Status.FAILED, error, Stage.SETUP)
        return train(
            problem,
            config.arch_seq,
            config.hyperparameters,
            seed=config.seed,
            epochs=config.epochs,
            initial_epoch=config.initial_epoch,
            start_from=config.start_from,
            checkpoint_path=config.checkpoint_path,
            learning_rate_scaling=config.info.get(LEARNING_RATE_SCALING),
            # A segment's learning-rate schedule spans the configuration's whole training.
            schedule_epochs=config.hyperparameters.get("epochs"),
            timeout=timeout,
            comm=comm,
            model_path=None
            if models_directory is None
            else models_directory / model_filename(config.trial_id),
            callbacks=callbacks,
            warm_models=WORKER_MODELS if WORKER_MODELS.memory else None,
        )
    except Exception as error:  # train() reports training errors itself; this is set-up
        reason = f"{type(error).__name__}: {error}"
        return unreported_result(config, started_at, Status.FAILED, reason, Stage.SETUP)


def trial_callbacks(problem: Problem, config: Config, comm: Any = None) -> list[Any]:
    """The Keras callbacks of one evaluation, made in the worker that trains it.

    With ``config.tensorboard`` (and a search's ``config.directory``), TensorBoard's
    (see :mod:`nas.train._tensorboard`), on the first rank of a group only (the others
    would write the same logs); then those of the problem's ``callbacks`` factory,
    called with a :class:`~nas.trial.TrialInfo` on every rank, as
    ``train(callbacks=)`` runs callbacks on every rank.

    Raises:
        ProblemError: the factory raised, or returned something else than callbacks.
        ImportError: TensorBoard logs are asked for and ``tensorboard`` is missing.
    """
    rank, num_ranks = (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())
    directory = None if config.directory is None else Path(config.directory)
    callbacks: list[Any] = []
    if config.tensorboard and directory is not None and rank == 0:
        callbacks += tensorboard_callbacks(
            trial_log_dir(directory, config.trial_id),
            config.trial_id,
            config.arch_seq,
            config.hyperparameters,
            problem.objective,
            problem.direction,
        )
    factory = getattr(problem, "callbacks", None)
    if factory is None:
        return callbacks
    try:
        made = factory(TrialInfo(config, directory, rank, num_ranks))
    except Exception as error:
        raise ProblemError(
            f"the callbacks factory of problem {problem.name!r} failed for trial "
            f"{config.trial_id}: {type(error).__name__}: {error}"
        ) from error
    if made is None:
        return callbacks
    if isinstance(made, (str, bytes)) or not isinstance(made, Iterable):
        made = [made]
    made = list(made)
    keras = import_keras()
    wrong = [item for item in made if not isinstance(item, keras.callbacks.Callback)]
    if wrong:
        raise ProblemError(
            f"the callbacks factory of problem {problem.name!r} must return a list of "
            f"keras.callbacks.Callback, got {wrong[0]!r}"
        )
    return callbacks + made


def _made_callbacks(problem: Problem, config: Config, comm: Any) -> tuple[list[Any], str | None]:
    """:func:`trial_callbacks`, or why they could not be made; on a group of ranks, a
    failure on any rank fails them on all (a rank that skipped training would leave the
    others waiting in its first collective)."""
    callbacks: list[Any] = []
    error: str | None = None
    try:
        callbacks = trial_callbacks(problem, config, comm)
    except Exception as exception:
        error = (
            str(exception)
            if isinstance(exception, ProblemError)
            else (f"{type(exception).__name__}: {exception}")
        )
    if comm is not None and comm.Get_size() > 1:
        errors = [reason for reason in comm.allgather(error) if reason is not None]
        error = errors[0] if errors else None
    return callbacks, error


def unreported_result(
    config: Config,
    started_at: float,
    status: Status,
    reason: str,
    stage: Stage | None = Stage.TRAIN,
) -> TrainingResult:
    """The result of an evaluation that ended before training could report one."""
    return TrainingResult(
        status=status,
        objective=None,
        learning_curve={},
        num_parameters=None,
        epochs_trained=0,
        build_time=None,
        training_time=None,
        started_at=started_at,
        finished_at=time.time(),
        error=reason,
        error_stage=stage if status is Status.FAILED else None,
        hyperparameters=dict(config.hyperparameters),
        arch_seq=list(config.arch_seq),
        seed=config.seed,
    )
