"""Data-parallel training with plain mpi4py collectives: no Horovod needed.

Inside the compiled train step the gradients reach MPI through ``tf.numpy_function``:
they are packed into one buffer per dtype, summed with one ``Allreduce`` and divided by
the group's size. Measured here (TensorFlow 2.21, Keras 3, mpi4py 4.1): about the step
time of Horovod for small models, and weights stay bit-identical across ranks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nas.parallel._base import DataParallel, _fused

# MPI has no 16-bit float type; such gradients travel as float32.
_WIDENED = ("float16", "bfloat16")


class MPIDataParallel(DataParallel):
    """:class:`DataParallel` on an mpi4py communicator.

    The communicator is duplicated, so these collectives never match messages the
    caller sends on ``comm`` itself; the duplicate is freed by :meth:`shutdown`.
    """

    name = "mpi"

    def __init__(self, comm: Any) -> None:
        from mpi4py import MPI

        self._sum_op = MPI.SUM
        self._comm = comm.Dup()
        super().__init__(rank=self._comm.Get_rank(), size=self._comm.Get_size())

    def _average_in_step(self, tensors: list[Any]) -> list[Any]:
        import tensorflow as tf

        wide = [tf.cast(t, tf.float32) if t.dtype.name in _WIDENED else t for t in tensors]
        averaged = tf.numpy_function(
            self._average_arrays,
            wide,
            Tout=[t.dtype for t in wide],
            stateful=True,  # a collective: never pruned, merged or reordered away
            name="nas_mpi_average",
        )
        results = []
        for original, value in zip(tensors, averaged):
            value.set_shape(original.shape)  # numpy_function forgets static shapes
            if value.dtype != original.dtype:
                value = tf.cast(value, original.dtype)
            results.append(value)
        return results

    def _average_arrays(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Runs in TensorFlow's thread during the step: the numpy side of the average."""
        averaged = _fused(arrays, self._sum_array)
        # In-place division keeps each dtype (float32 stays float32).
        for array in averaged:
            array /= self.size
        return averaged

    def _broadcast_array(self, array: np.ndarray, root: int) -> np.ndarray:
        buffer = np.array(array, copy=True, order="C")
        self._comm.Bcast(buffer, root=root)
        return buffer

    def _sum_array(self, array: np.ndarray) -> np.ndarray:
        result = np.empty_like(array, order="C")
        self._comm.Allreduce(np.ascontiguousarray(array), result, op=self._sum_op)
        return result

    def _shutdown(self) -> None:
        self._comm.Free()
