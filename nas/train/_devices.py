"""Give each training rank of a node its own GPU.

Cluster jobs start one rank per GPU. The MPI evaluator's workers export their index
among the node's worker ranks as ``NAS_LOCAL_RANK``; a rank then sees only GPU
``NAS_LOCAL_RANK mod (GPUs on the node)``, with memory growth on, so that ranks sharing
a node do not all allocate the first GPU. Without GPUs, or outside the MPI evaluator,
nothing changes.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from typing import Any

from nas._imports import import_tensorflow

logger = logging.getLogger("nas.train")

LOCAL_RANK_VARIABLE = "NAS_LOCAL_RANK"


def gpu_for_rank(local_rank: int, num_gpus: int) -> int | None:
    """The GPU index a node-local rank uses, None when the node has no GPU."""
    if local_rank < 0:
        raise ValueError(f"a node-local rank must be >= 0, got {local_rank}")
    return None if num_gpus == 0 else local_rank % num_gpus


@functools.lru_cache(maxsize=1)
def bind_local_gpu() -> int | None:
    """Make only this rank's GPU visible to TensorFlow (once per process); return its index.

    Must run before TensorFlow creates its devices (before the first model is built).
    """
    value = os.environ.get(LOCAL_RANK_VARIABLE)
    if value is None:
        return None
    tf = import_tensorflow()  # often the first import of an MPI rank: quiet it
    gpus = tf.config.list_physical_devices("GPU")
    index = gpu_for_rank(int(value), len(gpus))
    if index is not None:
        _use_only(tf, gpus, index)
        logger.info("local rank %s uses GPU %d of %d", value, index, len(gpus))
    return index


def _use_only(tf: Any, gpus: Sequence[Any], index: int) -> None:
    tf.config.set_visible_devices(gpus[index], "GPU")
    tf.config.experimental.set_memory_growth(gpus[index], True)
