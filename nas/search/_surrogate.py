"""The surrogate model of AgEBO and AMBS: extra-trees whose leaves learn without refitting.

A scikit-learn ``ExtraTreesRegressor`` is fitted on encoded configurations; its trees'
spread is the uncertainty. Refitting a forest costs far more than scoring with it, so
the forest is refitted only now and then (see ``_bayesian_optimization``) and, in
between, results are *counted into the leaves they fall in*: each tree keeps its splits
and each leaf predicts the mean score of every result that reached it, old or new.
That is exactly what refitting with the splits held fixed would give, at the cost of
routing a few rows down the trees. The same mechanism takes the constant liar's fake
results, so that a proposal lowers (or raises) the forest around itself at once.

Why extra-trees: scikit-optimize's ``forest_minimize`` defaults to them
(``skopt.utils.cook_estimator``: ``ExtraTreesRegressor(n_estimators=100,
min_samples_leaf=3)``) and DeepHyper's AMBS offers the same ("ET"). Without
bootstrapping every tree sees every result, so counting a result into one leaf per
tree is the whole update.

Leaves may hold a single result (scikit-optimize and DeepHyper: at least 3). With the
tens to hundreds of results a search has, leaves of 3 average away the differences
between neighbouring configurations that the search must tell apart; the random
thresholds of the trees already smooth the forest's mean. ``scripts/bench_quality.py``
and ``scripts/bench_multiobjective.py`` measured both settings side by side: leaves of
one found better configurations in most cells for AgEBO and AMBS (figures in
docs/benchmarks.md, "Search quality against Optuna's TPE").
"""

from __future__ import annotations

import numpy as np

#: Results per leaf at least (scikit-optimize's and DeepHyper's 3: see the docstring).
MIN_SAMPLES_LEAF = 1
#: Trees per forest. scikit-optimize and DeepHyper use 100; scoring 1,000 candidates
#: costs one pass down every tree, so fewer trees is the main lever on a proposal's cost.
DEFAULT_NUM_TREES = 32


class ForestSurrogate:
    """An extra-trees forest plus per-leaf sums of the results counted into it.

    Leaves are numbered across the whole forest (tree ``t``'s nodes are offset by the
    node counts of the trees before it), so one flat array holds every leaf's sums.

    Args:
        features: the encoded configurations the trees are grown on.
        scores: their scores (failed ones already replaced by a penalty).
        num_trees: trees in the forest.
        seed: seed of the forest's random splits.

    Example:
        >>> surrogate = ForestSurrogate(features, scores, num_trees=32, seed=0)
        >>> surrogate.add(surrogate.leaves(features), scores)
        >>> table = surrogate.leaf_table(failure_value=scores.min())
        >>> per_tree = table.predict(surrogate.leaves(candidates))  # (trees, candidates)
    """

    def __init__(
        self, features: np.ndarray, scores: np.ndarray, num_trees: int, seed: int
    ) -> None:
        # Imported here: scikit-learn's ensemble module takes seconds to import, which
        # every user of ``nas.search`` (the CLI, the driver) would otherwise pay.
        from sklearn.ensemble import ExtraTreesRegressor

        forest = ExtraTreesRegressor(
            n_estimators=num_trees, min_samples_leaf=MIN_SAMPLES_LEAF, n_jobs=1, random_state=seed
        )
        forest.fit(features, scores)
        self._trees = forest.estimators_
        sizes = [tree.tree_.node_count for tree in self._trees]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)[:, None]
        # What the trees predict from their own training rows, for any leaf that no
        # counted result reaches (none should: the training rows are counted too).
        self._fitted_values = np.concatenate(
            [tree.tree_.value.reshape(-1) for tree in self._trees]
        )
        self._score_sums = np.zeros(sum(sizes))
        self._successes = np.zeros(sum(sizes))
        self._failures = np.zeros(sum(sizes))
        #: How many results (rows of the optimizer's history) have been counted.
        self.num_counted = 0

    def leaves(self, features: np.ndarray) -> np.ndarray:
        """The leaf of each row in each tree, as an int array of shape (trees, rows)."""
        rows = np.ascontiguousarray(features, dtype=np.float32)
        # ``apply`` with check_input=False skips validation; rows are float32 as the
        # trees expect. One call per tree runs the whole batch through it in C.
        return np.stack([tree.apply(rows, check_input=False) for tree in self._trees]) + (
            self._offsets
        )

    def add(self, leaves: np.ndarray, scores: np.ndarray) -> None:
        """Count results into their leaves; a NaN score is a failure.

        ``np.add.at`` accumulates in row order, so counting results in several calls
        gives the very same sums as counting them all at once: a search rebuilt from
        its history predicts bit for bit what the original did.
        """
        failed = np.isnan(scores)
        succeeded = leaves[:, ~failed]
        weights = np.broadcast_to(scores[~failed], succeeded.shape)
        np.add.at(self._score_sums, succeeded.ravel(), weights.ravel())
        np.add.at(self._successes, succeeded.ravel(), 1.0)
        np.add.at(self._failures, leaves[:, failed].ravel(), 1.0)
        self.num_counted += leaves.shape[1]

    def leaf_table(self, failure_value: float) -> LeafTable:
        """A scratch copy of the leaf sums, failures counted at ``failure_value``."""
        return LeafTable(
            self._score_sums + failure_value * self._failures,
            self._successes + self._failures,
            self._fitted_values,
        )


class LeafTable:
    """Per-leaf sums and counts for one round of proposals, lies included."""

    def __init__(self, sums: np.ndarray, counts: np.ndarray, fallback: np.ndarray) -> None:
        self.sums = sums
        self.counts = counts
        self._fallback = fallback

    def add(self, leaves: np.ndarray, value: float) -> None:
        """Count a fake result of ``value`` into each of ``leaves`` (the liar's update)."""
        np.add.at(self.sums, leaves.ravel(), value)
        np.add.at(self.counts, leaves.ravel(), 1.0)

    def predict(self, leaves: np.ndarray) -> np.ndarray:
        """Each tree's prediction for each row: shape (trees, rows)."""
        values = np.divide(
            self.sums, self.counts, out=self._fallback.copy(), where=self.counts > 0
        )
        return values[leaves]


def upper_confidence_bound(per_tree: np.ndarray, kappa: float) -> np.ndarray:
    """UCB of each row from its per-tree predictions: mean + kappa * spread (maximised).

    The spread is the standard deviation of the trees' predictions, the forest's
    epistemic uncertainty (scikit-optimize adds the within-leaf variance as well;
    with three results per leaf that term mostly measures noise, not ignorance).
    """
    return per_tree.mean(axis=0) + kappa * per_tree.std(axis=0)
