"""Bayesian optimisation with a forest surrogate and a constant liar (AgEBO's and AMBS's core).

Until ``num_initial`` results are in (one of them successful), proposals are random or
come from a Latin hypercube. Then each round samples ``num_candidates`` random
configurations, scores them with the forest's upper confidence bound and proposes the
best. A batch (``propose(n)``), and every proposal still running, is spread out by the
*constant liar* (Ginsbourger et al., "Kriging is well-suited to parallelize
optimization", 2010): a proposal is counted as a fake result of the liar's value before
the next one is chosen, and stays counted until its real result is told (a resumed
search starts with none running: see ``get_state``).

Costs stay bounded with 10,000 results: the forest is refitted only when the results
have grown by ``REFIT_GROWTH`` since the last fit (a geometric schedule), on at most
``MAX_FIT_ROWS`` of them; every result still counts, through the leaves (see
``_surrogate``). Which results shape a fit depends only on how many there are, so a
search rebuilt by replaying its results proposes what the original would have.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nas.search._encoding import ConfigEncoder
from nas.search._surrogate import ForestSurrogate, upper_confidence_bound

#: The liar's value: the worst, mean or best successful score so far. Failures are
#: counted as the worst score whatever the liar (DeepHyper's AMBS offers "min" or
#: "mean" for them): a configuration that crashed should repel proposals.
LIARS = ("worst", "mean", "best")
INITIAL_DESIGNS = ("lhs", "random")
#: Refit once the results have grown by 10% since the last fit: after every result up
#: to 10 results, every 100th at 1,000, every 1,000th at 10,000. On a synthetic problem
#: (4 hyperparameters, 100 evaluations, 20 seeds), refitting after every result found
#: about as good configurations (0.471 against 0.462, standard error 0.011, of 0.5) at
#: three times the cost.
REFIT_GROWTH = 0.1
#: A fit grows its trees on a seeded random subset of at most this many results (a fit
#: then takes about 0.15 s here with 4 hyperparameters); every result fills the leaves.
MAX_FIT_ROWS = 2000
#: Proposals never told back (a search stopped mid-run) stop counting as lies after this.
MAX_PENDING = 1024

Config = tuple[tuple[int, ...], dict[str, Any]]


def check_parameters(**parameters: Any) -> None:
    """Raise a ValueError naming the first bad parameter of the optimizer."""
    for name in ("num_initial", "num_candidates", "num_trees"):
        value = parameters[name]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    kappa = parameters["kappa"]
    if isinstance(kappa, bool) or not isinstance(kappa, (int, float)) or not kappa >= 0:
        raise ValueError(f"kappa must be a number >= 0, got {kappa!r}")
    if not math.isfinite(kappa):
        raise ValueError(f"kappa must be finite, got {kappa!r}")
    for name, allowed in (("liar", LIARS), ("initial", INITIAL_DESIGNS)):
        if parameters[name] not in allowed:
            raise ValueError(f"{name} must be one of {list(allowed)}, got {parameters[name]!r}")


class BayesianOptimizer:
    """Proposes configurations from a forest surrogate; not a Search by itself.

    Args:
        encoder: what is modelled (hyperparameters, and for AMBS the architecture).
        rng: the owning search's generator (shared, so its state is the search's).
        kappa: UCB's weight of the trees' spread; 0 exploits the mean only.
        num_initial: results (one successful) needed before the surrogate is used.
        num_candidates: random configurations scored per proposal round.
        num_trees: trees in the forest.
        liar: ``"worst"``, ``"mean"`` or ``"best"`` successful score as the lie.
        initial: ``"lhs"`` (a Latin hypercube of ``num_initial`` points) or
            ``"random"`` for the proposals before the surrogate.

    Example:
        >>> optimizer = BayesianOptimizer(ConfigEncoder([], space), np.random.default_rng(0),
        ...     kappa=1.96, num_initial=10, num_candidates=1000, num_trees=32,
        ...     liar="mean", initial="lhs")
        >>> (arch_seq, hyperparameters), = optimizer.propose(1)
        >>> optimizer.observe(arch_seq, hyperparameters, score=0.5)
    """

    def __init__(
        self,
        encoder: ConfigEncoder,
        rng: np.random.Generator,
        *,
        kappa: float,
        num_initial: int,
        num_candidates: int,
        num_trees: int,
        liar: str,
        initial: str,
    ) -> None:
        check_parameters(
            kappa=kappa,
            num_initial=num_initial,
            num_candidates=num_candidates,
            num_trees=num_trees,
            liar=liar,
            initial=initial,
        )
        self.encoder = encoder
        self.rng = rng
        self.kappa = float(kappa)
        self.num_initial = int(num_initial)
        self.num_candidates = int(num_candidates)
        self.num_trees = int(num_trees)
        self.liar = liar
        self.initial = initial
        # Seeds the forests and the design; drawn once so that it lives in the state.
        self._entropy = int(rng.integers(2**63))
        self._rows: list[np.ndarray] = []
        self._scores: list[float] = []  # NaN for a failure
        self._num_successes = 0
        self._worst, self._best, self._score_sum = math.inf, -math.inf, 0.0
        self._pending: list[np.ndarray] = []
        self._fit_size = 0  # results the next forest is grown on; 0 = no forest yet
        self._surrogate: ForestSurrogate | None = None
        self._surrogate_size = 0
        self._design: np.ndarray | None = None
        self._design_used = 0

    # -- learning ---------------------------------------------------------------------

    def observe(
        self, arch_seq: Sequence[int], hyperparameters: Mapping[str, Any], score: float | None
    ) -> None:
        """Record a result; ``None`` (or a non-finite score) is a failure."""
        row = self.encoder.encode(arch_seq, hyperparameters)
        failed = score is None or not math.isfinite(score)
        self._rows.append(row)
        self._scores.append(math.nan if failed else float(score))  # type: ignore[arg-type]
        self._forget_pending(row)
        if not failed:
            self._num_successes += 1
            self._worst = min(self._worst, float(score))  # type: ignore[arg-type]
            self._best = max(self._best, float(score))  # type: ignore[arg-type]
            self._score_sum += float(score)  # type: ignore[arg-type]
        count = len(self._scores)
        if self._fit_size == 0:
            if count >= self.num_initial and self._num_successes:
                self._fit_size = count
        elif count >= self._fit_size + max(1, math.ceil(REFIT_GROWTH * self._fit_size)):
            self._fit_size = count

    def _forget_pending(self, row: np.ndarray) -> None:
        key = row.tobytes()
        for index, pending in enumerate(self._pending):
            if pending.tobytes() == key:
                del self._pending[index]
                return

    # -- proposing --------------------------------------------------------------------

    def propose(self, count: int) -> list[Config]:
        """``count`` configurations, spread out by the constant liar."""
        if self._fit_size:
            proposals = self._from_surrogate(count)
        else:
            proposals = [self._initial_point() for _ in range(count)]
        self._pending += [self.encoder.encode(*proposal) for proposal in proposals]
        del self._pending[:-MAX_PENDING]
        return proposals

    def _initial_point(self) -> Config:
        if self.initial == "lhs" and self._design_used < self.num_initial:
            if self._design is None:
                self._design = latin_hypercube(
                    self.encoder.num_dimensions,
                    self.num_initial,
                    np.random.default_rng([self._entropy, 1]),
                )
            self._design_used += 1
            return self.encoder.from_unit(self._design[self._design_used - 1])
        return self.encoder.decode(self.encoder.sample(1, self.rng), 0)

    def _from_surrogate(self, count: int) -> list[Config]:
        surrogate = self._current_surrogate()
        candidates = self.encoder.sample(self.num_candidates, self.rng)
        uncounted = np.array(self._rows[surrogate.num_counted :]).reshape(-1, self.encoder.width)
        pending = np.array(self._pending).reshape(-1, self.encoder.width)
        # One pass down each tree for new results, pending proposals and candidates.
        leaves = surrogate.leaves(np.vstack([uncounted, pending, candidates.features]))
        surrogate.add(leaves[:, : len(uncounted)], np.array(self._scores[surrogate.num_counted :]))
        lie = self._lie()
        table = surrogate.leaf_table(failure_value=self._worst)
        table.add(leaves[:, len(uncounted) : len(uncounted) + len(pending)], lie)
        candidate_leaves = leaves[:, len(uncounted) + len(pending) :]
        available = np.ones(len(candidates), dtype=bool)
        proposals = []
        for _ in range(count):
            if not available.any():  # fewer distinct candidates than proposals
                available[:] = True
            acquisition = upper_confidence_bound(table.predict(candidate_leaves), self.kappa)
            acquisition[~available] = -np.inf
            best = int(np.argmax(acquisition))
            proposals.append(self.encoder.decode(candidates, best))
            available &= np.any(candidates.features != candidates.features[best], axis=1)
            table.add(candidate_leaves[:, best], lie)
        return proposals

    def _lie(self) -> float:
        if self.liar == "worst":
            return self._worst
        if self.liar == "best":
            return self._best
        return self._score_sum / self._num_successes

    def _current_surrogate(self) -> ForestSurrogate:
        if self._surrogate is None or self._surrogate_size != self._fit_size:
            self._surrogate = self._fit(self._fit_size)
            self._surrogate_size = self._fit_size
        return self._surrogate

    def _fit(self, size: int) -> ForestSurrogate:
        features = np.array(self._rows[:size])
        scores = np.array(self._scores[:size])
        scores[np.isnan(scores)] = np.nanmin(scores)  # failures as the worst result
        fit_rng = np.random.default_rng([self._entropy, size])
        if size > MAX_FIT_ROWS:
            subset = np.sort(fit_rng.choice(size, size=MAX_FIT_ROWS, replace=False))
            features, scores = features[subset], scores[subset]
        return ForestSurrogate(features, scores, self.num_trees, int(fit_rng.integers(2**31)))

    # -- state --------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """JSON-able state beyond the results (which are replayed through observe).

        Proposals still running are left out on purpose: the driver saves the state
        with every submitted configuration, and one row per busy worker in each line
        of the journal would make it grow with the number of workers. A search
        resumed from it proposes exactly what the original did if nothing was running
        when it was saved; the driver restores the lies of the running ones through
        :meth:`mark_pending` (``Search.running``).
        """
        return {"entropy": self._entropy, "design_used": self._design_used}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_state`'s output, after the results were replayed."""
        self._entropy = int(state["entropy"])
        self._design_used = int(state["design_used"])
        self._design = None
        self._surrogate = None
        self._pending = []

    def mark_pending(self, arch_seq: Sequence[int], hyperparameters: Mapping[str, Any]) -> None:
        """Count a configuration being evaluated as pending (on resume: the re-run ones)."""
        self._pending.append(self.encoder.encode(arch_seq, hyperparameters))
        del self._pending[:-MAX_PENDING]

    @property
    def num_pending(self) -> int:
        """Proposals not told back yet, counted as lies."""
        return len(self._pending)


def latin_hypercube(dimensions: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points of ``[0, 1]^dimensions``, one per stratum in every dimension."""
    from scipy.stats import qmc  # imported when needed: scipy.stats is slow to import

    try:
        sampler = qmc.LatinHypercube(d=dimensions, rng=rng)
    except TypeError:  # SciPy < 1.15 calls the generator ``seed``
        sampler = qmc.LatinHypercube(d=dimensions, seed=rng)
    return sampler.random(count)
