"""Shared test set-up: quiet TensorFlow, and skip hardware-bound markers where absent."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Rank scripts and small problems that tests run under mpirun: on the ranks' path.
MPI_SCRIPTS = ROOT / "tests" / "mpi_scripts"
#: The installed ``nas-search``, beside this interpreter.
NAS_SEARCH = Path(sys.executable).parent / "nas-search"

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


def rank_env() -> dict[str, str]:
    """The environment for mpirun: as in scripts/env.sh, with this python's bin first."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Rank scripts import the project's packages from the checkout, and the problems
    # of tests/mpi_scripts by name.
    paths = [str(ROOT), str(MPI_SCRIPTS), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    if os.geteuid() == 0:
        # Open MPI refuses to start ranks as root without both of these.
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def run_ranks(
    ranks: int,
    command: Sequence[str | Path],
    *,
    timeout: float,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``mpirun --oversubscribe -np RANKS COMMAND...``; with ``check``, fail on error.

    ``command`` usually starts with ``sys.executable``. The output is captured and
    shown in full when the run fails, since a failing rank's traceback is in it.
    """
    mpirun = shutil.which("mpirun")
    assert mpirun is not None, "no mpirun on PATH (run scripts/setup.sh)"
    full = [mpirun, "--oversubscribe", "-np", str(ranks), *map(str, command)]
    done = subprocess.run(
        full,
        env={**rank_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if check:
        assert done.returncode == 0, (
            f"{' '.join(full)} exited with {done.returncode}\n"
            f"--- stdout ---\n{done.stdout[-20000:]}\n--- stderr ---\n{done.stderr[-20000:]}"
        )
    return done


def nas_search_on_ranks(
    ranks: int,
    out: Path,
    *arguments: str | Path,
    timeout: float = 600,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``mpirun -np RANKS nas-search --evaluator mpi --out OUT --no-progress ARGUMENTS``,
    which must succeed (see :func:`run_ranks`)."""
    command = [NAS_SEARCH, "--evaluator", "mpi", "--out", out, "--no-progress", *arguments]
    return run_ranks(ranks, command, timeout=timeout, env=env)


@pytest.fixture
def mpirun() -> Callable[..., subprocess.CompletedProcess[str]]:
    """:func:`run_ranks`, for tests that start real MPI ranks (mark them ``mpi``)."""
    return run_ranks
