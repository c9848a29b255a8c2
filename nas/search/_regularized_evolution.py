"""Regularized (aging) evolution, Real et al., "Regularized Evolution for Image
Classifier Architecture Search", AAAI 2019.

The population is the most recent ``population_size`` successful evaluations. Until it
is full, configurations are random. Then each proposal samples ``sample_size`` members
(a tournament), copies the best and mutates it. New results push the oldest member out
(aging), so a configuration survives by being re-discovered, not by one lucky score.

Population and tournament sizes follow the budget when the search knows it
(``max_evals``, which the driver passes to a search made by name): with P = 100 the
first 100 evaluations are random, and 100 is most users' whole budget. The rule
(:func:`evolution_sizes`) is

    P = clamp(round(max_evals / 10), 10, 100),    S = max(2, (7 * P) // 10)

so a budget of 50 or 100 gives P = 10, S = 7; 200 gives P = 20, S = 14; 400 gives
P = 40, S = 28; 1,000 and more P = 100, S = 70. Without a budget the paper's settings are the
defaults (Real et al., P = 100, S = 25), and ``population_size`` / ``sample_size``
given explicitly always win (``population_size=100, sample_size=25`` is the paper's
setting at any budget). DeepHyper's NAS uses P = 100, S = 10, a stronger preference
for exploration; pass ``sample_size=10`` to match it. Why this rule, measured with
``scripts/bench_quality.py``: see ``docs/guide.md`` ("Population and tournament").

No evaluation is wasted: a child that is already evaluated or running, or that the
space cannot build (with a validity predicate), is mutated again from the same parent,
up to ``MAX_MUTATIONS`` times; then random configurations are drawn, and in a small
finite space the configurations not yet taken are enumerated. When none is left the
search proposes nothing more (:attr:`~nas.search.Search.exhausted`).

Several objectives, or constraints: the tournament's winner is the contestant ranked
first over the whole population by :func:`nas.pareto.rank_order`: least constraint
violation, then non-dominated front, then crowding distance (NSGA-II's crowded
comparison, Deb et al. 2002, with Deb's constrained domination). Aging is unchanged.
With one objective and no constraints the rule is the plain best score, as in the paper.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from nas.pareto import rank_order
from nas.problem import HyperparameterSpace
from nas.search._base import Observation, Proposal, Search
from nas.search._encoding import ConfigEncoder
from nas.search._ledger import enumerable, in_random_order

#: Mutations of one parent tried before giving up on it (each draws a gene anew).
MAX_MUTATIONS = 10
#: Random configurations tried next, before enumerating a small finite space.
MAX_RANDOM_DRAWS = 10
#: The published settings (Real et al. 2019), used when the budget is not known.
PUBLISHED_POPULATION_SIZE = 100
PUBLISHED_SAMPLE_SIZE = 25
#: The budget rule: P is a tenth of the budget, within these bounds (see the docstring).
BUDGET_FRACTION = 10
MIN_POPULATION_SIZE = 10
MAX_POPULATION_SIZE = 100
#: The tournament is this many tenths of the population (a strong selection).
TOURNAMENT_SHARE_TENTHS = 7


def evolution_sizes(
    max_evals: int | None,
    population_size: int | None = None,
    sample_size: int | None = None,
    published: tuple[int, int] = (PUBLISHED_POPULATION_SIZE, PUBLISHED_SAMPLE_SIZE),
) -> tuple[int, int]:
    """Population and tournament sizes (P, S) for a budget of ``max_evals`` evaluations.

    Explicit sizes win. Otherwise, with a budget, ``P = clamp(round(max_evals / 10), 10,
    100)`` and ``S = max(2, (7 * P) // 10)`` (S also follows an explicit P then); without
    one, the ``published`` sizes, S at most P. An explicit S larger than the rule's P
    makes P = S.

    Example:
        >>> evolution_sizes(50), evolution_sizes(200), evolution_sizes(None)
        ((10, 7), (20, 14), (100, 25))
    """
    if max_evals is not None and (
        isinstance(max_evals, bool)
        or not isinstance(max_evals, (int, np.integer))
        or max_evals < 1
    ):
        raise ValueError(f"max_evals must be a positive int or None, got {max_evals!r}")
    for name, value in (("population_size", population_size), ("sample_size", sample_size)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if population_size is None:
        population_size = (
            published[0]
            if max_evals is None
            else min(
                MAX_POPULATION_SIZE,
                max(MIN_POPULATION_SIZE, round(max_evals / BUDGET_FRACTION)),
            )
        )
        # An explicit tournament is never refused for a population it did not choose.
        population_size = max(population_size, sample_size or 1)
    if sample_size is None:
        sample_size = (
            min(published[1], population_size)
            if max_evals is None
            else max(2, (TOURNAMENT_SHARE_TENTHS * population_size) // 10)
        )
        sample_size = min(sample_size, population_size)
    return population_size, sample_size


class RegularizedEvolution(Search):
    """Aging evolution over architectures (and hyperparameters, if the problem has any).

    A mutation changes exactly one gene, drawn uniformly among the decisions of the
    space (a different candidate is chosen) and the tunable hyperparameters (a new value
    is drawn). Failed evaluations never enter the population.

    Args:
        choices: candidates per decision (``space.choices``).
        hyperparameters: searched jointly with the architecture.
        population_size: P, the number of recent results kept; None: from the budget
            (see :func:`evolution_sizes`), 100 without one.
        sample_size: S, the size of a tournament, 1 <= S <= P; None: from the budget,
            25 without one.
        seed: random seed.
        max_evals: the evaluation budget (the driver passes it); it sets P and S
            when they are not given. None: the published P = 100, S = 25.

    Example:
        >>> search = RegularizedEvolution([4, 4, 2], max_evals=200)  # P = 20, S = 14
        >>> search = RegularizedEvolution([4, 4, 2], population_size=10, sample_size=3)
        >>> proposals = search.ask(2)
    """

    #: P and S without a budget (AgEBO's evolution: DeepHyper's 100 and 10).
    published_sizes = (PUBLISHED_POPULATION_SIZE, PUBLISHED_SAMPLE_SIZE)

    def __init__(
        self,
        choices: Sequence[int],
        hyperparameters: HyperparameterSpace | Mapping[str, Any] | None = None,
        population_size: int | None = None,
        sample_size: int | None = None,
        seed: int | None = None,
        max_evals: int | None = None,
    ) -> None:
        super().__init__(choices, hyperparameters, seed)
        population_size, sample_size = evolution_sizes(
            max_evals, population_size, sample_size, self.published_sizes
        )
        if sample_size > population_size:
            raise ValueError(
                f"sample_size ({sample_size}) must not exceed population_size "
                f"({population_size}): a tournament samples from the population"
            )
        self.population_size = population_size
        self.sample_size = sample_size
        self.population: deque[Observation] = deque(maxlen=population_size)
        self._genes = [("arch", i) for i, count in enumerate(self.choices) if count > 1]
        self._genes += [("hp", name) for name in self.tunable_hyperparameters]
        self._grid: ConfigEncoder | None = None

    def options(self) -> dict[str, Any]:
        """The arguments, with P and S as resolved: a search made again from them (on
        resume) keeps its sizes whatever budget it is then given."""
        return {
            **super().options(),
            "population_size": self.population_size,
            "sample_size": self.sample_size,
        }

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), **self.sizes_state()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        self.restore_sizes(state)

    def sizes_state(self) -> dict[str, int]:
        """P and S, for the journal: a search resumed by name with a larger budget keeps
        the sizes it was started with (see :meth:`restore_sizes`)."""
        return {"population_size": self.population_size, "sample_size": self.sample_size}

    def restore_sizes(self, state: Mapping[str, Any]) -> None:
        """Take P and S back from :meth:`sizes_state`'s output, after the results were
        replayed. The budget rule grows P with the budget, so a search replayed with a
        larger budget holds the original population: its last P members are kept."""
        if "population_size" not in state:
            return  # a journal written before the sizes were saved
        self.population_size = int(state["population_size"])
        self.sample_size = int(state["sample_size"])
        if self.population.maxlen != self.population_size:
            self.population = deque(self.population, maxlen=self.population_size)

    def ask(self, n: int = 1) -> list[Proposal]:
        """``n`` configurations, none evaluated, running or invalid; fewer only once
        the space is exhausted."""
        proposals = []
        for _ in range(self._check_count(n)):
            proposal = self._propose()
            if proposal is None:
                self.exhausted = True
                break
            self._take(proposal)
            proposals.append(proposal)
        return proposals

    def _take(self, proposal: Proposal) -> None:
        """Count a proposal as running (AgEBO's evolution overrides this)."""
        self.ledger.take(proposal.arch_seq, proposal.hyperparameters)

    def _tell_one(self, observation: Observation) -> None:
        if not observation.failed:
            self.population.append(observation)

    def _propose(self) -> Proposal | None:
        """The first admitted of: mutations of a tournament's winner (random
        configurations while the population fills), random configurations, every
        configuration of a small finite space. None: every one is taken; a space too
        large to enumerate is never found exhausted, and its last draw is proposed."""
        proposal = None
        for proposal in self._tries():
            if self._admits(proposal):
                return proposal
        if not enumerable(self._encoder):
            return proposal
        for arch_seq, hyperparameters in in_random_order(self._encoder, self.rng):
            candidate = Proposal(arch_seq, hyperparameters)
            if self._admits(candidate):
                return candidate
        return None

    def _tries(self) -> Iterator[Proposal]:
        if len(self.population) >= self.population_size and self._genes:
            parent = self.tournament_winner()
            for _ in range(MAX_MUTATIONS):
                yield self.mutate(parent)
        for _ in range(MAX_RANDOM_DRAWS):
            yield self.random_proposal()

    def _admits(self, proposal: Proposal) -> bool:
        """Whether proposing it wastes nothing (AgEBO's evolution overrides this)."""
        return self.ledger.admits(proposal.arch_seq, proposal.hyperparameters)

    @property
    def _encoder(self) -> ConfigEncoder:
        """The space as a grid, to enumerate when random tries find nothing new."""
        if self._grid is None:
            self._grid = ConfigEncoder(self.choices, self.hyperparameters)
        return self._grid

    def tournament_winner(self) -> Observation:
        """The best of ``sample_size`` members drawn without replacement (by rank in the
        population when ranked by front: see the module)."""
        indices = self.rng.choice(len(self.population), size=self.sample_size, replace=False)
        if any(member.ranked_by_front for member in self.population):
            rank = population_ranks(self.population)
            return self.population[int(min(indices, key=lambda index: rank[index]))]
        contestants = [self.population[int(index)] for index in indices]
        return max(contestants, key=lambda member: member.score)  # type: ignore[arg-type,return-value]

    def mutate(self, parent: Observation) -> Proposal:
        """Copy ``parent`` with one gene changed."""
        kind, key = self._genes[int(self.rng.integers(len(self._genes)))]
        arch_seq = list(parent.arch_seq)
        hyperparameters = dict(parent.hyperparameters)
        if kind == "arch":
            # Shift by 1..count-1 so that the new candidate always differs.
            count = self.choices[key]
            arch_seq[key] = (arch_seq[key] + int(self.rng.integers(1, count))) % count
        else:
            hyperparameters[key] = self.hyperparameters[key].sample(self.rng)
        return Proposal(tuple(arch_seq), hyperparameters)


def population_ranks(members: Sequence[Observation]) -> np.ndarray:
    """Each member's place in :func:`nas.pareto.rank_order` (0: best) by its scores
    (maximised) and constraint violation."""
    points = -np.array([member.scores for member in members], dtype=float)
    order = rank_order(points, [member.violation for member in members])
    return np.argsort(order)
