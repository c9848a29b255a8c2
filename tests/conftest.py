"""Shared test set-up: quiet TensorFlow, and skip hardware-bound markers where absent."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _skip_reason(marker: str) -> str | None:
    if marker == "mpi" and (
        shutil.which("mpirun") is None or not importlib.util.find_spec("mpi4py")
    ):
        return "needs mpirun and mpi4py (run scripts/setup.sh)"
    if marker == "horovod" and not importlib.util.find_spec("horovod"):
        return "needs Horovod built with TensorFlow and MPI (run scripts/setup.sh)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker in ("mpi", "horovod"):
            reason = _skip_reason(marker) if marker in item.keywords else None
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
