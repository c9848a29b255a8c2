"""Data-parallel training with Horovod's TensorFlow operations.

Only ``horovod.tensorflow`` is used: ``horovod.tensorflow.keras`` targets Keras 2 and does
not fit Keras 3 optimizers. Horovod keeps one global state per process, so one
:class:`HorovodDataParallel` may be open at a time; after ``shutdown`` another can be
initialised on a different communicator (measured with Horovod 0.28.1 on sub-communicators
made by ``Create_group``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from nas.parallel._base import DataParallel

INSTALL_HINT = (
    "Horovod built with TensorFlow and MPI is needed for the 'horovod' data-parallel "
    "backend: run scripts/setup.sh (or choose the 'mpi' backend)"
)


def import_horovod() -> ModuleType:
    """``horovod.tensorflow``, or an ImportError that says how to install it."""
    try:
        import horovod.tensorflow as hvd
    except ImportError as error:
        raise ImportError(f"{INSTALL_HINT}: {error}") from error
    return hvd


class HorovodDataParallel(DataParallel):
    """:class:`DataParallel` on Horovod, initialised on an mpi4py communicator.

    Gradients are averaged with ``grouped_allreduce``, which Horovod fuses into one
    buffer. Eager collectives (broadcast, sums) are named after what they do; an eager
    Horovod op blocks until done, so names never clash between calls.
    """

    name = "horovod"

    def __init__(self, comm: Any) -> None:
        hvd = import_horovod()
        if hvd.is_initialized():
            raise RuntimeError(
                "Horovod is already initialised in this process (one group at a time): "
                "shut the other DataParallel down first"
            )
        hvd.init(comm=comm)
        self._hvd = hvd
        super().__init__(rank=hvd.rank(), size=hvd.size())

    def _average_in_step(self, tensors: list[Any]) -> list[Any]:
        return list(self._hvd.grouped_allreduce(tensors, op=self._hvd.Average))

    def _broadcast_array(self, array: np.ndarray, root: int) -> np.ndarray:
        import tensorflow as tf

        result = self._hvd.broadcast(
            tf.constant(array), root_rank=root, name=f"nas_broadcast_{array.dtype.name}"
        )
        return result.numpy()

    def _sum_array(self, array: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        result = self._hvd.allreduce(
            tf.constant(array), op=self._hvd.Sum, name=f"nas_sum_{array.dtype.name}"
        )
        return result.numpy()

    def _shutdown(self) -> None:
        self._hvd.shutdown()
