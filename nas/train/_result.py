"""The record of one training run: what was trained, how it went, what it scored."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from nas.exceptions import TrainingError


class Status(str, Enum):
    """How a training run ended."""

    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    #: Never trained: the architecture switches every path to an output off (the
    #: error says which), found by the driver from the space alone, at no worker's cost.
    INVALID = "invalid"

    def __str__(self) -> str:
        return self.value


class Stage(str, Enum):
    """Where a failed run stopped: setting up, loading data, building, training or
    saving the trained model.

    ``setup`` is reported by evaluators when a configuration cannot even be handed to the
    trainer: its problem does not import, or its hyperparameters are invalid for it.
    ``save``: the model trained, but the checkpoint asked for could not be saved (a
    full disk): nothing could continue it.
    """

    SETUP = "setup"
    DATA = "data"
    BUILD = "build"
    TRAIN = "train"
    SAVE = "save"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class TrainingResult:
    """What one call of :func:`nas.train.train` produced; JSON-able.

    Attributes:
        status: ``ok``; ``failed`` (see ``error`` and ``error_stage``); or ``timeout``
            (stopped between batches; the curve holds the epochs completed before).
        objective: the best value of the problem's objective over the completed epochs,
            in the problem's direction; None when failed or when no epoch completed.
        learning_curve: Keras history entry (``loss``, ``val_accuracy``, ...) -> one
            value per completed epoch (None where Keras reported NaN or infinity).
        num_parameters: parameters of the model, None if it was not built.
        epochs_trained: epochs completed.
        build_time: seconds to build and compile the model, None if not reached.
        training_time: seconds in ``fit``, None if not reached.
        started_at: unix time when the call started.
        finished_at: unix time when it returned.
        error: why the run did not finish normally, None when ``ok``: ``"ErrorType:
            message"`` or a reason (``"loss became nan at epoch 3"``).
        error_stage: ``"setup"``, ``"data"``, ``"build"`` or ``"train"`` when failed, else
            None.
        hyperparameters: the complete configuration trained with (defaults filled in).
        arch_seq: the architecture.
        seed: the random seed.
        num_ranks: ranks that trained the model together (data-parallel width).
        global_batch_size: samples per optimizer step over all ranks (the per-rank
            ``batch_size`` hyperparameter times ``num_ranks``); None if not reached.
        samples_per_second: training throughput over all ranks, counting training
            batches only (not validation); None if no epoch completed.
        data_parallel: the data-parallel implementation used (``"horovod"`` or
            ``"mpi"``), None for a single rank.
        objectives: every objective of the problem by name, in its order: a history
            entry's best value over the completed epochs, a measured property's value
            (None where not reached); empty when failed. With one objective, that one.
        measures: the measured properties the problem's objectives and constraints name
            (``flops``, ``latency_ms``, ...), of the trained model.
        violated: the constraints the trained model breaks, each as
            ``"latency_ms <= 5 (was 7.31)"``; empty when it meets them all (feasible).
        violation: the total amount by which it breaks them, relative to each bound
            (:func:`nas.pareto.total_violation`): 0 when feasible; what ranks
            infeasible trials among themselves.
        warm: whether this segment continued a model its worker kept in memory from
            the previous segment (no load, no compile, no tracing: see
            :class:`nas.train.WarmModels`); False when it built or loaded one.
        startup_seconds: the fixed cost paid before training proper: seconds from the
            call's start to the end of the first training batch (loading data, building
            or loading the model, compiling, tracing the training step); None if no
            batch ran.
        epoch_seconds: median wall time of a complete epoch, validation included (the
            first counted from the end of its first batch); None if none completed.

    Example:
        >>> result = train(problem, arch_seq, {"learning_rate": 0.01})
        >>> if result.ok:
        ...     print(result.objective, result.learning_curve["val_accuracy"])
        >>> same = TrainingResult.from_dict(json.loads(json.dumps(result.to_dict())))
    """

    status: Status
    objective: float | None
    learning_curve: dict[str, list[float | None]]
    num_parameters: int | None
    epochs_trained: int
    build_time: float | None
    training_time: float | None
    started_at: float
    finished_at: float
    error: str | None
    error_stage: Stage | None
    hyperparameters: dict[str, Any]
    arch_seq: list[int]
    seed: int
    num_ranks: int = 1
    global_batch_size: int | None = None
    samples_per_second: float | None = None
    data_parallel: str | None = None
    objectives: dict[str, float | None] = field(default_factory=dict)
    measures: dict[str, float] = field(default_factory=dict)
    violated: list[str] = field(default_factory=list)
    violation: float = 0.0
    warm: bool = False
    startup_seconds: float | None = None
    epoch_seconds: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        if self.error_stage is not None:
            object.__setattr__(self, "error_stage", Stage(self.error_stage))
        failed = self.status is Status.FAILED
        needs_error = failed or self.status is Status.INVALID
        if (self.status is Status.OK and self.error is not None) or (
            needs_error and not self.error
        ):
            raise TrainingError(f"a {self.status} result has error {self.error!r}")
        if failed != (self.error_stage is not None):
            raise TrainingError(f"a {self.status} result has error_stage {self.error_stage!r}")

    @property
    def ok(self) -> bool:
        """Whether training finished normally."""
        return self.status is Status.OK

    def values_of(self, names: Sequence[str]) -> list[float | None]:
        """The values of the objectives ``names``, in order (None where missing). A result
        recorded before objectives were (one objective) gives ``objective`` for it."""
        if not self.objectives and len(names) == 1:
            return [self.objective]
        return [self.objectives.get(name) for name in names]

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON values (enums become their strings)."""
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        data["error_stage"] = None if self.error_stage is None else self.error_stage.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingResult:
        """Rebuild a result from :meth:`to_dict`.

        Fields with defaults may be absent (journals written before they existed).

        Raises:
            TrainingError: if required fields are missing or fields are unknown.
        """
        fields = dataclasses.fields(cls)
        names = {item.name for item in fields}
        required = {
            item.name
            for item in fields
            if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
        }
        missing, unknown = sorted(required - set(data)), sorted(set(data) - names)
        if missing or unknown:
            raise TrainingError(
                f"not a TrainingResult dict: missing fields {missing}, unknown fields {unknown}"
            )
        return cls(**data)
