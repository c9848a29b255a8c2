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

from nas.parallel._mpi import MPIDataParallel

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


class HorovodDataParallel(MPIDataParallel):
    """:class:`DataParallel` on Horovod, initialised on an mpi4py communicator.

    Gradients are averaged inside the train step with ``grouped_allreduce``, which
    Horovod fuses into one buffer (and runs on NCCL where built with it). The eager
    collectives outside the step (weight broadcast, metric sums, the stop vote taken
    after every batch) go through mpi4py on a duplicate of the communicator, as in
    :class:`MPIDataParallel`: an eager Horovod op waits for Horovod's background cycle,
    measured at 1.6 ms per call on 2 idle CPU ranks and 12 ms under load, against 0.05
    to 0.2 ms for an MPI ``Allreduce`` (``scripts/bench_collectives.py``), more than a
    small model's training step.
    Horovod's own thread and these calls use separate communicators (mpi4py initialises
    MPI with ``MPI_THREAD_MULTIPLE``).
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
        super().__init__(comm)

    def _average_in_step(self, tensors: list[Any]) -> list[Any]:
        return list(self._hvd.grouped_allreduce(tensors, op=self._hvd.Average))

    def _shutdown(self) -> None:
        super()._shutdown()
        self._hvd.shutdown()
