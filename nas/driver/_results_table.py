"""``results.csv``: one row per finished evaluation, derived from the journal.

The header is fixed when the search starts, so a pandas user can read the file at any
moment, and failed evaluations appear from the first row on (objective left empty).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nas.trial import Trial

RESULTS_NAME = "results.csv"
_LEADING = ["trial_id", "arch_seq", "arch_hash"]
_TRAILING = [
    "objective",
    "status",
    "error",
    "submitted_at",
    "started_at",
    "finished_at",
    "duration",
    "worker",
    "num_parameters",
    "epochs_trained",
    "num_ranks",
    "global_batch_size",
    "samples_per_second",
    "data_parallel",
    "info",
    "epochs_reached",
    "parent",
]


class ResultsTable:
    """Appends trials to ``<directory>/results.csv``; rewritten from scratch on resume."""

    def __init__(self, directory: Path, hyperparameter_names: Sequence[str]) -> None:
        self.path = Path(directory) / RESULTS_NAME
        self.columns = _LEADING + [f"hp_{name}" for name in hyperparameter_names] + _TRAILING
        self._file = self.path.open("w", newline="", encoding="utf-8")
        # Failed evaluations may carry only the searched hyperparameters: missing cells stay empty.
        self._writer = csv.DictWriter(self._file, fieldnames=self.columns, restval="")
        self._writer.writeheader()
        self._file.flush()

    def append(
        self,
        trials: Sequence[Trial],
        arch_hashes: Sequence[str],
        notes: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Write rows; ``notes`` (one per trial) are what the scheduler decided about
        each once it finished, merged over the trial's own ``info``."""
        notes = notes if notes is not None else [{}] * len(trials)
        for trial, arch_hash, note in zip(trials, arch_hashes, notes):
            self._writer.writerow(_row(trial, arch_hash, note))
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _row(trial: Trial, arch_hash: str, notes: Mapping[str, Any]) -> dict[str, Any]:
    result = trial.result
    info = {**trial.config.info, **notes}
    row: dict[str, Any] = {
        "trial_id": trial.config.trial_id,
        "arch_seq": json.dumps(list(trial.config.arch_seq)),
        "arch_hash": arch_hash,
        "objective": _blank_if_none(result.objective),
        "status": result.status.value,
        "error": result.error or "",
        "submitted_at": trial.submitted_at,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "duration": result.finished_at - result.started_at,
        "worker": trial.worker,
        "num_parameters": _blank_if_none(result.num_parameters),
        "epochs_trained": result.epochs_trained,
        "num_ranks": result.num_ranks,
        "global_batch_size": _blank_if_none(result.global_batch_size),
        "samples_per_second": _blank_if_none(result.samples_per_second),
        "data_parallel": _blank_if_none(result.data_parallel),
        # One JSON object: scheduler notes vary by scheduler, a fixed header cannot list them.
        "info": json.dumps(info) if info else "",
        # A segment continuing a checkpoint (successive halving) trains from its parent's
        # epoch: the epoch the model reached is what a rung's resource refers to.
        "epochs_reached": trial.config.initial_epoch + result.epochs_trained,
        "parent": _blank_if_none(trial.config.parent),
    }
    for name, value in result.hyperparameters.items():
        row[f"hp_{name}"] = value
    return row


def _blank_if_none(value: Any) -> Any:
    return "" if value is None else value
