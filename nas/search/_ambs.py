"""AMBS: asynchronous model-based search, Bayesian optimisation for hyperparameter tuning.

Balaprakash, Salim, Uram, Vishwanath and Wild, "DeepHyper: Asynchronous Hyperparameter
Search for Deep Neural Networks", HiPC 2018. A Latin hypercube of ``num_initial``
points (or random ones) starts it; then every proposal maximises the upper confidence
bound of a forest surrogate over random candidates, and proposals whose results are
still out count as fake results of the liar's value, so that parallel workers are not
all sent to the same place.

Defaults follow DeepHyper's ``AMBS`` (``deephyper/search/hps/_ambs.py``) and
scikit-optimize's ``Optimizer``, which it wraps: 10 initial points, an upper confidence
bound (UCB) acquisition. Departures, and why:

* ``kappa = 0.5`` where both use 1.96 (a 95% interval). Measured on synthetic problems
  (``scripts/bench_search.py --measure defaults``: 4 and 6 hyperparameters, 60 and 200
  evaluations, 4 workers, 12 seeds), 0.5 was best or within 0.03 of the best in all
  four settings; 1.0 fell up to 0.12 behind, and 1.96 up to 0.33: with this surrogate
  it explores too much for short searches.
* The surrogate, candidates and liar are AgEBO's (see ``_agebo``): extra-trees of 32
  trees refitted on a geometric schedule, 1,000 candidates per proposal (DeepHyper:
  10,000) and the mean score as the lie (DeepHyper and scikit-optimize: the best).

AMBS never proposes a configuration already evaluated or running (equal arch_seq and
hyperparameter values), nor, given the space's validity predicate, an architecture that
cannot be built; once every configuration of a finite space is taken it proposes
nothing more and says so (:attr:`~nas.search.Search.exhausted`).

AMBS is made for problems that tune hyperparameters only. If the space has architecture
decisions, they join the surrogate's inputs as ordinal features, one column each (as
DeepHyper's ``AMBSMixed`` searches both jointly); for a real architecture search AgEBO,
whose evolution is made for architectures, is the better choice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nas.problem import HyperparameterSpace
from nas.search._base import Observation, Proposal, Search
from nas.search._bayesian_optimization import BayesianOptimizer
from nas.search._encoding import ConfigEncoder
from nas.search._surrogate import DEFAULT_NUM_TREES


class AMBS(Search):
    """Asynchronous model-based search of hyperparameters (and any architecture decisions).

    Args:
        choices: candidates per decision (``space.choices``); ``[]`` for a
            hyperparameter-only problem.
        hyperparameters: the hyperparameter space.
        num_initial: initial points, and results needed before the surrogate is used.
        kappa: UCB's weight of the surrogate's uncertainty (0 exploits only).
        initial: ``"lhs"`` (Latin hypercube) or ``"random"`` initial points.
        num_candidates: random configurations scored per proposal.
        num_trees: trees of the surrogate forest.
        liar: the constant liar's value, ``"worst"``, ``"mean"`` or ``"best"`` score.
        seed: random seed.

    Raises:
        ValueError: for a bad parameter, or a problem with nothing to search.

    Several objectives: once a result is told with several ``scores`` or a
    ``violation`` > 0, AMBS follows ParEGO's rule (random scalarisation, as DeepHyper
    does for several objectives). Every ask draws new weights uniformly on the simplex, and
    the surrogate's leaves count each result at minus the augmented Chebyshev
    scalarisation of its objectives' ranks among the feasible results
    (:func:`nas.pareto.scalarize`); an infeasible result counts below every
    feasible one (the worst feasible value minus ``v / (1 + v)`` for its violation
    ``v``), and the liar lies with those values. Successive asks so aim at different
    parts of the Pareto front. With one score and no violation nothing changes: the
    same seed makes the same proposals, and no weight is drawn. See
    ``_bayesian_optimization``.

    Example:
        >>> search = AMBS([], {"learning_rate": Float(1e-4, 1e-1, log=True),
        ...                    "optimizer": Categorical(["adam", "sgd"])}, seed=0)
        >>> proposals = search.ask(8)  # a Latin hypercube first
        >>> search.tell([Observation(p.arch_seq, p.hyperparameters, 0.9) for p in proposals])
    """

    def __init__(
        self,
        choices: Sequence[int],
        hyperparameters: HyperparameterSpace | Mapping[str, Any] | None = None,
        num_initial: int = 10,
        kappa: float = 0.5,
        initial: str = "lhs",
        num_candidates: int = 1000,
        num_trees: int = DEFAULT_NUM_TREES,
        liar: str = "mean",
        seed: int | None = None,
    ) -> None:
        super().__init__(choices, hyperparameters, seed)
        encoder = ConfigEncoder(self.choices, self.hyperparameters)
        if encoder.num_dimensions == 0:
            raise ValueError(
                f"AMBS has nothing to search: no decision with more than one candidate "
                f"(choices {self.choices!r}) and no tunable hyperparameter "
                f"({dict(self.hyperparameters)!r})"
            )
        self.optimizer = BayesianOptimizer(
            encoder,
            self.rng,
            kappa=kappa,
            num_initial=num_initial,
            num_candidates=num_candidates,
            num_trees=num_trees,
            liar=liar,
            initial=initial,
        )

    def ask(self, n: int = 1) -> list[Proposal]:
        """``n`` configurations, none evaluated, running or invalid; fewer (possibly
        none) only when every configuration of the space is taken (:attr:`exhausted`)."""
        configs = self.optimizer.propose(self._check_count(n), self.ledger)
        proposals = [Proposal(arch, values) for arch, values in filter(None, configs)]
        self.exhausted = len(proposals) < len(configs)
        return proposals

    def _tell_one(self, observation: Observation) -> None:
        self.optimizer.observe(
            observation.arch_seq,
            observation.hyperparameters,
            observation.score,
            observation.scores,
            observation.violation,
        )

    def running(self, proposals: Sequence[Proposal]) -> None:
        super().running(proposals)
        for proposal in proposals:
            self.optimizer.mark_pending(proposal.arch_seq, proposal.hyperparameters)

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "optimizer": self.optimizer.get_state()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        self.optimizer.set_state(state["optimizer"])
