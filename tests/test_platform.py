"""The platform scripts/setup.sh sets up: mpi4py, mpirun and Horovod on sub-communicators.

These start real ranks with ``mpirun --oversubscribe`` (more ranks than cores is
fine). The rank scripts are in ``tests/mpi_scripts/``; each rank writes what it
saw to a JSON file, because mpirun may interleave the ranks' stdout within a
line.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import rank_env, run_ranks

MPI_SCRIPTS = Path(__file__).parent / "mpi_scripts"
MPIRUN = shutil.which("mpirun")

needs_mpirun = pytest.mark.skipif(
    MPIRUN is None, reason="no mpirun on PATH (run scripts/setup.sh)"
)


def mpirun(script: str, ranks: int, out_dir: Path, timeout: float) -> None:
    """Run ``tests/mpi_scripts/<script> <out_dir>`` on ``ranks`` ranks; fail on error."""
    run_ranks(ranks, [sys.executable, MPI_SCRIPTS / script, out_dir], timeout=timeout)


def records(out_dir: Path, stage: str) -> dict[int, dict]:
    """The JSON records the ranks wrote for ``stage``, by world rank."""
    found = [json.loads(p.read_text()) for p in sorted(out_dir.glob(f"{stage}-*.json"))]
    return {r.get("world_rank", r.get("rank")): r for r in found}


def test_mpi4py_imports() -> None:
    import mpi4py

    assert int(mpi4py.__version__.split(".")[0]) >= 4, mpi4py.__version__
    # Loading the MPI library (and initialising a one-rank world, as a script
    # started without mpirun does) happens in a child: MPI_Init inside the
    # pytest process would outlive this test.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from mpi4py import MPI; print(MPI.COMM_WORLD.Get_size(), MPI.Get_library_version())",
        ],
        env=rank_env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "1", done.stdout


@pytest.mark.mpi
@needs_mpirun
def test_mpirun_two_ranks_allreduce(tmp_path: Path) -> None:
    mpirun("mpi_allreduce.py", ranks=2, out_dir=tmp_path, timeout=120)
    ranks = records(tmp_path, "allreduce")
    assert sorted(ranks) == [0, 1], ranks
    assert all(r["size"] == 2 and r["sum"] == 1 for r in ranks.values()), ranks
    # mpi4py's wheel loads whichever libmpi it finds: it must be the MPI that
    # mpirun belongs to, or the ranks would not share one world.
    version = subprocess.run(
        [MPIRUN, "--version"], capture_output=True, text=True, env=rank_env(), check=False
    ).stdout
    if "Open MPI" in version:
        assert all("Open MPI" in r["library"] for r in ranks.values()), ranks


def horovod_opted_out() -> bool:
    """Horovod is part of the set-up unless the user set NAS_SKIP_HOROVOD=1."""
    return os.environ.get("NAS_SKIP_HOROVOD") == "1"


@pytest.mark.mpi
@pytest.mark.horovod
@needs_mpirun
@pytest.mark.skipif(
    horovod_opted_out() and importlib.util.find_spec("horovod") is None,
    reason="NAS_SKIP_HOROVOD=1 and Horovod is not installed",
)
def test_horovod_reinitialises_on_subgroup_then_world(tmp_path: Path) -> None:
    # Without the opt-out a missing Horovod is a broken set-up, not a skip.
    assert importlib.util.find_spec("horovod") is not None, (
        "Horovod is not installed: run scripts/setup.sh (or set NAS_SKIP_HOROVOD=1)"
    )
    mpirun("horovod_subgroups.py", ranks=3, out_dir=tmp_path, timeout=240)

    sub = records(tmp_path, "sub")
    assert sorted(sub) == [1, 2], sub
    for world_rank, r in sub.items():
        assert r["size"] == 2 and r["rank"] == world_rank - 1, sub
        assert r["mean"] == pytest.approx(1.5), sub

    world = records(tmp_path, "world")
    assert sorted(world) == [0, 1, 2], world
    for world_rank, r in world.items():
        assert r["size"] == 3 and r["rank"] == world_rank, world
        assert r["mean"] == pytest.approx(1.0), world
