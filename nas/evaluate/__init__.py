"""Evaluator backends: where configs are trained.

* :class:`SerialEvaluator` — in the calling process (debugging, notebooks).
* :class:`ProcessPoolEvaluator` — long-lived worker processes on this machine (default).
"""

from nas.evaluate._base import Evaluator
from nas.evaluate._evaluation import EvaluationFunction, evaluate, unreported_result
from nas.evaluate._process_pool import ProcessPoolEvaluator
from nas.evaluate._serial import SerialEvaluator

__all__ = [
    "EvaluationFunction",
    "Evaluator",
    "ProcessPoolEvaluator",
    "SerialEvaluator",
    "evaluate",
    "unreported_result",
]
