"""Data-parallel training of one Keras model on the ranks of one MPI communicator.

One small interface, :class:`DataParallel`, with two implementations: Horovod (when it is
installed) and plain mpi4py. The trainer codes against the interface only, so Horovod,
whose last release is from 2023, stays optional. Importing this package imports neither
TensorFlow, Horovod nor mpi4py: they load when a backend is made.

Example (every rank of ``comm`` runs this):
    >>> from nas.parallel import data_parallel
    >>> with data_parallel(comm) as parallel:      # NAS_DATA_PARALLEL=mpi picks mpi4py
    ...     model.compile(optimizer=parallel.distribute(keras.optimizers.Adam()),
    ...                   loss="mse", jit_compile=False)
    ...     parallel.broadcast_weights(model)
    ...     model.fit(x_shard, y_shard, epochs=5)
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nas.parallel._base import DataParallel

#: The implementations, preferred first.
BACKENDS = ("horovod", "mpi")

#: The environment variable that picks the backend when the caller does not.
ENV_VAR = "NAS_DATA_PARALLEL"

_SETUP_HINT = "run scripts/setup.sh"


def available_backends() -> list[str]:
    """Backends importable here, preferred first: ``["horovod", "mpi"]``, ``["mpi"]`` or ``[]``.

    Both need mpi4py (Horovod is initialised on an mpi4py communicator). This looks for
    the packages without importing them, which would cost seconds and start MPI.
    """
    if importlib.util.find_spec("mpi4py") is None:
        return []
    return ["horovod", "mpi"] if _horovod_built_with_tensorflow() else ["mpi"]


def resolve_backend(
    backend: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    available: Sequence[str] | None = None,
) -> str:
    """The backend :func:`data_parallel` uses, without starting anything.

    Args:
        backend: ``"horovod"``, ``"mpi"``, or ``None`` for the environment variable
            ``NAS_DATA_PARALLEL`` if set (and not empty), else the first available.
        environ: the environment to read (default ``os.environ``).
        available: the importable backends (default :func:`available_backends`).

    Raises:
        ValueError: the name (argument or environment variable) is not a backend.
        ImportError: the chosen backend, or any backend when none was named, is not
            installed; the message says how to install it.
    """
    environ = os.environ if environ is None else environ
    available = available_backends() if available is None else list(available)
    if backend is not None:
        chosen, source = backend, "backend"
    elif environ.get(ENV_VAR, "").strip():
        chosen, source = environ[ENV_VAR].strip(), f"environment variable {ENV_VAR}"
    else:
        if not available:
            raise ImportError(f"data-parallel training needs mpi4py (and MPI): {_SETUP_HINT}")
        return available[0]
    if chosen not in BACKENDS:
        raise ValueError(
            f"unknown data-parallel backend {chosen!r} (from the {source}); "
            f"expected one of {', '.join(map(repr, BACKENDS))}"
        )
    if chosen not in available:
        if chosen == "horovod":
            raise ImportError(
                f"data-parallel backend 'horovod' (from the {source}) is not installed: "
                f"Horovod must be built with TensorFlow and MPI; {_SETUP_HINT}, or use 'mpi'"
            )
        raise ImportError(
            f"data-parallel backend {chosen!r} (from the {source}) needs mpi4py: {_SETUP_HINT}"
        )
    return chosen


def data_parallel(comm: Any, backend: str | None = None) -> DataParallel:
    """A :class:`DataParallel` initialised on the mpi4py communicator ``comm``.

    Every rank of ``comm`` must call it (it is a collective).

    Args:
        comm: an mpi4py communicator: ``MPI.COMM_WORLD`` or a group's own
            communicator (``Create_group``/``Split``).
        backend: ``"horovod"``, ``"mpi"`` or ``None``: the environment variable
            ``NAS_DATA_PARALLEL`` if set, else ``"horovod"`` when it is importable,
            else ``"mpi"``.

    Raises:
        ValueError: an unknown backend name, naming the value and the choices.
        ImportError: the backend asked for is not installed (see scripts/setup.sh).
        RuntimeError: Horovod is already initialised by another open DataParallel.
    """
    chosen = resolve_backend(backend)
    if chosen == "horovod":
        from nas.parallel._horovod import HorovodDataParallel

        return HorovodDataParallel(comm)
    from nas.parallel._mpi import MPIDataParallel

    return MPIDataParallel(comm)


def _horovod_built_with_tensorflow() -> bool:
    """Horovod is installed with its TensorFlow library (not only, say, PyTorch's)."""
    spec = importlib.util.find_spec("horovod")
    if spec is None or not spec.submodule_search_locations:
        return False
    return any(
        any((Path(location) / "tensorflow").glob("mpi_lib*"))
        for location in spec.submodule_search_locations
    )


__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "DataParallel",
    "available_backends",
    "data_parallel",
    "resolve_backend",
]
