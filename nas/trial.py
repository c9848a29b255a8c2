"""The records that travel between the driver, the evaluators and the journal.

They are small, frozen and JSON-able, so the same records go through a pipe to a
worker process, over MPI to a rank, and into the journal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nas.train import TrainingResult


@dataclass(frozen=True)
class Config:
    """One evaluation to run: an architecture, its hyperparameters and a seed."""

    trial_id: int
    arch_seq: tuple[int, ...]
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0

    @property
    def num_ranks(self) -> int:
        """The data-parallel width this config asks for (its ``num_ranks``, default 1)."""
        return int(self.hyperparameters.get("num_ranks", 1))

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial_id": self.trial_id,
            "arch_seq": list(self.arch_seq),
            "hyperparameters": dict(self.hyperparameters),
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        return cls(
            int(data["trial_id"]),
            tuple(int(value) for value in data["arch_seq"]),
            dict(data["hyperparameters"]),
            int(data["seed"]),
        )


@dataclass(frozen=True)
class Trial:
    """A finished evaluation: its config, its training result and where it ran."""

    config: Config
    result: TrainingResult
    worker: str
    submitted_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "result": self.result.to_dict(),
            "worker": self.worker,
            "submitted_at": self.submitted_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trial:
        return cls(
            Config.from_dict(data["config"]),
            TrainingResult.from_dict(data["result"]),
            str(data["worker"]),
            float(data["submitted_at"]),
        )


def trial_seed(search_seed: int | None, trial_id: int) -> int:
    """A distinct, reproducible training seed for each trial of a search."""
    entropy = [0 if search_seed is None else search_seed, trial_id]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] % (2**31 - 1))


def model_filename(trial_id: int) -> str:
    """The file name of a trial's saved model in a search's models folder."""
    return f"trial_{trial_id}.keras"
