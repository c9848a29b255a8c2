"""AgEBO: aging evolution for the architecture, Bayesian optimisation for the hyperparameters.

Egele, Balaprakash, Guyon, Vishwanath, Xia, Stevens, Liu, Ramachandran, Raghavan and
Rubin, "AgEBO-Tabular: Joint Neural Architecture and Hyperparameter Search with
Autotuned Data-Parallel Training for Tabular Data", SC21. Each proposal pairs

* an architecture from regularized (aging) evolution: random until the population is
  full, then the best of a tournament with one decision mutated; the evolution sees
  architectures and scores only, and
* hyperparameters (learning rate, batch size, number of data-parallel ranks, ...) from
  Bayesian optimisation whose surrogate sees hyperparameters and scores only, across
  all architectures.

So the evolution keeps what works in the architecture while the surrogate learns which
hyperparameters suit the current population.

Defaults follow DeepHyper's ``AgEBO`` (``deephyper/search/nas/_agebo.py``, by the
paper's authors): population 100, tournament 10, 10 initial points, UCB with
``kappa = 0.001`` ("strong exploitation"; on the synthetic problem of the tests, 0.001,
0.5 and 1.96 did equally well within noise, 16 seeds). Where this implementation
departs, for speed or on measurement, and why:

* an extra-trees surrogate (DeepHyper: a random forest of 100 trees) of ``num_trees =
  32`` trees, refitted on a geometric schedule, with results between refits counted
  into its leaves (``_surrogate``);
* ``num_candidates = 1000`` configurations scored per proposal (DeepHyper: 10,000): a
  few hyperparameters do not need more, and scoring is the cost of a proposal;
* the liar is the *mean* score so far (the default of mlr3mbo's constant liar), where
  DeepHyper and scikit-optimize lie with the best (``cl_max`` in DeepHyper's maximising
  terms, ``cl_min`` in scikit-optimize's minimising ones). With a forest an optimistic
  lie raises the leaves around a proposal and pulls the next proposal of the batch into
  them; a pessimistic one pushes it away, but with many workers the many lies swamp
  the good region. Measured (``scripts/bench_search.py --measure defaults``, 12 seeds):
  with 8 and 32 workers the mean beat the worst score (AgEBO 1.68 and 1.70 against 1.52
  and 1.56 of 1.9; AMBS 0.49 and 0.48 against 0.43 and 0.40 of 0.5); the best score
  found least with AMBS (0.35) and tied with the mean for AgEBO.

No evaluation is wasted: a configuration is the pair (architecture, hyperparameters),
and no pair already evaluated or running is proposed again. The evolution proposes an
architecture only while some hyperparameter configuration is still free with it (with
a continuous hyperparameter there always is), and only one the space can build (given
its validity predicate); the Bayesian optimisation then proposes hyperparameters not
yet taken with that architecture. Once every pair of a finite space is taken, AgEBO
proposes nothing more (:attr:`~nas.search.Search.exhausted`).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nas.problem import HyperparameterSpace
from nas.search._base import Observation, Proposal, Search
from nas.search._bayesian_optimization import BayesianOptimizer
from nas.search._encoding import ConfigEncoder
from nas.search._ledger import Ledger
from nas.search._regularized_evolution import RegularizedEvolution
from nas.search._surrogate import DEFAULT_NUM_TREES


class AgEBO(Search):
    """Aging evolution with Bayesian optimisation of the hyperparameters.

    Args:
        choices: candidates per decision (``space.choices``).
        hyperparameters: the hyperparameter space; at least one must be tunable.
        population_size: P, the number of recent results the evolution keeps.
        sample_size: S, the size of a tournament; 1 <= S <= P.
        kappa: UCB's weight of the surrogate's uncertainty (0 exploits only).
        num_initial: results needed before the surrogate proposes hyperparameters
            (random ones until then).
        num_candidates: random hyperparameter configurations scored per proposal.
        num_trees: trees of the surrogate forest.
        liar: the constant liar's value, ``"worst"``, ``"mean"`` or ``"best"`` score.
        seed: random seed.

    Raises:
        ValueError: for a bad parameter, or a problem with no hyperparameter to tune
            (use ``RegularizedEvolution``).

    Example:
        >>> search = AgEBO([4, 4, 2], {"learning_rate": Float(1e-4, 1e-1, log=True)}, seed=0)
        >>> proposals = search.ask(4)  # spread out by the constant liar once it has data
        >>> search.tell([Observation(p.arch_seq, p.hyperparameters, 0.9) for p in proposals])
    """

    def __init__(
        self,
        choices: Sequence[int],
        hyperparameters: HyperparameterSpace | Mapping[str, Any] | None = None,
        population_size: int = 100,
        sample_size: int = 10,
        kappa: float = 0.001,
        num_initial: int = 10,
        num_candidates: int = 1000,
        num_trees: int = DEFAULT_NUM_TREES,
        liar: str = "mean",
        seed: int | None = None,
    ) -> None:
        super().__init__(choices, hyperparameters, seed)
        if not self.tunable_hyperparameters:
            raise ValueError(
                "AgEBO tunes hyperparameters by Bayesian optimisation, but the problem has "
                f"none to tune (hyperparameters: {dict(self.hyperparameters)!r}); use "
                "RegularizedEvolution ('regevo') for an architecture-only search"
            )
        self.population_size = population_size
        self.sample_size = sample_size
        # The evolution validates P and S, and draws from this search's generator, so
        # that one generator state is the whole random state of both halves.
        encoder = ConfigEncoder([], self.hyperparameters)
        self.evolution = _ArchitectureEvolution(
            self.choices, population_size, sample_size, self.ledger, encoder.grid_size
        )
        self.evolution.rng = self.rng
        self.optimizer = BayesianOptimizer(
            encoder,
            self.rng,
            kappa=kappa,
            num_initial=num_initial,
            num_candidates=num_candidates,
            num_trees=num_trees,
            liar=liar,
            initial="random",
        )

    @property
    def population(self) -> deque[Observation]:
        """The evolution's population: the most recent successful results."""
        return self.evolution.population

    def ask(self, n: int = 1) -> list[Proposal]:
        """``n`` configurations, none evaluated, running or invalid; fewer (possibly
        none) only when every configuration of the space is taken (:attr:`exhausted`)."""
        count = self._check_count(n)
        architectures = [proposal.arch_seq for proposal in self.evolution.ask(count)]
        configs = self.optimizer.propose(len(architectures), self.ledger, architectures)
        proposals = [
            Proposal(arch_seq, config[1])
            for arch_seq, config in zip(architectures, configs)
            if config is not None
        ]
        self.exhausted = len(proposals) < count
        return proposals

    def _tell_one(self, observation: Observation) -> None:
        self.evolution.tell([observation])
        self.optimizer.observe((), observation.hyperparameters, observation.score)

    def running(self, proposals: Sequence[Proposal]) -> None:
        super().running(proposals)
        for proposal in proposals:
            self.optimizer.mark_pending((), proposal.hyperparameters)

    def set_validity(self, is_valid: Callable[[Sequence[int]], bool] | None) -> None:
        super().set_validity(is_valid)
        self.evolution.set_validity(is_valid)  # its random architectures are valid too

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "optimizer": self.optimizer.get_state()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        self.optimizer.set_state(state["optimizer"])


