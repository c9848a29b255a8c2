"""Train one architecture of a problem with one hyperparameter configuration."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nas._imports import import_keras
from nas.exceptions import ProblemError, reporting_a_full_disk
from nas.problem import OPTIMIZERS, Dataset, Problem
from nas.problem._objectives import scored
from nas.problem._outputs import check_inputs, check_outputs
from nas.problem._streams import Shard, Stream
from nas.problem._training_settings import check_training_value
from nas.train._devices import bind_local_gpu
from nas.train._feeds import ARRAYS, Feed, failure_hint, open_feed, unwrapped_inputs
from nas.train._group import (
    LearningRateScaling,
    RankGroup,
    WarmupPlan,
    open_group,
    warmup_plan,
)
from nas.train._interrupt import INTERRUPTED
from nas.train._learning_rate import LearningRatePlan, LearningRateSchedule
from nas.train._measures import measure
from nas.train._result import Stage, Status, TrainingResult
from nas.train._warm import WarmModels, reseed_keeping_compiled_functions

if TYPE_CHECKING:
    from nas.parallel import DataParallel
    from nas.space import SearchSpace
    from nas.train._callbacks import TrainingMonitor

logger = logging.getLogger("nas.train")

#: Longer error messages keep their head and tail: TensorFlow puts the cause last.
_MAX_ERROR_LENGTH = 2000
#: Validation rows that inference latency is timed on (cycled to fill a batch).
_SAMPLE_ROWS = 32


def resolve_hyperparameters(
    problem: Problem,
    hyperparameters: Mapping[str, Any] | None = None,
    *,
    epochs: int | None = None,
) -> dict[str, Any]:
    """The complete configuration :func:`train` uses.

    Missing keys take the problem's defaults; given keys must be valid in the problem's
    hyperparameter space (a fixed one may not change). ``epochs``, when given,
    replaces the number of epochs whatever the problem allows: it is a training budget
    (schedulers and ``nas-train --epochs`` set it), not a searched hyperparameter.

    Raises:
        ProblemError: naming the unknown key or the invalid value.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"expected a nas.problem.Problem, got {type(problem).__name__}")
    config = problem.hyperparameters.validate(hyperparameters or {})
    if epochs is not None:
        check_training_value("epochs", epochs)
        config["epochs"] = epochs
    return config


