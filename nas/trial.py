"""The records that travel between the driver, the evaluators and the journal.

They are small, frozen and JSON-able, so the same records go through a pipe to a
worker process, over MPI to a rank, and into the journal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas.train import TrainingResult


@dataclass(frozen=True)
class Config:
    """One evaluation to run: an architecture, its hyperparameters, a seed, a budget.

    The last fields serve schedulers that train a configuration in several segments
    (successive halving, population-based training): a segment trains from
    ``initial_epoch`` until ``epochs``, starting from the weights and optimizer state in
    ``start_from`` and saving its own at ``checkpoint_path`` for a later segment.

    Attributes:
        trial_id: unique in a search; the journal and results refer to it.
        arch_seq: the architecture.
        hyperparameters: the configuration of the problem's hyperparameters.
        seed: seeds weight initialisation, shuffling and dropout.
        epochs: train until this epoch (a total, not a count); None: the
            ``epochs`` hyperparameter.
        initial_epoch: epochs already trained in ``start_from`` (0 for a fresh model).
        start_from: a checkpoint (``.keras``, with optimizer state) to continue from.
        parent: the trial that saved ``start_from``, None for a fresh model.
        checkpoint_path: where to save the model and optimizer state after training.
        info: what the scheduler notes about this evaluation (a rung, the member it
            copied, ...), recorded with the trial.
        directory: the output folder of the search running it (None outside one), for
            what the problem's ``callbacks`` factory writes (see :class:`TrialInfo`).
        tensorboard: write TensorBoard logs to ``directory/tensorboard/<trial_id>``.
    """

    trial_id: int
    arch_seq: tuple[int, ...]
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    epochs: int | None = None
    initial_epoch: int = 0
    start_from: str | None = None
    parent: int | None = None
    checkpoint_path: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    directory: str | None = None
    tensorboard: bool = False

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
            "epochs": self.epochs,
            "initial_epoch": self.initial_epoch,
            "start_from": self.start_from,
            "parent": self.parent,
            "checkpoint_path": self.checkpoint_path,
            "info": dict(self.info),
            "directory": self.directory,
            "tensorboard": self.tensorboard,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """Rebuild a config from :meth:`to_dict` (journals from before the budget fields
        lack them: they take their defaults)."""
        epochs, parent = data.get("epochs"), data.get("parent")
        return cls(
            int(data["trial_id"]),
            tuple(int(value) for value in data["arch_seq"]),
            dict(data["hyperparameters"]),
            int(data["seed"]),
            None if epochs is None else int(epochs),
            int(data.get("initial_epoch", 0)),
            data.get("start_from"),
            None if parent is None else int(parent),
            data.get("checkpoint_path"),
            dict(data.get("info", {})),
            data.get("directory"),
            bool(data.get("tensorboard", False)),
        )


@dataclass(frozen=True)
class TrialInfo:
    """What a problem's ``callbacks`` factory is given: the evaluation it makes
    callbacks for, in the worker (process, MPI rank) that trains it.

    Attributes:
        config: the evaluation (its ``trial_id``, ``arch_seq``, ``hyperparameters``,
            seed and budget).
        directory: the search's output folder (None outside a search): a callback that
            writes files puts them in a subfolder of its own, named after the trial.
        rank: this rank's index in the group of ranks training the configuration
            together (0 when it trains alone).
        num_ranks: the size of that group (1 when it trains alone). Every rank of a
            group calls the factory and runs its callbacks, as ``train(callbacks=)``
            does: a callback that writes files should do so on rank 0 only.
    """

    config: Config
    directory: Path | None = None
    rank: int = 0
    num_ranks: int = 1

    @property
    def trial_id(self) -> int:
        return self.config.trial_id

    @property
    def arch_seq(self) -> tuple[int, ...]:
        return self.config.arch_seq

    @property
    def hyperparameters(self) -> Mapping[str, Any]:
        return self.config.hyperparameters


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
