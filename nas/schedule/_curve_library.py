"""The recorded learning curves of learning-curve matching, and the prediction it makes.

A :class:`CurveLibrary` holds, for each complete training, the objective at the
checkpoints and the final performance. A running curve (its values at the checkpoints
seen so far) is matched to the recorded ones by Euclidean distance over those
checkpoints; the nearest one's final performance is the prediction, compared with a
percentile of the recorded finals: those of complete trainings and the predicted finals
of stopped runs. Values are oriented so that larger is better.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RecordedCurve:
    """A complete training, as learning-curve matching remembers it.

    Attributes:
        run_id: the trial id of the run's first segment.
        values: the objective after each checkpoint epoch the run reached with a finite
            value, in checkpoint order (a run the problem's own early stopping ended
            before the last checkpoint has fewer).
        final: its final performance: the best objective over all its epochs.
    """

    run_id: int
    values: tuple[float, ...]
    final: float


@dataclass(frozen=True)
class Prediction:
    """What matching a running curve to the library predicts.

    Attributes:
        final: the predicted final performance: the nearest recorded curve's final.
        nearest: the run id of the nearest recorded curve.
        distance: the Euclidean distance to it, over the checkpoints compared.
        threshold: the percentile of the recorded finals the prediction is compared with.
        num_recorded: the number of recorded finals the threshold is taken over.
        num_estimated: how many of those are predicted finals of stopped runs.
    """

    final: float
    nearest: int
    distance: float
    threshold: float
    num_recorded: int
    num_estimated: int = 0

    @property
    def below_threshold(self) -> bool:
        """Whether the prediction ranks below the percentile: the run should stop."""
        return self.final < self.threshold


class CurveLibrary:
    """Complete trainings recorded by learning-curve matching.

    Args:
        percentile: the percentile (0-100] of the recorded finals below which a
            prediction stops a run (linear interpolation between recorded values, as
            :func:`numpy.percentile`).

    The percentile is taken over the finals of complete trainings *and* the predicted
    finals of stopped runs (:meth:`add_estimate`). Complete trainings alone are the
    survivors of earlier checks, better than the configurations proposed: over them, the
    percentile would rise with every stop, and a run would be stopped far more often
    than the percentile says. Counting every configuration judged keeps "below the 50th
    percentile" meaning "predicted in the worse half of the configurations".

    Example:
        >>> library = CurveLibrary(percentile=50)
        >>> library.add(RecordedCurve(0, (0.5, 0.6), 0.7))
        >>> library.add(RecordedCurve(1, (0.8, 0.9), 0.95))
        >>> library.predict([0.55]).final, library.predict([0.55]).below_threshold
        (0.7, True)
    """

    def __init__(self, percentile: float) -> None:
        self.percentile = float(percentile)
        self._curves: list[RecordedCurve] = []
        # Matching runs once per checkpoint of every run: keep the arrays, rebuilt only
        # after an addition (at most once per complete training).
        self._matrix: np.ndarray | None = None
        self._finals: np.ndarray | None = None
        self._estimates: list[float] = []

    def __len__(self) -> int:
        return len(self._curves)

    @property
    def curves(self) -> list[RecordedCurve]:
        """The recorded curves, in the order they were added."""
        return list(self._curves)

    def add(self, curve: RecordedCurve) -> None:
        """Record a complete training."""
        self._curves.append(curve)
        self._matrix = self._finals = None

    def add_estimate(self, final: float) -> None:
        """Count a stopped run's predicted final among the finals (it has no curve)."""
        self._estimates.append(float(final))

    @property
    def num_finals(self) -> int:
        """Finals the percentile is taken over: complete trainings and estimates."""
        return len(self._curves) + len(self._estimates)

    def threshold(self) -> float:
        """The percentile of the recorded finals (NaN while nothing is recorded)."""
        if not self._curves:
            return float("nan")
        finals = np.concatenate([self._arrays()[1], self._estimates])
        return float(np.percentile(finals, self.percentile))

    def predict(self, values: Sequence[float]) -> Prediction | None:
        """Match a running curve (its values at the first ``len(values)`` checkpoints).

        Only recorded curves that have values at all those checkpoints take part; ties go
        to the curve recorded first. Returns None when no recorded curve qualifies.
        """
        if not values or not self._curves:
            return None
        matrix, finals = self._arrays()
        k = len(values)
        if k > matrix.shape[1]:
            return None
        compared = matrix[:, :k]
        usable = ~np.isnan(compared).any(axis=1)
        if not usable.any():
            return None
        distances = np.sqrt(((compared - np.asarray(values, dtype=float)) ** 2).sum(axis=1))
        distances[~usable] = np.inf
        nearest = int(np.argmin(distances))  # the first of equal minima
        return Prediction(
            final=float(finals[nearest]),
            nearest=self._curves[nearest].run_id,
            distance=float(distances[nearest]),
            threshold=self.threshold(),
            num_recorded=self.num_finals,
            num_estimated=len(self._estimates),
        )

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._matrix is None or self._finals is None:
            width = max(len(curve.values) for curve in self._curves)
            matrix = np.full((len(self._curves), width), np.nan)
            for row, curve in enumerate(self._curves):
                matrix[row, : len(curve.values)] = curve.values
            self._matrix = matrix
            self._finals = np.array([curve.final for curve in self._curves], dtype=float)
        return self._matrix, self._finals