def train(
    problem: Problem,
    arch_seq: Sequence[int],
    hyperparameters: Mapping[str, Any] | None = None,
    *,
    epochs: int | None = None,
    seed: int = 0,
    timeout: float | None = None,
    verbose: int = 0,
    model_path: str | Path | None = None,
    comm: Any = None,
    initial_epoch: int = 0,
    start_from: str | Path | None = None,
    checkpoint_path: str | Path | None = None,
    learning_rate_scaling: Mapping[str, Any] | None = None,
    schedule_epochs: int | None = None,
    callbacks: Sequence[Any] = (),
    warm_models: WarmModels | None = None,
) -> TrainingResult:
    """Build, compile and fit one architecture; return how it went.

    The objective is the best value of ``problem.objective`` over the completed epochs
    (the largest when ``problem.direction`` is ``"max"``), as most tools report, so that
    a model which peaks early is not penalised for the epochs early stopping waits.
    Keras state is cleared and all random seeds are set before building, so the same
    arguments give the same result and repeated calls in one process do not pile up.
    (TensorFlow 2.21 itself keeps a few MB per trained model that ``clear_session``
    does not release, upstream keras-team/keras#17458: long-lived workers should be
    restarted every few hundred evaluations.)

    Whatever goes wrong while loading data, building or training is returned as a
    ``failed`` result naming the stage and the error, never raised: a search carries on.
    A loss that becomes NaN or infinite stops training at once.

    Args:
        problem: the problem; its data and space are loaded on first use and cached.
        arch_seq: the architecture, one choice index per decision of the space.
        hyperparameters: a configuration of the problem's hyperparameters; missing keys
            take their defaults (see :func:`resolve_hyperparameters`).
        epochs: replaces the configuration's number of epochs (a training budget).
        seed: seeds weight initialisation, shuffling and dropout.
        timeout: seconds of training after which to stop, between two batches, with
            status ``timeout`` and the epochs completed so far; loading data and
            building the model do not count, as they cannot be interrupted. The first
            batch (which compiles the training step, a second or more) cannot be
            interrupted either, so short timeouts overrun by that much.
        verbose: Keras ``fit`` verbosity (0 silent, 1 progress bar, 2 one line per epoch).
        model_path: where to save the trained model (``.keras``) when training succeeds.
            A model that cannot be saved (a full disk) leaves no partial file and is
            logged as a warning naming the path and why; the result stays ok, since its
            objective was measured (an export of it says to retrain). On a group of
            ranks only the group's first rank saves.
        comm: an mpi4py communicator of the ranks that train this configuration
            together, data-parallel (every rank calls ``train`` with the same arguments
            and gets the same result); None or one rank trains alone. ``batch_size`` is
            per rank; the rules for sharding, the learning rate and metrics are in
            :mod:`nas.train._group` and docs/cluster.md. Horovod is used when installed,
            else a plain mpi4py allreduce (see :func:`nas.parallel.data_parallel`).
        initial_epoch: epochs already trained (continuing ``start_from``): training
            runs epochs ``initial_epoch + 1`` to ``epochs``, and the learning curve and
            ``epochs_trained`` cover those.
        start_from: a model saved by an earlier segment (``checkpoint_path``): its
            weights and optimizer state (moments, iteration count) are continued, with
            this call's hyperparameters (a new learning rate takes effect; the
            architecture must be the same).
        checkpoint_path: where to save the model with its optimizer state after
            training, when at least one epoch completed and training did not fail, so
            that a later segment can continue it (the group's first rank saves); one
            that cannot be saved fails the result at stage ``save`` (nothing could
            continue it), leaving no partial file.
        learning_rate_scaling: on a group of ranks, the learning-rate rule of a segment
            that a scheduler resized (RASDA): a :class:`nas.train._group.LearningRateScaling`
            as a dict, ``{"rule": "sqrt", "from_width": 2, "warmup_epochs": 1.0}``;
            None: the default linear scaling with warm-up (see :mod:`nas.train._group`).
        schedule_epochs: the epochs the learning-rate schedule (``lr_schedule``) spans:
            the configuration's whole training when this call trains one segment of it
            (schedulers pass the ``epochs`` hyperparameter; see
            :mod:`nas.train._learning_rate`); None: this call's ``epochs``.
        callbacks: Keras callbacks of your own (a logger, a timer), called after the
            trainer's; on a group of ranks, every rank calls its own.
        warm_models: where this process keeps the models it trained, to continue them
            warm: a segment saving ``checkpoint_path`` keeps its model there, and one
            continuing ``start_from`` takes the model kept for it, if any, instead of
            loading, compiling and tracing it again (same weights, optimizer state and
            random seeds as from the file). One rank training alone only.

    Returns:
        A :class:`TrainingResult`.

    Raises:
        ProblemError: if the hyperparameters are invalid for the problem.
        TypeError, ValueError: if ``arch_seq``, ``seed`` or ``timeout`` has the wrong type.

    Example:
        >>> from nas.problem import load_problem
        >>> problem = load_problem("problems.breast_cancer:problem")
        >>> arch_seq = problem.build_space().sample(np.random.default_rng(0))
        >>> result = train(problem, arch_seq, {"learning_rate": 0.01}, epochs=2)
        >>> result.status, result.objective
        (<Status.OK: 'ok'>, 0.96...)
    """
    config = resolve_hyperparameters(problem, hyperparameters, epochs=epochs)
    scaling = LearningRateScaling.from_dict(learning_rate_scaling)
    run = _Run(time.time(), config, _checked_arch_seq(arch_seq), _checked_seed(seed))
    run.initial_epoch = _checked_initial_epoch(initial_epoch, config["epochs"])
    run.schedule_epochs = _checked_schedule_epochs(schedule_epochs, config["epochs"])
    deadline_after = _checked_timeout(timeout)
    group = open_group(comm)
    run.num_ranks = 1 if group is None else group.size
    if group is not None:
        warm_models = None  # a group's ranks would have to hold the same model
    stage = Stage.DATA
    error: str | None = None
    try:
        dataset = problem.load_data()
        stage = Stage.BUILD
        space = problem.build_space(config)
        stage = Stage.DATA
        check_inputs(dataset, space)
        stage = Stage.BUILD
        if start_from is None:
            model = _build(space, run, problem)
        else:
            model = _continued(Path(start_from), run, warm_models)
        stage = Stage.DATA
        check_outputs(dataset, model, problem.loss)
        feeds = _open_feeds(dataset, run, group)
        stage = Stage.BUILD
        if group is None:
            _compile(model, problem, run)
    except Exception as exception:
        logger.debug("training %s failed at stage %s", run.arch_seq, stage, exc_info=True)
        error = _describe(exception)
    if group is not None:
        # Before the first collective: a rank that failed alone must not leave the
        # others waiting in it.
        error, stage = group.first_error(error, stage)
    if error is not None:
        return run.result(Status.FAILED, error=error, error_stage=stage)
    if group is not None and isinstance(dataset.train, Stream):
        # Every step is a collective: the shortest part sets every rank's epoch.
        feeds = _Feeds(feeds.train.cut(group.shortest(feeds.train.length)), feeds.valid)
    stage = Stage.TRAIN
    try:
        if group is None:
            monitor = _fit(model, problem, feeds, run, deadline_after, verbose, callbacks)
        else:
            monitor = _fit_on_group(
                model, problem, feeds, run, deadline_after, group, scaling, callbacks
            )
    except Exception as exception:
        logger.debug("training %s failed", run.arch_seq, exc_info=True)
        error = _describe(exception) + failure_hint(exception, feeds.train, feeds.valid)
        return run.result(Status.FAILED, error=error, error_stage=stage)
    result = _outcome(problem, run, monitor)
    if result.objective is not None:
        result = _scored(result, problem, model, dataset, group)
    if group is None or group.is_leader:
        result = _saved(result, model, checkpoint_path, model_path, warm_models, run)
    # Writing the checkpoint and the model is part of the evaluation's time.
    return dataclasses.replace(result, finished_at=time.time())


