"""The ask/tell interface every search algorithm implements.

A search proposes configurations and learns from their scores. It never starts a
process, sleeps, trains, or touches a file: the driver does. That is what lets one
algorithm run unchanged in a unit test, on a laptop pool and on thousands of MPI ranks.

Scores are always *maximised*: the driver negates objectives that the problem minimises,
and passes ``None`` for an evaluation that failed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nas.problem import Constant, HyperparameterSpace
from nas.registry import RecordsArguments
from nas.search._ledger import Ledger

#: Random architectures drawn, at most, to find one the space can build (when a search
#: has a validity predicate); the last one drawn is proposed if none is, and the driver
#: records it as invalid.
MAX_VALID_DRAWS = 100


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

    A problem with several objectives, or with constraints, also gives ``scores``: every
    objective, each oriented so that larger is better, in the problem's order (``score``
    is the first objective trained on, one of them), and ``violation``: how far the trial
    is outside the problem's constraints (0: feasible; see
    :func:`nas.pareto.total_violation`). For one objective without constraints
    ``scores`` is ``(score,)`` and ``violation`` 0.
    """

    arch_seq: tuple[int, ...]
    hyperparameters: Mapping[str, Any]
    score: float | None
    scores: tuple[float, ...] | None = None
    violation: float = 0.0

    def __post_init__(self) -> None:
        if self.scores is None and self.score is not None:
            object.__setattr__(self, "scores", (self.score,))

    @property
    def failed(self) -> bool:
        return self.score is None

    @property
    def ranked_by_front(self) -> bool:
        """Whether it must be ranked by Pareto front and constraint violation rather than
        by ``score``: several objectives, or a constraint broken."""
        return (self.scores is not None and len(self.scores) > 1) or self.violation > 0


class Search(RecordsArguments, ABC):
    """Base class of search algorithms.

    Args:
        choices: the number of candidates of each decision of the space
            (``space.choices``); an empty list for a hyperparameter-only problem.
        hyperparameters: the hyperparameter space searched jointly (may be empty).
        seed: seed of the search's own random generator.

    A search for a problem is made with :meth:`for_problem`; one made by hand with the
    problem's ``build_space().choices`` and ``hyperparameters`` is the same, once given
    the space's validity predicate (:meth:`set_validity`).

    Attributes:
        exhausted: set by :meth:`ask` when it returned fewer proposals than asked
            because every configuration of the space is taken (evaluated, running or
            invalid): the search has nothing left to propose, and never will.
    """

    @classmethod
    def for_problem(cls, problem: Any, **options: Any) -> Search:
        """This search over ``problem``'s space and hyperparameters, never proposing an
        architecture the space cannot build.

        Example:
            >>> search = RegularizedEvolution.for_problem(problem, population_size=20, seed=0)
        """
        space = problem.build_space()
        search = cls(space.choices, problem.hyperparameters, **options)
        search.set_validity(space.is_valid)
        return search

    def options(self) -> dict[str, Any]:
        """The arguments it was made with besides the space and hyperparameters (JSON
        values: what ``settings.json`` records to make it again on resume)."""
        return self.arguments(without=("choices", "hyperparameters"))

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
        self.exhausted = False
        #: The configurations running or evaluated, and the validity predicate.
        self.ledger = Ledger(self.hyperparameters)

    @abstractmethod
    def ask(self, n: int = 1) -> list[Proposal]:
        """Propose ``n`` configurations to evaluate next (fewer, possibly none, only
        when the search has nothing left to propose: see :attr:`exhausted`)."""

    def tell(self, observations: Sequence[Observation]) -> None:
        """Learn from finished evaluations (in the order they finished)."""
        for observation in observations:
            self.ledger.told(observation.arch_seq, observation.hyperparameters)
            self._tell_one(observation)
            self.num_told += 1

    @property
    def num_distinct(self) -> int:
        """How many distinct configurations were told (same arch_seq and hyperparameter
        values: see ``nas.search._ledger``); ``num_told`` counts them all."""
        return self.ledger.num_distinct

    def set_validity(self, is_valid: Callable[[Sequence[int]], bool] | None) -> None:
        """Propose only architectures for which ``is_valid(arch_seq)`` is true.

        Give it the space's :meth:`~nas.space.SearchSpace.is_valid` (``for_problem``
        does), so that no proposal switches every path to an output off. The predicate
        is a function of the space, not state: a resumed search is given it again.
        ``None`` removes it.
        """
        self.ledger.set_validity(is_valid)

    def _tell_one(self, observation: Observation) -> None:
        """Subclasses that learn override this; random search learns nothing."""
        return None

    def running(self, proposals: Sequence[Proposal]) -> None:
        """Be told of proposals that are being evaluated though this object did not
        just propose them: on resume, the evaluations the journal re-runs.

        They are taken (never proposed again); model-based searches also count them as
        pending (the constant liar), as they did before the interruption.
        """
        for proposal in proposals:
            self.ledger.take(proposal.arch_seq, proposal.hyperparameters)

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
        """A uniformly random architecture among those the validity predicate admits
        (among all without one); after ``MAX_VALID_DRAWS`` refused draws, the last."""
        for _ in range(MAX_VALID_DRAWS):
            arch_seq = tuple(int(self.rng.integers(count)) for count in self.choices)
            if self.ledger.is_valid(arch_seq):
                break
        return arch_seq

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
