"""Keep the trained models of the best evaluations so far, delete the others.

Workers save every successful model to ``<out>/models/trial_<id>.keras``; the driver
keeps the files of the ``keep`` best trials and deletes the rest as results arrive, so
the best models need no retraining and the folder never holds more than a few. With
several objectives or constraints there is no single best: it keeps the models of the
Pareto front instead (the trials no other dominates among those of least constraint
violation: the feasible front once a trial is feasible), which ``nas-export --pareto``
exports; fronts of a search hold tens of trials, not thousands.
A model is saved under a hidden partial name and renamed once whole, so a kill or a full
disk never leaves a truncated ``trial_<id>.keras``; partial files that a killed worker
left are deleted when a session starts.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from pathlib import Path

from nas.search import Observation
from nas.train import partial_path
from nas.trial import Trial, model_filename

MODELS_FOLDER = "models"


def kept_model_path(directory: str | Path, trial_id: int) -> Path:
    """Where a search keeps the trained model of ``trial_id``."""
    return Path(directory) / MODELS_FOLDER / model_filename(trial_id)


class ModelKeeper:
    """Tracks the ``keep`` best scores and deletes the models that fall out.

    Args:
        directory: the search's output folder.
        keep: how many models to keep (0 keeps none: workers then save nothing).
        by_front: keep the Pareto front's models rather than the ``keep`` best (a
            problem with several objectives or constraints; see the module).
    """

    def __init__(self, directory: Path, keep: int, by_front: bool = False) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            raise ValueError(f"keep_models must be an int >= 0, got {keep!r}")
        self.directory = Path(directory)
        self.keep = keep
        self.by_front = by_front
        self._best: list[tuple[float, int]] = []  # (-score, trial_id), best first
        #: by_front: trial id -> (scores, violation) of the front's trials.
        self._front: dict[int, tuple[tuple[float, ...], float]] = {}
        self._remove_partial_files()

    @property
    def models_directory(self) -> Path | None:
        """Where workers save models, or None when no model is kept."""
        return self.directory / MODELS_FOLDER if self.keep else None

    @property
    def kept(self) -> list[int]:
        """Trial ids whose models are kept, best first (by_front: in trial order)."""
        if self.by_front:
            return sorted(self._front)
        return [trial_id for _, trial_id in self._best]

    def update(self, seen: Iterable[tuple[Trial, Observation]]) -> None:
        """Account for finished trials and what the search was told of them, deleting
        the models that fall out."""
        for trial, observation in seen:
            trial_id = trial.config.trial_id
            if observation.failed:
                self._delete(trial_id)
            elif self.by_front:
                self._add_to_front(trial_id, observation)
            else:
                bisect.insort(self._best, (-observation.score, trial_id))  # type: ignore[operator]
                for _, dropped in self._best[self.keep :]:
                    self._delete(dropped)
                del self._best[self.keep :]

    def _add_to_front(self, trial_id: int, observation: Observation) -> None:
        scores, violation = observation.scores or (), observation.violation
        least = min((v for _, v in self._front.values()), default=violation)
        if violation > least or any(
            _dominates(kept, scores) for kept, v in self._front.values() if v == violation
        ):
            self._delete(trial_id)
            return
        for kept_id, (kept, kept_violation) in list(self._front.items()):
            if kept_violation > violation or _dominates(scores, kept):
                del self._front[kept_id]
                self._delete(kept_id)
        self._front[trial_id] = (scores, violation)

    def _remove_partial_files(self) -> None:
        """Delete models half-written by workers killed while saving: no save is under
        way when a session starts, and they hold the disk space a full disk needs."""
        folder = self.directory / MODELS_FOLDER
        for path in folder.glob(partial_path(folder / "*.keras").name):
            path.unlink(missing_ok=True)

    def _delete(self, trial_id: int) -> None:
        kept_model_path(self.directory, trial_id).unlink(missing_ok=True)


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether scores ``a`` dominate ``b`` (larger is better in every one)."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))
