"""The interface of evaluator backends: run configs somewhere, report trials."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from nas.trial import Config, Trial


class Evaluator(ABC):
    """Runs configs on some workers and hands back finished trials.

    The driver submits while :attr:`num_free` is positive and collects finished trials
    as they come; results arrive in the order evaluations finish, not the order they
    were submitted. Use it as a context manager so that workers are always shut down.
    """

    num_workers: int
    #: The widest data-parallel evaluation (``Config.num_ranks``) this backend can run.
    max_width: int = 1
    #: Whether evaluations train on the problem's data (False: synthetic training), so
    #: that a study checks the data loads and a model builds before starting.
    trains: bool = True
    #: Where each successful model is saved (None: nowhere); a study sets it to its
    #: folder's ``models/`` before the first submission.
    models_directory: Path | None = None

    @abstractmethod
    def submit(self, config: Config) -> None:
        """Start evaluating ``config`` on a free worker."""

    @abstractmethod
    def collect(self, timeout: float | None = None) -> list[Trial]:
        """Wait up to ``timeout`` seconds for finished trials and return them (maybe [])."""

    @property
    @abstractmethod
    def num_running(self) -> int:
        """Evaluations submitted and not yet collected."""

    @property
    def num_free(self) -> int:
        """How many more configs can be submitted now."""
        return self.num_workers - self.num_running

    def restore(self, finished: Sequence[Trial]) -> None:
        """Told, when a search resumes and before anything is submitted, the finished
        trials of its journal. Backends whose checkpoints are files have nothing to do
        (the default); one that keeps its training state in memory (the simulated
        cluster) rebuilds it, so that a segment continuing a checkpoint saved before the
        resume continues it as it was."""
        return None

    def close(self) -> None:
        """Stop the workers; evaluations still running are abandoned."""
        return None

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
