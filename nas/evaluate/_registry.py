"""Evaluators by the name ``nas-search --evaluator`` takes, and how to make one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nas.evaluate._base import Evaluator
from nas.problem import Problem
from nas.registry import Registry

#: A factory: (problem, num_workers, timeout, models_directory, warm_memory) -> evaluator.
EvaluatorFactory = Callable[
    [Problem, "int | None", "float | None", "Path | None", "int | None"], Evaluator
]


def process_pool(
    problem: Problem,
    num_workers: int | None,
    timeout: float | None,
    models: Path | None,
    warm_memory: int | None,
) -> Evaluator:
    """A pool of ``num_workers`` worker processes (default: one per CPU core)."""
    from nas.evaluate._process_pool import ProcessPoolEvaluator

    return ProcessPoolEvaluator(
        problem, num_workers, timeout=timeout, models_directory=models, warm_memory=warm_memory
    )


def serial(
    problem: Problem,
    num_workers: int | None,
    timeout: float | None,
    models: Path | None,
    warm_memory: int | None,
) -> Evaluator:
    """Evaluations in this process, one at a time (``num_workers`` is ignored)."""
    from nas.evaluate._serial import SerialEvaluator

    return SerialEvaluator(
        problem, timeout=timeout, models_directory=models, warm_memory=warm_memory
    )


def mpi(
    problem: Problem,
    num_workers: int | None,
    timeout: float | None,
    models: Path | None,
    warm_memory: int | None,
) -> Evaluator:
    """Rank 0 of ``MPI.COMM_WORLD`` drives; every other rank must run :func:`serve`."""
    from nas.evaluate._mpi import MPIEvaluator

    return MPIEvaluator(
        problem, mpi_world(), timeout=timeout, models_directory=models, warm_memory=warm_memory
    )


def simulated(
    problem: Problem,
    num_workers: int | None,
    timeout: float | None,
    models: Path | None,
    warm_memory: int | None,
) -> Evaluator:
    """Synthetic training on ``num_workers`` simulated ranks (default: one per CPU core);
    ``timeout`` is in simulated seconds, no model is saved and none is kept warm."""
    from nas.evaluate._simulated import SimulatedEvaluator, default_num_ranks

    ranks = num_workers or default_num_ranks()
    return SimulatedEvaluator.for_problem(problem, ranks, timeout=timeout)


#: Evaluator factories by name.
EVALUATORS: Registry[EvaluatorFactory] = Registry(
    "evaluator",
    {"process": process_pool, "serial": serial, "mpi": mpi, "simulated": simulated},
)


def make_evaluator(
    name: str,
    problem: Problem,
    num_workers: int | None = None,
    timeout: float | None = None,
    models_directory: Path | None = None,
    warm_memory: int | None = None,
) -> Evaluator:
    """The evaluator ``name`` (see :data:`EVALUATORS`) for ``problem``; ``warm_memory``
    is the bytes of models each worker may keep warm (None: the evaluator's default).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    return EVALUATORS.get(name)(problem, num_workers, timeout, models_directory, warm_memory)


def mpi_world() -> Any:
    """MPI's world communicator, or a clear error when mpi4py is missing."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(
            "the MPI evaluator needs mpi4py: run scripts/setup.sh or pip install 'nas[mpi]'"
        ) from error
    return MPI.COMM_WORLD
