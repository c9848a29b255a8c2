"""Models kept in memory after a segment, so that the next segment continues them warm.

Schedulers that train a configuration in segments (ASHA, successive halving, LCM, PBT)
save a checkpoint after each and continue it later. Continuing from the file means
loading the model, compiling it and tracing its training and validation steps again:
seconds of fixed cost per segment. A worker that keeps the model it trained, with its
optimizer's state and traced functions, continues it without any of that when the next
segment of that configuration comes back to it.

A kept model stands for its checkpoint file: it is only continued while that file is
still the one its segment saved (same size, modification time and inode), so a
checkpoint rewritten or deleted since (a resumed search, the driver releasing it) is
never continued from memory. The checkpoint is still written: resume, moves between
workers and other widths continue from it.
"""

from __future__ import annotations

import math
import os
import random
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nas._imports import import_keras


@dataclass(frozen=True)
class _Kept:
    model: Any
    arch_seq: tuple[Any, ...]
    file: tuple[int, int, int]
    nbytes: int


class WarmModels:
    """The models one worker keeps in memory, by the checkpoint each stands for.

    Bounded by ``memory`` bytes (each model counted as :meth:`cost` says): keeping a
    model evicts the least recently kept ones until the rest fit. A model is continued
    at most once (:meth:`take` removes it): after that it is no longer what its
    checkpoint holds.

    Args:
        memory: bytes models may take; 0 keeps none (every segment loads its checkpoint).
    """

    #: Memory a kept model costs beyond its variables (Keras layer objects, traced
    #: graphs), measured on this project's spaces (docs/benchmarks.md, "Warm
    #: continuation").
    OVERHEAD_PER_MODEL = 24 * 2**20

    def __init__(self, memory: int = 0) -> None:
        self.memory = checked_memory(memory)
        self._kept: OrderedDict[str, _Kept] = OrderedDict()

    def keep(self, checkpoint: str | Path, model: Any, arch_seq: Sequence[Any]) -> None:
        """Keep ``model``, just saved to ``checkpoint``, to continue it later."""
        key = checkpoint_key(checkpoint)
        self._kept.pop(key, None)
        file = _file_identity(key)
        nbytes = self.cost(model)
        if file is None or nbytes > self.memory:
            return
        self._forget_gone()
        self._kept[key] = _Kept(model, tuple(arch_seq), file, nbytes)
        while self.nbytes > self.memory:
            self._kept.popitem(last=False)

    @classmethod
    def cost(cls, model: Any) -> int:
        """The bytes ``model`` is counted for: its variables and its optimizer's, plus
        :attr:`OVERHEAD_PER_MODEL`."""
        variables = list(model.variables)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            variables += list(optimizer.variables)
        size = sum(
            math.prod(int(dimension) for dimension in variable.shape) * _itemsize(variable.dtype)
            for variable in variables
        )
        return size + cls.OVERHEAD_PER_MODEL

    def take(self, checkpoint: str | Path, arch_seq: Sequence[Any]) -> Any | None:
        """The model kept for ``checkpoint`` (removed from the store), or None when there
        is none, or its file changed since it was kept, or it is another architecture."""
        kept = self._kept.pop(checkpoint_key(checkpoint), None)
        if kept is None or kept.arch_seq != tuple(arch_seq):
            return None
        return kept.model if _file_identity(checkpoint_key(checkpoint)) == kept.file else None

    def holding(self) -> list[str]:
        """The checkpoints whose models are kept (those whose file is unchanged)."""
        self._forget_gone()
        return list(self._kept)

    def clear(self) -> None:
        """Forget every kept model."""
        self._kept.clear()

    @property
    def nbytes(self) -> int:
        """Memory the kept models are counted for."""
        return sum(kept.nbytes for kept in self._kept.values())

    def __len__(self) -> int:
        return len(self._kept)

    def _forget_gone(self) -> None:
        """Forget the models whose checkpoint was deleted or rewritten: nothing will
        continue them from memory (the driver deletes checkpoints it no longer needs)."""
        for key in [key for key, kept in self._kept.items() if _file_identity(key) != kept.file]:
            del self._kept[key]


def checked_memory(memory: Any) -> int:
    """``memory`` as a number of bytes, or a ValueError naming it."""
    if isinstance(memory, bool) or not isinstance(memory, int) or memory < 0:
        raise ValueError(f"warm_memory must be a non-negative int of bytes, got {memory!r}")
    return memory


def _itemsize(dtype: Any) -> int:
    import numpy as np

    try:
        return np.dtype(str(dtype)).itemsize
    except TypeError:  # a dtype NumPy does not name (bfloat16): counted as four bytes
        return 4


def checkpoint_key(checkpoint: str | Path) -> str:
    """How a checkpoint is named among kept models (and by workers telling what they
    hold): its absolute path."""
    return os.path.abspath(os.fspath(checkpoint))


def _file_identity(path: str) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_size, status.st_mtime_ns, status.st_ino)


def reseed_keeping_compiled_functions(seed: int) -> None:
    """Seed as ``keras.utils.set_random_seed(seed)`` does, for a model kept warm.

    ``tf.random.set_seed`` also clears TensorFlow's kernel cache, which holds the
    instantiated training and validation functions of the models in memory: the warm
    segment's first batch would then instantiate them again (0.2–0.5 s on a CPU, most of
    what warm continuation still paid). What the segment needs of the seed is what
    ``fit`` draws from: Python's and NumPy's generators, the global seed and the
    operation seeds drawn from it for the ``tf.data`` shuffling ``fit`` builds, and
    Keras' generator for unseeded ``keras.random`` calls, all set here as
    ``set_random_seed`` sets them. What a cleared cache would also reset, the state of
    stateful TensorFlow random kernels already run eagerly, no Keras layer uses.

    TensorFlow and Keras offer no public way to do this, so it sets their attributes;
    where a version lacks them, it falls back to ``keras.utils.set_random_seed``.
    """
    keras = import_keras()
    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils import rng_utils
        from tensorflow.python.eager import context as tf_context

        keras_seed = rng_utils.GLOBAL_RANDOM_SEED
        keras_generator = seed_generator.GLOBAL_SEED_GENERATOR
        eager = tf_context.context()
        if not (hasattr(eager, "_seed") and hasattr(eager, "_rng")):
            raise AttributeError("the eager context keeps its seed elsewhere")
    except (ImportError, AttributeError):
        keras.utils.set_random_seed(seed)
        return
    global_state.set_global_attribute(keras_seed, seed)
    global_state.set_global_attribute(keras_generator, None)  # made again from the seed
    random.seed(seed)
    np.random.seed(seed)
    eager._seed = seed
    eager._rng = random.Random(seed)
