"""Keep the trained models of the best evaluations so far, delete the others.

Workers save every successful model to ``<out>/models/trial_<id>.keras``; the driver
keeps the files of the ``keep`` best trials and deletes the rest as results arrive, so
the best models need no retraining and the folder never holds more than a few.
A model is saved under a hidden partial name and renamed once whole, so a kill or a full
disk never leaves a truncated ``trial_<id>.keras``; partial files that a killed worker
left are deleted when a session starts.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from pathlib import Path

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
    """

    def __init__(self, directory: Path, keep: int) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            raise ValueError(f"keep_models must be an int >= 0, got {keep!r}")
        self.directory = Path(directory)
        self.keep = keep
        self._best: list[tuple[float, int]] = []  # (-score, trial_id), best first
        self._remove_partial_files()

    @property
    def models_directory(self) -> Path | None:
        """Where workers save models, or None when no model is kept."""
        return self.directory / MODELS_FOLDER if self.keep else None

    @property
    def kept(self) -> list[int]:
        """Trial ids whose models are kept, best first."""
        return [trial_id for _, trial_id in self._best]

    def update(self, scored: Iterable[tuple[Trial, float | None]]) -> None:
        """Account for finished trials (score None when failed), deleting what falls out."""
        for trial, score in scored:
            trial_id = trial.config.trial_id
            if score is None:
                self._delete(trial_id)
                continue
            bisect.insort(self._best, (-score, trial_id))
            for _, dropped in self._best[self.keep :]:
                self._delete(dropped)
            del self._best[self.keep :]

    def _remove_partial_files(self) -> None:
        """Delete models half-written by workers killed while saving: no save is under
        way when a session starts, and they hold the disk space a full disk needs."""
        folder = self.directory / MODELS_FOLDER
        for path in folder.glob(partial_path(folder / "*.keras").name):
            path.unlink(missing_ok=True)

    def _delete(self, trial_id: int) -> None:
        kept_model_path(self.directory, trial_id).unlink(missing_ok=True)