def _saved(
    result: TrainingResult,
    model: Any,
    checkpoint_path: str | Path | None,
    model_path: str | Path | None,
    warm_models: WarmModels | None,
    run: _Run,
) -> TrainingResult:
    """``result`` once the segment's checkpoint (kept warm too) and the trial's model
    are written; failed if the checkpoint cannot be, as a later segment needs it."""
    if result.status is not Status.FAILED and result.epochs_trained and checkpoint_path:
        error = _save(model, Path(checkpoint_path))
        if error is not None:  # a later segment could not continue it
            failed = {"status": Status.FAILED, "objective": None, "error": error}
            return dataclasses.replace(result, **failed, error_stage=Stage.SAVE)
        if warm_models is not None:
            warm_models.keep(checkpoint_path, model, run.arch_seq)
    if result.ok and model_path is not None:
        error = _save(model, Path(model_path))
        if error is not None:  # the objective was measured: keep it, say why no model
            logger.warning("%s", error)
    return result


def _scored(
    result: TrainingResult,
    problem: Problem,
    model: Any,
    dataset: Dataset,
    group: RankGroup | None,
) -> TrainingResult:
    """``result`` with the value of every objective, the measured properties they and
    the constraints name, and the constraints the model breaks. The group's first rank
    measures (the ranks hold the same model) and tells the others."""
    measures: dict[str, float] = {}
    error = None
    if problem.measures and (group is None or group.is_leader):
        try:
            measures = measure(model, problem.measures, _inference_sample(dataset, model))
        except Exception as exception:
            logger.debug("measuring %s failed", result.arch_seq, exc_info=True)
            error = f"could not measure {list(problem.measures)}: {_describe(exception)}"
    if problem.measures and group is not None:
        measures, error = group.comm.bcast((measures, error), root=0)
    if error is not None:
        failed = {"status": Status.FAILED, "objective": None, "error": error}
        return dataclasses.replace(result, **failed, error_stage=Stage.TRAIN)
    objectives, violated, violation = scored(
        problem.objectives, problem.constraints, problem.history, result.learning_curve, measures
    )
    return dataclasses.replace(
        result, objectives=objectives, measures=measures, violated=violated, violation=violation
    )


def _inference_sample(dataset: Dataset, model: Any) -> Any:
    """Rows to time inference on: the validation split's first rows when it is arrays;
    zeros of the model's input shapes when it is a stream (timing does not depend on
    the values)."""
    x = dataset.valid[0] if isinstance(dataset.valid, tuple) else None
    if x is not None:
        keras = import_keras()
        rows = keras.tree.map_structure(lambda array: np.asarray(array)[:_SAMPLE_ROWS], x)
        return unwrapped_inputs(rows)
    zeros = [np.zeros((1, *tensor.shape[1:]), dtype=tensor.dtype) for tensor in model.inputs]
    return zeros[0] if len(zeros) == 1 else zeros


