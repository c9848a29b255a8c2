"""AgEBO: aging evolution for the architecture, Bayesian optimisation for the hyperparameters.

Egele, Balaprakash, Guyon, Vishwanath, Xia, Stevens, Liu, Ramachandran, Raghavan and
Rubin, "AgEBO-Tabular: Joint Neural Architecture and Hyperparameter Search with
Autotuned Data-Parallel Training for Tabular Data", SC21. Each proposal pairs

* an architecture from regularized (aging) evolution: random until the population is
  full, then the best of a tournament with one decision mutated; the evolution sees
  architectures and scores only, and
* hyperparameters (learning rate, batch size, number of data-parallel ranks, ...) from
  Bayesian optimisation, chosen for that architecture: its surrogate models the score
  of (architecture, hyperparameters) pairs and each proposal maximises its UCB over
  hyperparameter candidates with the evolved architecture held fixed.

So the evolution keeps what works in the architecture while the surrogate learns which
hyperparameters suit it.

The paper's surrogate sees the hyperparameters alone (``architecture_in_surrogate=False``
restores it). Its scores then mix the architecture's merit into the hyperparameters':
the setting paired with the evolution's good architectures looks best for their sake,
is proposed again with the next ones, and looks better still. Measured with
``scripts/bench_quality.py`` (FCNet, 200 evaluations, sequential, 10 seeds), it spent
a median 36-53% of evaluations 11-200 on one hyperparameter setting (regularized
evolution: 19-26%), and ``kappa = 1.96`` did not change it: the trees agree about a
setting measured that often. The budget's smaller population alone left it at
32-41%; with the architecture in the surrogate as well it fell to 27-28%, and the
median regret at 200 evaluations fell on all four datasets (e.g. protein 0.0137 to
0.0016). On the synthetic problem of the tests the share fell from 0.47 to 0.32
(regularized evolution: 0.26).

The population and tournament sizes follow the budget when it is known (``max_evals``,
which the driver passes), by regularized evolution's rule (P = clamp(round(max_evals /
10), 10, 100), S = max(2, (7 * P) // 10): see ``_regularized_evolution``); explicit sizes win.

Defaults follow DeepHyper's ``AgEBO`` (``deephyper/search/nas/_agebo.py``, by the
paper's authors): population 100, tournament 10 (without a budget), 10 initial points, UCB with
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

import numpy as np

from nas.pareto import rank_order
from nas.problem import HyperparameterSpace
from nas.search._base import Observation, Proposal, Search
from nas.search._bayesian_optimization import BayesianOptimizer
from nas.search._encoding import ConfigEncoder
from nas.search._ledger import Ledger
from nas.search._regularized_evolution import RegularizedEvolution, evolution_sizes
from nas.search._surrogate import DEFAULT_NUM_TREES

#: P and S without a budget: DeepHyper's AgEBO.
PUBLISHED_SIZES = (100, 10)


class AgEBO(Search):
    """Aging evolution with Bayesian optimisation of the hyperparameters.

    Args:
        choices: candidates per decision (``space.choices``).
        hyperparameters: the hyperparameter space; at least one must be tunable.
        population_size: P, the number of recent results the evolution keeps; None:
            from the budget (see ``evolution_sizes``), 100 without one.
        sample_size: S, the size of a tournament, 1 <= S <= P; None: from the budget,
            10 without one.
        kappa: UCB's weight of the surrogate's uncertainty (0 exploits only).
        num_initial: results needed before the surrogate proposes hyperparameters
            (random ones until then).
        num_candidates: random hyperparameter configurations scored per proposal.
        num_trees: trees of the surrogate forest.
        liar: the constant liar's value, ``"worst"``, ``"mean"`` or ``"best"`` score.
        seed: random seed.
        max_evals: the evaluation budget (the driver passes it); it sets P and S when
            they are not given. None: DeepHyper's P = 100, S = 10.
        architecture_in_surrogate: whether the surrogate models the architecture
            (ordinal columns) with the hyperparameters; False: the hyperparameters
            alone, as in the paper (see the module's docstring).

    Raises:
        ValueError: for a bad parameter, or a problem with no hyperparameter to tune
            (use ``RegularizedEvolution``).

    Several objectives: once results carry several ``scores`` or a ``violation`` > 0,
    both halves rank by them. The evolution's tournament is won by the contestant first
    in :func:`nas.pareto.rank_order` (feasible before infeasible, less violation first,
    then Pareto front, then crowding distance; an infeasible contestant never wins
    against a feasible one), and the Bayesian optimisation follows ParEGO's rule (random
    scalarisation, as DeepHyper): every ask draws new weights uniformly on the simplex
    and the surrogate counts each result at minus the augmented Chebyshev scalarisation
    of its objectives, an infeasible one below every feasible one (the worst feasible
    value minus ``v / (1 + v)`` for its violation ``v``); the liar lies with those
    values. With one score and no violation nothing changes: the same seed makes the
    same proposals, and no weight is drawn. See ``_bayesian_optimization``.

    Example:
        >>> search = AgEBO([4, 4, 2], {"learning_rate": Float(1e-4, 1e-1, log=True)}, seed=0)
        >>> proposals = search.ask(4)  # spread out by the constant liar once it has data
        >>> search.tell([Observation(p.arch_seq, p.hyperparameters, 0.9) for p in proposals])
    """

    def __init__(
        self,
        choices: Sequence[int],
        hyperparameters: HyperparameterSpace | Mapping[str, Any] | None = None,
        population_size: int | None = None,
        sample_size: int | None = None,
        kappa: float = 0.001,
        num_initial: int = 10,
        num_candidates: int = 1000,
        num_trees: int = DEFAULT_NUM_TREES,
        liar: str = "mean",
        seed: int | None = None,
        max_evals: int | None = None,
        architecture_in_surrogate: bool = True,
    ) -> None:
        super().__init__(choices, hyperparameters, seed)
        population_size, sample_size = evolution_sizes(
            max_evals, population_size, sample_size, PUBLISHED_SIZES
        )
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
            context=self.choices if architecture_in_surrogate else None,
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
        self.optimizer.observe(
            self._modelled(observation.arch_seq),
            observation.hyperparameters,
            observation.score,
            observation.scores,
            observation.violation,
        )

    def running(self, proposals: Sequence[Proposal]) -> None:
        super().running(proposals)
        for proposal in proposals:
            self.optimizer.mark_pending(
                self._modelled(proposal.arch_seq), proposal.hyperparameters
            )

    def _modelled(self, arch_seq: Sequence[int]) -> Sequence[int]:
        """The architecture as the surrogate sees it: itself, or nothing (the paper's)."""
        return arch_seq if self.optimizer.model_encoder is not self.optimizer.encoder else ()

    def set_validity(self, is_valid: Callable[[Sequence[int]], bool] | None) -> None:
        super().set_validity(is_valid)
        self.evolution.set_validity(is_valid)  # its random architectures are valid too

    def options(self) -> dict[str, Any]:
        """The arguments, with P and S as resolved (see ``RegularizedEvolution.options``)."""
        return {
            **super().options(),
            "population_size": self.evolution.population_size,
            "sample_size": self.evolution.sample_size,
        }

    def get_state(self) -> dict[str, Any]:
        return {
            **super().get_state(),
            "optimizer": self.optimizer.get_state(),
            **self.evolution.sizes_state(),
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        self.optimizer.set_state(state["optimizer"])
        self.evolution.restore_sizes(state)
        self.population_size = self.evolution.population_size
        self.sample_size = self.evolution.sample_size


def _best_of(contestants: Sequence[Observation]) -> Observation:
    """The best of successful results: the highest score, or, when one of them is
    ``ranked_by_front``, the first of :func:`nas.pareto.rank_order` (violation, then
    Pareto front, then crowding; a non-finite objective counts as the worst)."""
    if not any(member.ranked_by_front for member in contestants):
        return max(contestants, key=lambda member: member.score)  # type: ignore[arg-type,return-value]
    points = -np.array([member.scores for member in contestants], dtype=float)
    points[np.isnan(points)] = np.inf
    violation = np.array([member.violation for member in contestants], dtype=float)
    violation[np.isnan(violation)] = np.inf
    return contestants[int(rank_order(points, violation)[0])]


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

    def tournament_winner(self) -> Observation:
        """The best of ``sample_size`` members drawn without replacement: by score, or
        first in :func:`nas.pareto.rank_order` when one of them has several objectives
        or a violation (ties: the first drawn)."""
        indices = self.rng.choice(len(self.population), size=self.sample_size, replace=False)
        contestants = [self.population[int(index)] for index in indices]
        return _best_of(contestants)

    def _take(self, proposal: Proposal) -> None:
        self._reserved[proposal.arch_seq] += 1

    def _admits(self, proposal: Proposal) -> bool:
        arch_seq = proposal.arch_seq
        if not self.ledger.is_valid(arch_seq):
            return False
        if self._room is None:
            return True
        return self._pairs.num_taken_with(arch_seq) + self._reserved[arch_seq] < self._room
