"""TensorBoard logs of one trial: Keras' scalars and TensorBoard's HParams summary.

A search with ``tensorboard=True`` (``nas-search --tensorboard``) gives each evaluation
the callbacks of :func:`tensorboard_callbacks`, writing to ``DIR/tensorboard/<trial_id>``:
Keras' ``TensorBoard`` callback (``train/`` and ``validation/``: ``epoch_loss``, the
metrics, the learning rate) and, in the trial's folder itself, the HParams summary of
the trial (its hyperparameters and ``arch_seq``) with the scalar ``objective``, the best
value of the problem's objective so far. ``tensorboard --logdir DIR/tensorboard`` then
compares the trials in its HParams view. Needs the ``tensorboard`` package (``pip install
'nas[tensorboard]'``), which TensorFlow 2.21 no longer installs.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nas._imports import import_keras, import_tensorflow

#: The folder of a search's directory that holds the TensorBoard logs, one per trial.
TENSORBOARD_FOLDER = "tensorboard"
#: The scalar of the HParams summary: the best objective of the trial so far.
OBJECTIVE_TAG = "objective"
_MISSING = (
    "TensorBoard logs need the tensorboard package, which TensorFlow 2.21 does not "
    "install: pip install 'nas[tensorboard]' (or pip install tensorboard)"
)


def check_tensorboard() -> None:
    """Raise ImportError, saying how to install it, when ``tensorboard`` is missing.

    Looked up, not imported: importing it imports TensorFlow, whose banners the driver
    would print, for nothing (the driver writes no logs)."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ImportError(_MISSING)


def trial_log_dir(directory: str | Path, trial_id: int) -> Path:
    """Where the TensorBoard logs of trial ``trial_id`` of the search in ``directory`` go."""
    return Path(directory) / TENSORBOARD_FOLDER / str(trial_id)


def tensorboard_callbacks(
    log_dir: str | Path,
    trial_id: int,
    arch_seq: Sequence[int],
    hyperparameters: Mapping[str, Any],
    objective: str,
    direction: str,
) -> list[Any]:
    """Keras' ``TensorBoard`` callback writing to ``log_dir``, and one writing the
    trial's HParams summary and best ``objective`` (``direction``: ``"max"``/``"min"``).

    Raises:
        ImportError: when the ``tensorboard`` package is missing.
    """
    check_tensorboard()
    keras = import_keras()
    log_dir = Path(log_dir)
    return [
        # No graph: a search writes hundreds of trials, and the graph of each is large.
        keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False, profile_batch=0),
        _hparams_summary_class()(
            log_dir, trial_id, arch_seq, hyperparameters, objective, direction
        ),
    ]


def hparams_values(arch_seq: Sequence[int], hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """The values of a trial's HParams summary: bools, numbers and strings only (others,
    and ``arch_seq``, as their text)."""
    values: dict[str, Any] = {}
    for name, value in hyperparameters.items():
        if hasattr(value, "item"):  # a NumPy scalar
            value = value.item()
        values[name] = value if isinstance(value, (bool, int, float, str)) else str(value)
    values["arch_seq"] = str([int(choice) for choice in arch_seq])
    return values


def _hparams_summary_class() -> type:
    keras = import_keras()

    class HParamsSummary(keras.callbacks.Callback):
        """Writes the trial's hyperparameters when training starts and the best value of
        the objective after each epoch, for TensorBoard's HParams view."""

        def __init__(
            self,
            log_dir: Path,
            trial_id: int,
            arch_seq: Sequence[int],
            hyperparameters: Mapping[str, Any],
            objective: str,
            direction: str,
        ) -> None:
            super().__init__()
            self.log_dir = log_dir
            self.trial_id = trial_id
            self.values = hparams_values(arch_seq, hyperparameters)
            self.objective = objective
            self.direction = direction
            self.best: float | None = None
            self._writer: Any = None

        def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
            tf = import_tensorflow()
            from tensorboard.plugins.hparams import api as hp

            self._writer = tf.summary.create_file_writer(str(self.log_dir))
            with self._writer.as_default():
                hp.hparams(self.values, trial_id=str(self.trial_id))
            self._writer.flush()

        def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
            value = (logs or {}).get(self.objective)
            if value is None or not math.isfinite(float(value)) or self._writer is None:
                return
            value = float(value)
            better = max if self.direction == "max" else min
            self.best = value if self.best is None else better(self.best, value)
            tf = import_tensorflow()

            with self._writer.as_default():
                tf.summary.scalar(
                    OBJECTIVE_TAG,
                    self.best,
                    step=epoch,
                    description=f"the best {self.objective} so far ({self.direction})",
                )
            self._writer.flush()

        def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    return HParamsSummary
