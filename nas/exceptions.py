"""Exceptions of nas, under one root so that callers can catch ``NASError``.

User mistakes raise subclasses of ``ValueError``/``TypeError`` as well, so ordinary
``except ValueError`` code keeps working.
"""

from __future__ import annotations


class NASError(Exception):
    """Root of every exception raised on purpose by nas."""


class SpaceError(NASError, ValueError):
    """A search space, or an architecture of one, is malformed.

    The message names the node, the operation and the shapes involved.
    """


class ProblemError(NASError, ValueError):
    """A problem definition or a hyperparameter configuration is invalid."""


class TrainingError(NASError, RuntimeError):
    """Training one configuration failed (diverged, raised, ran out of memory)."""
