"""Bayesian optimisation with a forest surrogate and a constant liar (AgEBO's and AMBS's core).

Until ``num_initial`` results are in (one of them successful), proposals are random or
come from a Latin hypercube. Then each round samples ``num_candidates`` random
configurations, scores them with the forest's upper confidence bound and proposes the
best. A batch (``propose(n)``), and every proposal still running, is spread out by the
*constant liar* (Ginsbourger et al., "Kriging is well-suited to parallelize
optimization", 2010): a proposal is counted as a fake result of the liar's value before
the next one is chosen, and stays counted until its real result is told (a resumed
search starts with none running: see ``get_state``).

No evaluation is wasted: a proposal is never a configuration the search's ledger has
taken (evaluated or running, see ``_ledger``) nor one the space cannot build. The best
candidate that the ledger admits is proposed; when every candidate is taken, a small
finite space is enumerated and its best configuration not taken is proposed, and when
there is none the proposal is None: the space is exhausted.

Costs stay bounded with 10,000 results: the forest is refitted only when the results
have grown by ``REFIT_GROWTH`` since the last fit (a geometric schedule), on at most
``MAX_FIT_ROWS`` of them; every result still counts, through the leaves (see
``_surrogate``). Which results shape a fit depends only on how many there are, so a
search rebuilt by replaying its results proposes what the original would have.

Several objectives, or constraints (a result told with more than one score, or with a
violation > 0), switch the optimizer to ParEGO's rule (Knowles 2006, as DeepHyper's
multi-objective search): *random scalarisation*. Each batch of proposals draws weights
uniformly on the simplex from the search's generator
(:func:`nas.pareto.random_scalarization`) and turns every successful result into one
value to maximise, minus the augmented Chebyshev scalarisation
(:func:`nas.pareto.scalarize`) of its objectives' ranks among the feasible results so
far (ranks, not values scaled between the minimum and maximum: robust to the odd
diverged training; see :func:`ranks`). An infeasible result counts as the worst
feasible value minus ``v / (1 + v)`` for its violation ``v`` (strictly below every
feasible one, by violation among themselves, and within the feasible values' scale:
an unbounded penalty would make the trees' spread, and so UCB, explode around it);
without a feasible result, as ``-v / (1 + v)``. Those values fill the forest's leaves
for that batch; failures, lies and the liar's statistics are taken over them as over
scores. The trees themselves are grown, on the same geometric schedule, on values of
weights drawn from the fit's seed: a function of the number of results, so replaying
the results still rebuilds the same forest. While every result has one score and no
violation nothing of this runs and no weight is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.pareto import random_scalarization, scalarize
from nas.search._encoding import Candidates, ConfigEncoder
from nas.search._ledger import Ledger, enumerable, in_random_order
from nas.search._surrogate import ForestSurrogate, LeafTable, upper_confidence_bound

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
        context: AgEBO's architecture choices. The surrogate then models the score
            of (architecture, configuration) pairs, the architecture as ordinal
            columns before the encoder's, and each proposal's configuration is chosen
            for the architecture it is paired with (``propose(architectures=...)``);
            the encoder still draws, enumerates and decodes the configurations alone.
            None: the surrogate models the encoder's columns only (AMBS).

    Example:
        >>> optimizer = BayesianOptimizer(ConfigEncoder([], space), np.random.default_rng(0),
        ...     kappa=1.96, num_initial=10, num_candidates=1000, num_trees=32,
        ...     liar="mean", initial="lhs")
        >>> (arch_seq, hyperparameters), = optimizer.propose(1, Ledger(space))
        >>> optimizer.observe(arch_seq, hyperparameters, score=0.5)
        >>> optimizer.observe(arch_seq, hyperparameters, 0.5, scores=(0.5, -3.0))  # MO

    Several objectives or a violation in a result switch it to random scalarisation for
    good (see the module's docstring).
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
        context: Sequence[int] | None = None,
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
        #: What the surrogate models: the encoder's columns, after the architecture's
        #: with a context.
        self.model_encoder = encoder if context is None else ConfigEncoder(context, encoder.space)
        self._context = context is not None
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
        # Several objectives or constraints: each result's objectives (None: failed) and
        # violation, the leaves of the results counted so far in the current forest.
        self._multi = False
        self._objectives: list[tuple[float, ...] | None] = []
        self._violations: list[float] = []
        self._num_objectives = 0
        self._surrogate_multi = False
        self._leaves: np.ndarray | None = None

    # -- learning ---------------------------------------------------------------------

    def observe(
        self,
        arch_seq: Sequence[int],
        hyperparameters: Mapping[str, Any],
        score: float | None,
        scores: Sequence[float] | None = None,
        violation: float = 0.0,
    ) -> None:
        """Record a result; ``None`` (or a non-finite score) is a failure.

        ``scores`` (every objective, larger is better) and ``violation`` (0: feasible)
        are those of :class:`~nas.search.Observation`; more than one score or a
        violation > 0 switch to random scalarisation. There a result is a failure
        also when one of its scores is not finite, and a NaN violation is infinite.
        """
        row = self.model_encoder.encode(arch_seq, hyperparameters)
        failed = score is None or not math.isfinite(score)
        self._record_objectives(failed, score, scores, violation)
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

    def _record_objectives(
        self,
        failed: bool,
        score: float | None,
        scores: Sequence[float] | None,
        violation: float,
    ) -> None:
        """Keep what random scalarisation needs (whether or not it is used yet)."""
        values = None if scores is None else tuple(float(value) for value in scores)
        amount = float(violation)
        amount = math.inf if math.isnan(amount) else amount
        if amount < 0:
            raise ValueError(f"a violation is >= 0 (0: feasible), got {violation!r}")
        multi = (values is not None and len(values) > 1) or amount > 0
        if values is None and not failed:
            values = (float(score),)  # type: ignore[arg-type]
        if failed or values is None or not all(math.isfinite(value) for value in values):
            values = None
        elif self._num_objectives and len(values) != self._num_objectives:
            raise ValueError(
                f"every result must have the same number of scores: got {len(values)} "
                f"after {self._num_objectives}"
            )
        else:
            self._num_objectives = len(values)
        self._multi = self._multi or multi
        self._objectives.append(values)
        self._violations.append(amount)

    def _forget_pending(self, row: np.ndarray) -> None:
        key = row.tobytes()
        for index, pending in enumerate(self._pending):
            if pending.tobytes() == key:
                del self._pending[index]
                return

    # -- proposing --------------------------------------------------------------------

    def propose(
        self,
        count: int,
        ledger: Ledger,
        architectures: Sequence[tuple[int, ...]] | None = None,
    ) -> list[Config | None]:
        """``count`` configurations that ``ledger`` admits, spread out by the constant liar.

        Each is taken in ``ledger`` as it is chosen, so that a batch never repeats
        itself. ``architectures`` (AgEBO's) gives each proposal an architecture that the
        encoder does not model; the ledger then judges each pair. An entry is None when
        nothing is left for it: the space is enumerable and every configuration (with
        that architecture) is taken.
        """
        if self._context and architectures is None:
            raise ValueError("an optimizer with a context proposes for given architectures")
        admission = _Admission(ledger, architectures)
        if self._fit_size:
            proposals = self._from_surrogate(count, admission, architectures)
        else:
            proposals = [self._initial(slot, admission) for slot in range(count)]
        for slot, proposal in enumerate(proposals):
            if proposal is not None:
                arch_seq = architectures[slot] if self._context else proposal[0]  # type: ignore[index]
                self._pending.append(self.model_encoder.encode(arch_seq, proposal[1]))
        del self._pending[:-MAX_PENDING]
        return proposals

    def _initial(self, slot: int, admission: _Admission) -> Config | None:
        """A design point, or when it is taken a random configuration that is not."""
        point = self._initial_point()
        choice: Config | None = point
        if not admission.admits(slot, point):
            if enumerable(self.encoder):
                configs = in_random_order(self.encoder, self.rng)
                choice = next((c for c in configs if admission.admits(slot, c)), None)
            else:  # a repeat only if all of these are taken: never in practice
                pool = self.encoder.sample(self.num_candidates, self.rng)
                choice = self._first_admitted(pool, range(len(pool)), slot, admission) or point
        if choice is not None:
            admission.take(slot, choice)
        return choice

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

    def _first_admitted(
        self, candidates: Candidates, order: Any, slot: int, admission: _Admission
    ) -> Config | None:
        """The first candidate in ``order`` (indices) that the ledger admits, or None."""
        index = first_admitted_index(self.encoder, candidates, order, slot, admission)
        return None if index is None else self.encoder.decode(candidates, index)

    def _from_surrogate(
        self,
        count: int,
        admission: _Admission,
        architectures: Sequence[tuple[int, ...]] | None = None,
    ) -> list[Config | None]:
        surrogate = self._current_surrogate()
        candidates = self.encoder.sample(self.num_candidates, self.rng)
        width = self.model_encoder.width
        # Under random scalarisation the forest's own sums stay empty: the leaves of
        # the results are kept, and every batch counts them at its values.
        counted = self._leaves.shape[1] if self._multi else surrogate.num_counted  # type: ignore[union-attr]
        uncounted = np.array(self._rows[counted:]).reshape(-1, width)
        pending = np.array(self._pending).reshape(-1, width)
        # One pass down each tree for new results, pending proposals and candidates
        # (with a context, the candidates go down once per architecture, below).
        rows = [uncounted, pending] + ([] if self._context else [candidates.features])
        leaves = surrogate.leaves(np.vstack(rows))
        if self._multi:
            table, lie = self._scalarized_table(surrogate, leaves[:, : len(uncounted)])
        else:
            surrogate.add(
                leaves[:, : len(uncounted)], np.array(self._scores[surrogate.num_counted :])
            )
            lie = self._lie()
            table = surrogate.leaf_table(failure_value=self._worst)
        table.add(leaves[:, len(uncounted) : len(uncounted) + len(pending)], lie)
        if not self._context:
            first = len(uncounted) + len(pending)
            batch = _Batch(self, surrogate, table, lie, candidates, leaves[:, first:])
            return [batch.propose(slot, admission) for slot in range(count)]
        proposals = []
        for slot in range(count):  # the lies of the batch's earlier ones count: one table
            architecture = self.architecture_columns(architectures[slot])  # type: ignore[index]
            batch = _Batch(self, surrogate, table, lie, candidates, None, architecture)
            proposals.append(batch.propose(slot, admission))
        return proposals

    def architecture_columns(self, arch_seq: Sequence[int]) -> np.ndarray:
        """The context's columns of ``arch_seq`` (as ``model_encoder`` encodes it)."""
        encoder = self.model_encoder
        return np.array(
            [arch_seq[index] / (encoder.choices[index] - 1) for index in encoder.decisions],
            dtype=np.float32,
        )

    def _scalarized_table(
        self, surrogate: ForestSurrogate, new_leaves: np.ndarray
    ) -> tuple[LeafTable, float]:
        """The leaf table and the lie of one batch under random scalarisation: weights
        drawn from the search's generator, every result counted at its value."""
        self._leaves = np.hstack([self._leaves, new_leaves])  # type: ignore[list-item]
        values = self._scalarized(self._weights(self.rng), len(self._objectives))
        successes = values[~np.isnan(values)]
        worst = float(successes.min()) if successes.size else 0.0
        if not successes.size or self.liar == "worst":
            lie = worst
        elif self.liar == "best":
            lie = float(successes.max())
        else:
            lie = float(successes.mean())
        table = surrogate.leaf_table(failure_value=worst)  # only its fallback is kept
        filled = np.broadcast_to(np.where(np.isnan(values), worst, values), self._leaves.shape)
        size = len(table.sums)
        table.sums = np.bincount(self._leaves.ravel(), filled.ravel(), minlength=size)
        table.counts = np.bincount(self._leaves.ravel(), minlength=size).astype(float)
        return table, lie

    def _weights(self, rng: np.random.Generator) -> np.ndarray:
        """Random scalarisation weights; one objective (constraints only) draws none."""
        if self._num_objectives <= 1:
            return np.ones(max(1, self._num_objectives))
        return random_scalarization(rng, self._num_objectives)

    def _scalarized(self, weights: np.ndarray, size: int) -> np.ndarray:
        """The value of each of the first ``size`` results under ``weights``."""
        return scalarized_values(self._objectives[:size], self._violations[:size], weights)

    def _lie(self) -> float:
        if self.liar == "worst":
            return self._worst
        if self.liar == "best":
            return self._best
        return self._score_sum / self._num_successes

    def _current_surrogate(self) -> ForestSurrogate:
        if (
            self._surrogate is None
            or self._surrogate_size != self._fit_size
            or self._surrogate_multi != self._multi
        ):
            self._surrogate = self._fit(self._fit_size)
            self._surrogate_size = self._fit_size
            self._surrogate_multi = self._multi
            self._leaves = np.zeros((self.num_trees, 0), dtype=np.int64)
        return self._surrogate

    def _fit(self, size: int) -> ForestSurrogate:
        features = np.array(self._rows[:size])
        if self._multi:  # the fit's weights: a function of its size, as its seed
            weights = self._weights(np.random.default_rng([self._entropy, size, 2]))
            scores = self._scalarized(weights, size)
            if np.isnan(scores).all():
                scores[:] = 0.0
        else:
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
        self._leaves = None
        self._pending = []

    def mark_pending(self, arch_seq: Sequence[int], hyperparameters: Mapping[str, Any]) -> None:
        """Count a configuration being evaluated as pending (on resume: the re-run ones)."""
        self._pending.append(self.model_encoder.encode(arch_seq, hyperparameters))
        del self._pending[:-MAX_PENDING]

    @property
    def num_pending(self) -> int:
        """Proposals not told back yet, counted as lies."""
        return len(self._pending)


class _Batch:
    """One batch of proposals from a fitted surrogate: the candidates are scored again
    after each proposal, whose lie lowers (or raises) the forest around it."""

    def __init__(
        self,
        optimizer: BayesianOptimizer,
        surrogate: ForestSurrogate,
        table: LeafTable,
        lie: float,
        candidates: Candidates,
        leaves: np.ndarray | None,
        architecture: np.ndarray | None = None,
    ) -> None:
        self.encoder = optimizer.encoder
        self.kappa = optimizer.kappa
        self.surrogate = surrogate
        self.table = table
        self.lie = lie
        #: The context's columns (AgEBO's architecture), put before every candidate's.
        self.architecture = architecture
        self.pool = _Pool(candidates, self._leaves(candidates) if leaves is None else leaves)
        self.available = np.ones(len(candidates), dtype=bool)  # not like one proposed
        self._grid: _Pool | None = None  # every configuration, if the candidates run out

    def propose(self, slot: int, admission: _Admission) -> Config | None:
        """The best configuration the ledger admits, taken and counted as a lie; None
        when every configuration of an enumerable space is taken."""
        chosen = self._from_candidates(slot, admission)
        if chosen is None:
            chosen = self._from_grid(slot, admission)
            if chosen is None:
                return None
        pool, index = chosen
        config = self.encoder.decode(pool.candidates, index)
        admission.take(slot, config)
        self.table.add(pool.leaves[:, index], self.lie)
        return config

    def _from_candidates(self, slot: int, admission: _Admission) -> tuple[_Pool, int] | None:
        features = self.pool.candidates.features
        if not self.available.any():  # fewer distinct candidates than proposals
            self.available[:] = True
        order = np.argsort(-self.pool.acquisition(self.table, self.kappa), kind="stable")
        # Spread the batch first (unlike the batch's earlier proposals); any other next.
        for subset in (order[self.available[order]], order[~self.available[order]]):
            best = first_admitted_index(
                self.encoder, self.pool.candidates, subset, slot, admission
            )
            if best is not None:
                self.available &= np.any(features != features[best], axis=1)
                return self.pool, best
        return None

    def _leaves(self, candidates: Candidates) -> np.ndarray:
        features = candidates.features
        if self.architecture is not None:
            context = np.broadcast_to(self.architecture, (len(features), len(self.architecture)))
            features = np.hstack([context, features])
        return self.surrogate.leaves(features)

    def _from_grid(self, slot: int, admission: _Admission) -> tuple[_Pool, int] | None:
        if not enumerable(self.encoder):
            # A repeat only if every candidate is taken: never in practice (see _ledger).
            return self.pool, int(np.argmax(self.pool.acquisition(self.table, self.kappa)))
        if self._grid is None:
            grid = self.encoder.grid(np.arange(self.encoder.grid_size or 0))
            self._grid = _Pool(grid, self._leaves(grid))
        order = np.argsort(-self._grid.acquisition(self.table, self.kappa), kind="stable")
        best = first_admitted_index(self.encoder, self._grid.candidates, order, slot, admission)
        return None if best is None else (self._grid, best)


def first_admitted_index(
    encoder: ConfigEncoder, candidates: Candidates, order: Any, slot: int, admission: _Admission
) -> int | None:
    """The first index in ``order`` whose candidate the ledger admits, or None."""
    for index in order:
        if admission.admits(slot, encoder.decode(candidates, int(index))):
            return int(index)
    return None


@dataclass(frozen=True)
class _Admission:
    """Asks the ledger about the configuration proposed in one slot of a batch."""

    ledger: Ledger
    architectures: Sequence[tuple[int, ...]] | None

    def _architecture(self, slot: int, config: Config) -> tuple[int, ...]:
        return config[0] if self.architectures is None else tuple(self.architectures[slot])

    def admits(self, slot: int, config: Config) -> bool:
        return self.ledger.admits(self._architecture(slot, config), config[1])

    def take(self, slot: int, config: Config) -> None:
        self.ledger.take(self._architecture(slot, config), config[1])


@dataclass(frozen=True)
class _Pool:
    """Candidates and the leaves they fall in, to score them as the lies change."""

    candidates: Candidates
    leaves: np.ndarray

    def acquisition(self, table: LeafTable, kappa: float) -> np.ndarray:
        return upper_confidence_bound(table.predict(self.leaves), kappa)


def scalarized_values(
    objectives: Sequence[tuple[float, ...] | None],
    violations: Sequence[float],
    weights: np.ndarray,
) -> np.ndarray:
    """One value per result to maximise under random scalarisation; NaN for a failure.

    ``objectives`` are maximised (None: failed), ``violations`` >= 0. A feasible result
    gets minus the augmented Chebyshev scalarisation of the ranks of its negated
    objectives among the feasible results (:func:`ranks`; so in [-(1 + rho), 0]); an
    infeasible one the worst feasible value minus ``v / (1 + v)``
    (strictly below it), or ``-v / (1 + v)`` without a feasible result.

    Example:
        >>> scalarized_values([(1.0, 0.0), (0.0, 1.0), (2.0, 2.0), None], [0, 0, 1, 0], [0.5, 0.5])
        array([-0.525, -0.525, -1.025,    nan])
    """
    values = np.full(len(objectives), np.nan)
    succeeded = np.array([row is not None for row in objectives], dtype=bool)
    if not succeeded.any():
        return values
    points = -np.array([row for row in objectives if row is not None], dtype=float)
    violation = np.asarray(violations, dtype=float)[succeeded]
    feasible = violation == 0
    result = np.empty(len(points))
    worst = 0.0
    if feasible.any():
        result[feasible] = -scalarize(ranks(points[feasible]), weights)
        worst = float(result[feasible].min())
    amounts = np.minimum(violation[~feasible], np.finfo(float).max)  # inf: a penalty of 1
    below = worst - amounts / (1.0 + amounts)
    result[~feasible] = np.minimum(below, np.nextafter(worst, -math.inf))
    values[succeeded] = result
    return values


def ranks(points: np.ndarray) -> np.ndarray:
    """Each column of ``points`` replaced by its values' ranks (ties share their mean).

    Why ranks rather than values between the column's minimum and maximum: one
    diverged training (a loss of 1e7 among losses near 0.1) would squash every other
    value of that objective to about 0, and the search would then optimise the other
    objectives alone; measured with scripts/bench_multiobjective.py (docs/benchmarks.md).
    """
    from scipy.stats import rankdata

    return rankdata(points, axis=0) if len(points) else points


def latin_hypercube(dimensions: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points of ``[0, 1]^dimensions``, one per stratum in every dimension."""
    from scipy.stats import qmc  # imported when needed: scipy.stats is slow to import

    try:
        sampler = qmc.LatinHypercube(d=dimensions, rng=rng)
    except TypeError:  # SciPy < 1.15 calls the generator ``seed``
        sampler = qmc.LatinHypercube(d=dimensions, seed=rng)
    return sampler.random(count)
