"""One trial of a search as a flat, typed record: what :func:`nas.load_results` returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from nas.schedule import decision_of
from nas.trial import Config, Trial

#: The ``status`` of a trial submitted and not finished.
RUNNING = "running"


@dataclass(frozen=True)
class TrialRecord:
    """One evaluation of a search: its configuration, how it went, what was decided.

    A finished trial has ``status`` ``"ok"``, ``"failed"`` or ``"timeout"``; one that
    was submitted and has not finished has ``"running"`` (or, when its search was
    stopped, it waits to be run again by ``--resume``) and None in every field that only
    a result fills (marked *finished* below).

    Times are timezone-aware UTC datetimes. A search on the simulated evaluator keeps
    its own clock, which starts at 0: its ``started_at`` and ``finished_at`` are then
    simulated times, a few hours after 1970-01-01.

    Attributes:
        trial_id: the trial's id; trials are numbered in the order they were submitted.
        arch_seq: the architecture, one choice per variable node.
        hyperparameters: the configuration trained with (the problem's defaults filled
            in once finished).
        status: ``"ok"``, ``"failed"``, ``"timeout"`` or ``"running"``.
        objective: the best value of the problem's objective over the epochs trained, in
            its own units (None: failed, no epoch completed, or running).
        error: why it failed or timed out, None otherwise.
        error_stage: where a failed trial stopped (``setup``, ``data``, ``build``,
            ``train``, ``save``), None otherwise.
        submitted_at: when the driver handed it to a worker.
        started_at: when training started (*finished*).
        finished_at: when it ended (*finished*).
        duration: seconds from ``started_at`` to ``finished_at`` (*finished*).
        worker: where it ran (``"process 3"``, ``"ranks 2-3"``; *finished*).
        num_ranks: its data-parallel width: the ranks that trained it together.
        rung, resource, decision, reason: what the scheduler asked for and decided
            (see :class:`nas.schedule.Decision`); None without a scheduler.
        epochs_trained: epochs this trial trained (*finished*).
        epochs_reached: the epoch the model reached: a segment continuing its parent's
            checkpoint starts from the parent's (*finished*).
        parent: the trial whose checkpoint it continued, None for a fresh model.
        seed: the training seed.
        num_parameters: parameters of the model, None if it was not built.
        build_time: seconds to build and compile the model, None if not reached.
        training_time: seconds in ``fit``, None if not reached.
        global_batch_size: samples per optimizer step over all ranks.
        samples_per_second: training throughput over all ranks.
        startup_seconds: its fixed cost: seconds from its start to the end of its first
            training batch (building or loading, compiling, tracing); None if not reached.
        epoch_seconds: median wall time of one of its epochs, validation included.
        warm: whether it continued a model its worker kept in memory (no load, compile
            or tracing) rather than its parent's checkpoint file.
        data_parallel: ``"horovod"`` or ``"mpi"`` for a width above 1, else None.
        learning_curve: metric name -> one value per epoch (None: NaN or infinity).
        info: everything the scheduler recorded about it (its job's notes and its
            decisions), as JSON values.
        objectives: every objective of the problem -> its value (*finished*; empty
            when it failed); with one objective, that one.
        measures: the measured properties the objectives and constraints name
            (``flops``, ``latency_ms``, ...).
        violated: the constraints it breaks, as ``"latency_ms <= 5 (was 7.31)"``.
        violation: how far it is outside the constraints (0: feasible).
        pareto: whether it is on the Pareto front of the search: finished ok, feasible,
            and dominated by no other such trial in every objective (with one objective:
            one of the best).

    Example:
        >>> results = nas.load_results("runs/wine")
        >>> trial = results.trials[0]
        >>> trial.arch_seq, trial.hyperparameters["learning_rate"], trial.objective
        ([1, 0, 2], 0.0031, 0.9444)
        >>> trial.finished_at - trial.started_at
        datetime.timedelta(seconds=4, microseconds=112000)
    """

    trial_id: int
    arch_seq: list[int]
    hyperparameters: dict[str, Any]
    status: str
    objective: float | None
    error: str | None
    error_stage: str | None
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None
    worker: str | None
    num_ranks: int
    rung: int | None
    resource: int | None
    decision: str | None
    reason: str | None
    epochs_trained: int | None
    epochs_reached: int | None
    parent: int | None
    seed: int
    num_parameters: int | None = None
    build_time: float | None = None
    training_time: float | None = None
    global_batch_size: int | None = None
    samples_per_second: float | None = None
    startup_seconds: float | None = None
    epoch_seconds: float | None = None
    warm: bool = False
    data_parallel: str | None = None
    learning_curve: dict[str, list[float | None]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    objectives: dict[str, float | None] = field(default_factory=dict)
    measures: dict[str, float] = field(default_factory=dict)
    violated: list[str] = field(default_factory=list)
    violation: float = 0.0
    pareto: bool = False

    @property
    def ok(self) -> bool:
        """Whether it finished normally."""
        return self.status == "ok"

    @property
    def feasible(self) -> bool:
        """Whether it finished ok and meets every constraint of the problem."""
        return self.ok and self.violation == 0

    @property
    def running(self) -> bool:
        """Whether it was submitted and has not finished."""
        return self.status == RUNNING

    @classmethod
    def finished(
        cls,
        trial: Trial,
        notes: Mapping[str, Any],
        objectives: Sequence[str] = (),
        pareto: bool = False,
    ) -> TrialRecord:
        """The record of a finished trial and of what the scheduler noted about it.

        Args:
            objectives: the names of the search's objectives (a result recorded before
                objectives were has only the one).
            pareto: whether it is on the search's Pareto front.
        """
        config, result = trial.config, trial.result
        decision = decision_of(config.info, notes, config.epochs)
        return cls(
            trial_id=config.trial_id,
            arch_seq=[int(choice) for choice in config.arch_seq],
            # A failed trial may carry only the searched hyperparameters.
            hyperparameters={**config.hyperparameters, **result.hyperparameters},
            status=result.status.value,
            objective=result.objective,
            error=result.error,
            error_stage=None if result.error_stage is None else result.error_stage.value,
            submitted_at=utc(trial.submitted_at),
            started_at=utc(result.started_at),
            finished_at=utc(result.finished_at),
            duration=result.finished_at - result.started_at,
            worker=trial.worker,
            num_ranks=result.num_ranks,
            rung=decision.rung,
            resource=decision.resource,
            decision=decision.decision,
            reason=decision.reason,
            epochs_trained=result.epochs_trained,
            epochs_reached=config.initial_epoch + result.epochs_trained,
            parent=config.parent,
            seed=config.seed,
            num_parameters=result.num_parameters,
            build_time=result.build_time,
            training_time=result.training_time,
            global_batch_size=result.global_batch_size,
            samples_per_second=result.samples_per_second,
            startup_seconds=result.startup_seconds,
            epoch_seconds=result.epoch_seconds,
            warm=result.warm,
            data_parallel=result.data_parallel,
            learning_curve={name: list(values) for name, values in result.learning_curve.items()},
            info={**config.info, **notes},
            objectives=dict(zip(objectives, result.values_of(objectives))) if result.ok else {},
            measures=dict(result.measures),
            violated=list(result.violated),
            violation=result.violation,
            pareto=pareto,
        )

    @classmethod
    def unfinished(cls, config: Config, submitted_at: float) -> TrialRecord:
        """The record of a config submitted at ``submitted_at`` (unix time), not finished."""
        decision = decision_of(config.info, {}, config.epochs)
        return cls(
            trial_id=config.trial_id,
            arch_seq=[int(choice) for choice in config.arch_seq],
            hyperparameters=dict(config.hyperparameters),
            status=RUNNING,
            objective=None,
            error=None,
            error_stage=None,
            submitted_at=utc(submitted_at),
            started_at=None,
            finished_at=None,
            duration=None,
            worker=None,
            num_ranks=config.num_ranks,
            rung=decision.rung,
            resource=decision.resource,
            decision=decision.decision,
            reason=decision.reason,
            epochs_trained=None,
            epochs_reached=None,
            parent=config.parent,
            seed=config.seed,
            info=dict(config.info),
        )


def utc(timestamp: float) -> datetime:
    """A unix time as a timezone-aware UTC datetime."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)
