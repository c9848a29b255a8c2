"""Training one configuration: build the architecture, fit it, report how it went.

Keras is imported on the first call of :func:`train`, not when this package is.

Example:
    >>> from nas.problem import load_problem
    >>> from nas.train import train
    >>> problem = load_problem("problems.digits:problem")
    >>> arch_seq = problem.build_space().sample(np.random.default_rng(0))
    >>> result = train(problem, arch_seq, {"learning_rate": 0.01}, epochs=2, seed=1)
    >>> print(result.status, result.objective, result.error)
"""

from nas.train._learning_rate import LearningRateSchedule
from nas.train._measures import (
    FlopReport,
    count_flops,
    flop_report,
    inference_latency,
    measure,
    saved_size,
)
from nas.train._result import Stage, Status, TrainingResult
from nas.train._trainer import partial_path, resolve_hyperparameters, train
from nas.train._warm import WarmModels

__all__ = [
    "FlopReport",
    "LearningRateSchedule",
    "Stage",
    "Status",
    "TrainingResult",
    "WarmModels",
    "count_flops",
    "flop_report",
    "inference_latency",
    "measure",
    "partial_path",
    "resolve_hyperparameters",
    "saved_size",
    "train",
]
