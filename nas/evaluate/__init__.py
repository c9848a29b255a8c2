"""Evaluator backends: where configs are trained.

* :class:`SerialEvaluator` — in the calling process (debugging, notebooks).
* :class:`ProcessPoolEvaluator` — long-lived worker processes on this machine (default).
* :class:`MPIEvaluator` — the ranks of an MPI job: rank 0 drives, every other rank runs
  :func:`serve`; a config asking for k ranks trains on a group of k ranks.
  :func:`stop_workers` ends the workers' loops when rank 0 fails before it has one.
* :class:`SimulatedEvaluator` — simulated ranks and clock, synthetic training
  (:class:`SyntheticTraining`): the real driver and schedulers at thousands of ranks.
"""

from nas.evaluate._base import Evaluator
from nas.evaluate._evaluation import (
    EvaluationFunction,
    ProblemSource,
    evaluate,
    problem_source,
    trial_callbacks,
    unreported_result,
)
from nas.evaluate._mpi import MPIEvaluator, stop_workers
from nas.evaluate._mpi_worker import serve
from nas.evaluate._process_pool import (
    ProcessPoolEvaluator,
    exit_if_importing_main_in_a_worker,
    start_worker_server,
)
from nas.evaluate._registry import EVALUATORS, make_evaluator, mpi_world
from nas.evaluate._serial import SerialEvaluator
from nas.evaluate._simulated import SimulatedEvaluator
from nas.evaluate._synthetic_training import SyntheticTraining

__all__ = [
    "EVALUATORS",
    "EvaluationFunction",
    "Evaluator",
    "MPIEvaluator",
    "ProcessPoolEvaluator",
    "ProblemSource",
    "SerialEvaluator",
    "SimulatedEvaluator",
    "SyntheticTraining",
    "evaluate",
    "exit_if_importing_main_in_a_worker",
    "make_evaluator",
    "mpi_world",
    "problem_source",
    "serve",
    "start_worker_server",
    "stop_workers",
    "trial_callbacks",
    "unreported_result",
]
