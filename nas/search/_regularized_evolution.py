"""Regularized (aging) evolution, Real et al., "Regularized Evolution for Image
Classifier Architecture Search", AAAI 2019.

The population is the most recent ``population_size`` successful evaluations. Until it
is full, configurations are random. Then each proposal samples ``sample_size`` members
(a tournament), copies the best and mutates it. New results push the oldest member out
(aging), so a configuration survives by being re-discovered, not by one lucky score.

Defaults are the paper's (P = 100, S = 25). DeepHyper's NAS uses P = 100, S = 10, a
stronger preference for exploration; pass ``sample_size=10`` to match it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from nas.problem import HyperparameterSpace
from nas.search._base import Observation, Proposal, Search


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

    def ask(self, n: int = 1) -> list[Proposal]:
        return [self._propose() for _ in range(self._check_count(n))]

    def _tell_one(self, observation: Observation) -> None:
        if not observation.failed:
            self.population.append(observation)

    def _propose(self) -> Proposal:
        if len(self.population) < self.population_size or not self._genes:
            return self.random_proposal()
        return self.mutate(self.tournament_winner())

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