def _save(model: Any, path: Path) -> str | None:
    """Save ``model`` to ``path`` whole or not at all: written under another name, then
    renamed, so that a kill or a full disk never leaves a truncated model there.

    Returns:
        None, or why it could not be saved (the partial file is then removed).
    """
    partial = partial_path(path)
    try:
        with reporting_a_full_disk(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            model.save(partial)
            os.replace(partial, path)
    except Exception as error:
        partial.unlink(missing_ok=True)
        reason = f"could not save the trained model to {path}: {_describe(error)}"
        logger.debug("%s", reason, exc_info=True)  # as a failed training: in the result
        return reason
    return None


def partial_path(path: Path) -> Path:
    """Where a model bound for ``path`` is written before being renamed to it (a hidden
    file: a folder of kept models never shows one as a model)."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")  # Keras wants .keras


@dataclass
class _Run:
    """What is known so far about one run, to make its result at any stage."""

    started_at: float
    hyperparameters: dict[str, Any]
    arch_seq: list[Any]
    seed: int
    num_parameters: int | None = None
    build_time: float | None = None
    training_time: float | None = None
    learning_curve: dict[str, list[float | None]] = field(default_factory=dict)
    epochs_trained: int = 0
    num_ranks: int = 1
    initial_epoch: int = 0
    schedule_epochs: int = 1
    samples_per_epoch: int | None = None
    samples_per_second: float | None = None
    data_parallel: str | None = None
    warm: bool = False
    #: ``time.perf_counter()`` when the call started, for ``startup_seconds``.
    clock_started: float = field(default_factory=time.perf_counter)
    startup_seconds: float | None = None
    epoch_seconds: float | None = None

    def result(
        self, status: Status, objective: float | None = None, **errors: Any
    ) -> TrainingResult:
        return TrainingResult(
            status=status,
            objective=objective,
            learning_curve=self.learning_curve,
            num_parameters=self.num_parameters,
            epochs_trained=self.epochs_trained,
            build_time=self.build_time,
            training_time=self.training_time,
            started_at=self.started_at,
            finished_at=time.time(),
            error=errors.get("error"),
            error_stage=errors.get("error_stage"),
            hyperparameters=self.hyperparameters,
            arch_seq=self.arch_seq,
            seed=self.seed,
            num_ranks=self.num_ranks,
            global_batch_size=self.hyperparameters["batch_size"] * self.num_ranks,
            samples_per_second=self.samples_per_second,
            data_parallel=self.data_parallel,
            warm=self.warm,
            startup_seconds=self.startup_seconds,
            epoch_seconds=self.epoch_seconds,
        )


def _build(space: SearchSpace, run: _Run, problem: Problem | None = None) -> Any:
    keras = import_keras()
    bind_local_gpu()
    # Models of earlier runs in this process would otherwise keep their graphs and
    # layer-name counters alive: runs would slow down and name layers differently.
    keras.backend.clear_session()
    keras.utils.set_random_seed(run.seed)
    # Made once per process, copied per model: raw inputs -> what the space expects.
    preprocessing = {} if problem is None else problem.preprocessing_layers()
    start = time.perf_counter()
    model = space.build(run.arch_seq, preprocessing)
    if problem is not None and problem.build_model is not None:
        built = problem.build_model(model, dict(run.hyperparameters))
        model = model if built is None else built
        if not isinstance(model, keras.Model):
            raise ProblemError(
                f"build_model of problem {problem.name!r} returned {type(model).__name__}, "
                "expected a keras.Model (or None to keep the model it was given)"
            )
    run.num_parameters = int(model.count_params())
    run.build_time = time.perf_counter() - start
    return model


def _continued(path: Path, run: _Run, warm_models: WarmModels | None) -> Any:
    """The model a segment continues: kept warm in ``warm_models``, else loaded."""
    model = None if warm_models is None else warm_models.take(path, run.arch_seq)
    if model is None:
        model = _load(path, run)
    else:
        # As the cold path does before loading: shuffling draws the same numbers.
        reseed_keeping_compiled_functions(run.seed)
        run.warm = True
        run.num_parameters = int(model.count_params())
        run.build_time = 0.0
    _reseed_random_layers(model, run)
    return model


def _reseed_random_layers(model: Any, run: _Run) -> None:
    """Give the model's random layers (dropout, noise) seeds of this segment's own.

    A checkpoint does not hold their state: loading draws new seeds, in the order the
    layers are made, while a model kept warm still holds the last segment's. Seeding
    both from the trial's seed and the segment's first epoch makes warm and cold draw
    the same numbers, and each segment other numbers than the last.
    """
    states = [v for v in model.variables if v.name == "seed_generator_state"]
    if not states:
        return
    seeds = np.random.default_rng([run.seed, run.initial_epoch]).integers(1, 10**9, len(states))
    for state, seed in zip(states, seeds, strict=True):
        state.assign(np.array([seed, 0], dtype=state.dtype))


def _load(path: Path, run: _Run) -> Any:
    """A checkpoint's model, with its optimizer's state, to continue training."""
    keras = import_keras()
    bind_local_gpu()
    keras.backend.clear_session()
    keras.utils.set_random_seed(run.seed)
    start = time.perf_counter()
    model = keras.saving.load_model(path)
    run.num_parameters = int(model.count_params())
    run.build_time = time.perf_counter() - start
    return model


def _compile(
    model: Any,
    problem: Problem,
    run: _Run,
    learning_rate: float | None = None,
    parallel: DataParallel | None = None,
) -> None:
    keras = import_keras()
    start = time.perf_counter()
    rate = run.hyperparameters["learning_rate"] if learning_rate is None else learning_rate
    optimizer = _continued_optimizer(model, run.hyperparameters["optimizer"])
    if optimizer is None:
        optimizer_class = getattr(keras.optimizers, OPTIMIZERS[run.hyperparameters["optimizer"]])
        optimizer = optimizer_class(learning_rate=rate)
    else:
        optimizer.learning_rate = rate
        if run.warm:  # one rank alone: no group's optimizer to distribute
            # Compiling again would drop the traced steps, which is what warm saves;
            # the rate is a variable of the optimizer, which those steps read.
            return
    model.compile(
        optimizer=optimizer if parallel is None else parallel.distribute(optimizer),
        loss=dict(problem.loss) if isinstance(problem.loss, Mapping) else problem.loss,
        metrics=(
            {output: list(listed) for output, listed in problem.metrics.items()}
            if isinstance(problem.metrics, Mapping)
            else list(problem.metrics)
        ),
        # Collectives in the train step are not XLA operations.
        jit_compile="auto" if parallel is None else False,
    )
    run.build_time = (run.build_time or 0.0) + time.perf_counter() - start


def _continued_optimizer(model: Any, name: str) -> Any | None:
    """The optimizer a loaded checkpoint carries, if it is the one asked for.

    Its state (moments, iterations) is what continuing means; a configuration that
    asks for another optimizer starts that one afresh.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or type(optimizer).__name__ != OPTIMIZERS[name]:
        return None
    return optimizer


@dataclass(frozen=True)
class _Feeds:
    """This rank's parts of the training and validation splits."""

    train: Feed
    valid: Feed


def _open_feeds(dataset: Dataset, run: _Run, group: RankGroup | None) -> _Feeds:
    """The parts of the splits this process trains and validates on (its rank's)."""
    shard = Shard(0, 1) if group is None else Shard(group.rank, group.size)
    settings = {"batch_size": run.hyperparameters["batch_size"], "seed": run.seed, "shard": shard}
    return _Feeds(
        open_feed(dataset.train, "train", cut=True, **settings),
        open_feed(dataset.valid, "valid", cut=False, **settings),
    )


def _validation_data(feed: Feed) -> Any:
    """``fit``'s ``validation_data`` of a feed: ``(x, y)`` or the batched stream."""
    arguments = feed.arguments()
    return (arguments["x"], arguments["y"]) if "y" in arguments else arguments["x"]


def _fit(
    model: Any,
    problem: Problem,
    feeds: _Feeds,
    run: _Run,
    timeout: float | None,
    verbose: int,
    callbacks: Sequence[Any] = (),
) -> TrainingMonitor:
    monitor = _monitor(problem, timeout)
    _create_training_variables(model, feeds.train)
    run.samples_per_epoch = feeds.train.samples
    plan = _learning_rate_plan(run, feeds.train.steps)
    with _timed(run, monitor):
        model.fit(
            **feeds.train.arguments(),
            epochs=run.hyperparameters["epochs"],
            initial_epoch=run.initial_epoch,
            validation_data=_validation_data(feeds.valid),
            shuffle=feeds.train.kind == ARRAYS,  # a stream shuffles in its pipeline
            callbacks=[
                *_learning_rate_control(plan),
                monitor,
                *_early_stopping(problem, run),
                *callbacks,
            ],
            verbose=verbose,
        )
    return monitor


def _create_training_variables(model: Any, feed: Feed) -> None:
    """Create the variables of the optimizer and of the compiled loss and metrics now,
    from one example batch run eagerly.

    Keras, without a distribution strategy, creates them inside the first trace of the
    train step, and TensorFlow traces a function that creates variables a second time:
    for a small model that second trace is most of what a new segment costs before its
    first batch. Nothing trained changes: the variables start as they would have, and
    ``fit`` resets the metrics this batch updates before its first epoch.
    """
    optimizer = model.optimizer
    # Metrics that make their variables when made (Mean) have no ``built``.
    if optimizer.built and all(getattr(metric, "built", True) for metric in model.metrics):
        return  # a model kept warm, or one whose fit has run
    batch = feed.example_batch()
    if batch is None:
        return
    x, y, sample_weight = import_keras().utils.unpack_x_y_sample_weight(batch)
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    with warnings.catch_warnings():
        # Keras warns of a tensor given to a model whose one input is in a list, as
        # fit gives it; it says nothing of the same call inside fit's traced step.
        warnings.filterwarnings("ignore", "The structure of `inputs` doesn't match")
        y_pred = model(x, training=False)
    model.compute_loss(x, y, y_pred, sample_weight, training=False)
    model.compute_metrics(x, y, y_pred, sample_weight)


def _learning_rate_plan(
    run: _Run, steps_per_epoch: int, group: WarmupPlan | None = None
) -> LearningRatePlan:
    return LearningRatePlan(
        learning_rate=run.hyperparameters["learning_rate"],
        schedule=LearningRateSchedule.from_hyperparameters(run.hyperparameters),
        total_epochs=run.schedule_epochs,
        steps_per_epoch=steps_per_epoch,
        initial_epoch=run.initial_epoch,
        group=group,
    )


def _learning_rate_control(plan: LearningRatePlan) -> list[Any]:
    """The callback that sets each step's rate, none when the rate never changes."""
    if plan.is_constant:
        return []
    from nas.train._callbacks import LearningRateControl

    return [LearningRateControl(plan)]


def _fit_on_group(
    model: Any,
    problem: Problem,
    feeds: _Feeds,
    run: _Run,
    timeout: float | None,
    group: RankGroup,
    scaling: LearningRateScaling | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainingMonitor:
    """Data-parallel training on ``group``: the rules are in :mod:`nas.train._group`
    (``scaling``: the learning-rate rule of a resized segment, None: the default)."""
    from nas.parallel import data_parallel
    from nas.train._callbacks import GroupMetrics

    epochs = run.hyperparameters["epochs"]
    base_rate = run.hyperparameters["learning_rate"]
    steps_per_epoch = feeds.train.steps
    with data_parallel(group.comm) as parallel:
        run.data_parallel = parallel.name
        _compile(model, problem, run, base_rate, parallel)
        _create_training_variables(model, feeds.train)
        parallel.broadcast_weights(model)
        monitor = _monitor(problem, timeout, agree=parallel.any)
        run.samples_per_epoch = feeds.train.samples * group.size
        # The ramp spans the configuration's whole training, as the schedule does, so
        # that segments (ASHA's rungs) share one ramp: the rates of a full training.
        ramp = warmup_plan(
            base_rate, group.size, steps_per_epoch, run.schedule_epochs, run.initial_epoch, scaling
        )
        plan = _learning_rate_plan(run, steps_per_epoch, ramp)
        with _timed(run, monitor):
            model.fit(
                **feeds.train.arguments(),
                epochs=epochs,
                initial_epoch=run.initial_epoch,
                shuffle=feeds.train.kind == ARRAYS,
                callbacks=[
                    GroupMetrics(parallel, feeds.valid.arguments()),
                    *_learning_rate_control(plan),
                    monitor,
                    *_early_stopping(problem, run),
                    *callbacks,
                ],
                verbose=0,
            )
        if group.weights_differ(model.get_weights()) and monitor.failure is None:
            monitor.failure = "the ranks' weights differ after training (replicas diverged)"
        monitor.failure, monitor.timed_out = group.outcome(monitor.failure, monitor.timed_out)
    return monitor


def _monitor(
    problem: Problem, timeout: float | None, agree: Callable[[bool], bool] | None = None
) -> TrainingMonitor:
    from nas.train._callbacks import TrainingMonitor

    deadline = None if timeout is None else time.monotonic() + timeout
    return TrainingMonitor(problem.objective, deadline, agree)


def _early_stopping(problem: Problem, run: _Run) -> list[Any]:
    patience = run.hyperparameters["patience"]
    if patience == 0:
        return []
    keras = import_keras()
    return [
        keras.callbacks.EarlyStopping(
            monitor=problem.objective, mode=problem.direction, patience=patience
        )
    ]


@contextmanager
def _timed(run: _Run, monitor: TrainingMonitor) -> Iterator[None]:
    """Record training time, curve and throughput, also when ``fit`` raises half way."""
    start = time.perf_counter()
    try:
        yield
    finally:
        run.training_time = time.perf_counter() - start
        run.learning_curve, run.epochs_trained = monitor.curve, monitor.epochs_completed
        if monitor.first_batch_ended is not None:
            run.startup_seconds = monitor.first_batch_ended - run.clock_started
        if monitor.epoch_seconds:
            run.epoch_seconds = float(np.median(monitor.epoch_seconds))
        if monitor.epochs_completed and monitor.training_seconds > 0:
            samples = monitor.epochs_completed * (run.samples_per_epoch or 0)
            run.samples_per_second = samples / monitor.training_seconds


def _outcome(problem: Problem, run: _Run, monitor: TrainingMonitor) -> TrainingResult:
    """The result of a run whose ``fit`` returned: ok, failed on NaN, or timed out."""
    if monitor.failure is not None:
        return run.result(Status.FAILED, error=monitor.failure, error_stage=Stage.TRAIN)
    values = [v for v in run.learning_curve.get(problem.objective, []) if v is not None]
    if run.epochs_trained and not values:
        found = sorted(run.learning_curve)
        reason = f"objective {problem.objective!r} is not in the training history {found}"
        return run.result(Status.FAILED, error=reason, error_stage=Stage.TRAIN)
    objective = (max if problem.direction == "max" else min)(values) if values else None
    if monitor.timed_out and monitor.interrupted:
        return run.result(Status.TIMEOUT, objective, error=INTERRUPTED)
    if monitor.timed_out:
        reason = f"timed out after {run.training_time:.1f} s of training, "
        reason += f"{run.epochs_trained} epoch(s) complete"
        return run.result(Status.TIMEOUT, objective, error=reason)
    return run.result(Status.OK, objective)


def _checked_arch_seq(arch_seq: Any) -> list[Any]:
    if isinstance(arch_seq, (str, bytes)) or not isinstance(arch_seq, (Sequence, np.ndarray)):
        raise TypeError(f"arch_seq must be a list of ints, got {arch_seq!r}")
    return [value.item() if isinstance(value, np.generic) else value for value in arch_seq]


def _checked_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _checked_initial_epoch(initial_epoch: Any, epochs: int) -> int:
    valid = isinstance(initial_epoch, int) and not isinstance(initial_epoch, bool)
    if not valid or not 0 <= initial_epoch < epochs:
        raise ValueError(
            f"initial_epoch must be an int from 0 to epochs - 1 = {epochs - 1}, "
            f"got {initial_epoch!r}"
        )
    return initial_epoch


def _checked_schedule_epochs(schedule_epochs: Any, epochs: int) -> int:
    if schedule_epochs is None:
        return epochs
    valid = isinstance(schedule_epochs, int) and not isinstance(schedule_epochs, bool)
    if not valid or schedule_epochs < 1:
        raise ValueError(f"schedule_epochs must be an int >= 1 or None, got {schedule_epochs!r}")
    return schedule_epochs


def _checked_timeout(timeout: Any) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    return float(timeout)


def _describe(error: BaseException) -> str:
    message = f"{type(error).__name__}: {error}".strip()
    if len(message) > _MAX_ERROR_LENGTH:
        half = _MAX_ERROR_LENGTH // 2
        message = f"{message[:half]} [...] {message[-half:]}"
    return message
