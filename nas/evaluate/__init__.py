"""Evaluator backends: where configs are trained.

* :class:`SerialEvaluator` — in the calling process (debugging, notebooks).
* :class:`ProcessPoolEvaluator` — long-lived worker processes on this machine (default).
* :class:`MPIEvaluator` — the ranks of an MPI job: rank 0 drives, every other rank runs
  :func:`serve`; a config asking for k ranks trains on a group of k ranks.
"""

from nas.evaluate._base import Evaluator
from nas.evaluate._evaluation import EvaluationFunction, evaluate, unreported_result
from nas.evaluate._mpi import MPIEvaluator
from nas.evaluate._mpi_worker import serve
from nas.evaluate._process_pool import ProcessPoolEvaluator
from nas.evaluate._serial import SerialEvaluator

__all__ = [
    "EvaluationFunction",
    "Evaluator",
    "MPIEvaluator",
    "ProcessPoolEvaluator",
    "SerialEvaluator",
    "evaluate",
    "serve",
    "unreported_result",
]