class _ArchitectureEvolution(RegularizedEvolution):
    """AgEBO's evolution of architectures: it re-proposes an architecture as long as some
    hyperparameter configuration is free with it in AgEBO's ledger.

    Args:
        choices: candidates per decision.
        population_size: P.
        sample_size: S.
        ledger: AgEBO's ledger of (architecture, hyperparameters) pairs.
        hyperparameter_configurations: how many distinct hyperparameter configurations
            there are (None: endless, so every valid architecture is always admitted).
    """

    def __init__(
        self,
        choices: Sequence[int],
        population_size: int,
        sample_size: int,
        ledger: Ledger,
        hyperparameter_configurations: int | None,
    ) -> None:
        super().__init__(choices, None, population_size, sample_size)
        self._pairs = ledger
        self._room = hyperparameter_configurations
        # Architectures proposed in this batch, whose hyperparameters are still to come.
        self._reserved: Counter[tuple[int, ...]] = Counter()

    def ask(self, n: int = 1) -> list[Proposal]:
        self._reserved = Counter()
        return super().ask(n)

    def _take(self, proposal: Proposal) -> None:
        self._reserved[proposal.arch_seq] += 1

    def _admits(self, proposal: Proposal) -> bool:
        arch_seq = proposal.arch_seq
        if not self.ledger.is_valid(arch_seq):
            return False
        if self._room is None:
            return True
        return self._pairs.num_taken_with(arch_seq) + self._reserved[arch_seq] < self._room
