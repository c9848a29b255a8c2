"""The ask/tell interface every search algorithm implements.

A search proposes configurations and learns from their scores. It never starts a
process, sleeps, trains, or touches a file: the driver does. That is what lets one
algorithm run unchanged in a unit test, on a laptop pool and on thousands of MPI ranks.

Scores are always *maximised*: the driver negates objectives that the problem minimises,
and passes ``None`` for an evaluation that failed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nas.problem import Constant, HyperparameterSpace


@dataclass(frozen=True)
class Proposal:
    """A configuration a search asks to evaluate."""

    arch_seq: tuple[int, ...]
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Observation:
    """An evaluated configuration, told back to the search.

    ``score`` is the objective oriented so that larger is better; ``None`` means the
    evaluation failed (searches never select it as a parent).
    """

    arch_seq: tuple[int, ...]
    hyperparameters: Mapping[str, Any]
    score: float | None

    @property
    def failed(self) -> bool:
        return self.score is None


class Search(ABC):
    """Base class of search algorithms.

    Args:
        choices: the number of candidates of each decision of the space
            (``space.choices``); an empty list for a hyperparameter-only problem.
        hyperparameters: the hyperparameter space searched jointly (may be empty).
        seed: seed of the search's own random generator.
    """

    def __init__(
        self,
        choices: Sequence[int],
        hyperparameters: HyperparameterSpace | Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        if isinstance(choices, (str, bytes)) or not all(
            isinstance(count, (int, np.integer)) and count >= 1 for count in choices
        ):
            raise ValueError(f"choices must be a list of positive ints, got {choices!r}")
        self.choices = [int(count) for count in choices]
        if not isinstance(hyperparameters, HyperparameterSpace):
            hyperparameters = HyperparameterSpace(hyperparameters or {})
        self.hyperparameters = hyperparameters
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.num_told = 0

    @abstractmethod
    def ask(self, n: int = 1) -> list[Proposal]:
        """Propose ``n`` configurations to evaluate next."""

    def tell(self, observations: Sequence[Observation]) -> None:
        """Learn from finished evaluations (in the order they finished)."""
        for observation in observations:
            self._tell_one(observation)
            self.num_told += 1

    def _tell_one(self, observation: Observation) -> None:
        """Subclasses that learn override this; random search learns nothing."""
        return None

    def running(self, proposals: Sequence[Proposal]) -> None:
        """Be told of proposals that are being evaluated though this object did not
        just propose them: on resume, the evaluations the journal re-runs.

        Model-based searches count them as pending (the constant liar), as they did
        before the interruption; others need not know.
        """
        return None

    def get_state(self) -> dict[str, Any]:
        """What the journal must keep to resume exactly, besides the observations.

        Observations are replayed through :meth:`tell` on resume; the random generator
        is the remaining state, so that a resumed search proposes what it would have.
        """
        return {"rng": self.rng.bit_generator.state}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_state` returned."""
        self.rng.bit_generator.state = state["rng"]

    # -- helpers shared by searches ---------------------------------------------------

    def random_proposal(self) -> Proposal:
        """A uniformly random architecture with random hyperparameters."""
        return Proposal(self.random_arch_seq(), self.random_hyperparameters())

    def random_arch_seq(self) -> tuple[int, ...]:
        return tuple(int(self.rng.integers(count)) for count in self.choices)

    def random_hyperparameters(self) -> dict[str, Any]:
        return dict(self.hyperparameters.sample(self.rng)) if self.hyperparameters else {}

    @property
    def tunable_hyperparameters(self) -> list[str]:
        """Hyperparameters with more than one value (constants are not searched)."""
        return [
            name
            for name, hyperparameter in self.hyperparameters.items()
            if not isinstance(hyperparameter, Constant)
        ]

    @staticmethod
    def _check_count(n: int) -> int:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"ask(n) needs a positive int, got {n!r}")
        return int(n)
