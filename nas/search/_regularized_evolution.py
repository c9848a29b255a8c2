"""Regularized (aging) evolution, Real et al., "Regularized Evolution for Image
Classifier Architecture Search", AAAI 2019.

The population is the most recent ``population_size`` successful evaluations. Until it
is full, configurations are random. Then each proposal samples ``sample_size`` members
(a tournament), copies the best and mutates it. New results push the oldest member out
(aging), so a configuration survives by being re-discovered, not by one lucky score.

Defaults are the paper's (P = 100, S = 25). DeepHyper's NAS uses P = 100, S = 10, a
stronger preference for exploration; pass ``sample_size=10`` to match it.

No evaluation is wasted: a child that is already evaluated or running, or that the
space cannot build (with a validity predicate), is mutated again from the same parent,
up to ``MAX_MUTATIONS`` times; then random configurations are drawn, and in a small
finite space the configurations not yet taken are enumerated. When none is left the
search proposes nothing more (:attr:`~nas.search.Search.exhausted`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from nas.problem import HyperparameterSpace
from nas.search._base import Observation, Proposal, Search
from nas.search._encoding import ConfigEncoder
from nas.search._ledger import enumerable, in_random_order

#: Mutations of one parent tried before giving up on it (each draws a gene anew).
MAX_MUTATIONS = 10
#: Random configurations tried next, before enumerating a small finite space.
MAX_RANDOM_DRAWS = 10


class RegularizedEvolution(Search):
    """Aging evolution over architectures (and hyperparameters, if the problem has any).

    A mutation changes exactly one gene, drawn uniformly among the decisions of the
    space (a different candidate is chosen) and the tunable hyperparameters (a new value
    is drawn). Failed evaluations never enter the population.

    Args:
        choices: candidates per decision (``space.choices``).
        hyperparameters: searched jointly with the architecture.
        population_size: P, the number of recent results kept.
        sample_size: S, the size of a tournament; 1 <= S <= P.
        seed: random seed.

    Example:
        >>> search = RegularizedEvolution([4, 4, 2], population_size=10, sample_size=3)
        >>> proposals = search.ask(2)
    """

    def __init__(
        self,
        choices: Sequence[int],
        hyperparameters: HyperparameterSpace | Mapping[str, Any] | None = None,
        population_size: int = 100,
        sample_size: int = 25,
        seed: int | None = None,
    ) -> None:
        super().__init__(choices, hyperparameters, seed)
        for name, value in (("population_size", population_size), ("sample_size", sample_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
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
        """The best of ``sample_size`` members drawn without replacement."""
        indices = self.rng.choice(len(self.population), size=self.sample_size, replace=False)
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
