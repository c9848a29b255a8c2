"""A full disk: the search stops with one line naming the file and the space left, exit
status 1, and resumes to its budget once space is freed; a model that cannot be saved
leaves no partial file, is not kept, and the search goes on with its result.

The disk is a small tmpfs mounted for the test (we run as root in CI and in the dev
container); where mounting is not allowed the tests are skipped, saying why.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import NAS_SEARCH

from nas import Study
from nas.driver import read_journal
from nas.evaluate import SimulatedEvaluator
from nas.exceptions import NASError
from nas.export import export_best
from nas.problem import load_problem
from nas.train import Stage, Status, train

PROBLEM = "problems.breast_cancer:problem"


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs at ``tmp_path/disk``, unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    with mounted_tmpfs(disk):
        yield disk


@contextlib.contextmanager
def mounted_tmpfs(folder: Path) -> Iterator[None]:
    """A 1 MiB tmpfs on ``folder`` while in the block (skips the test where not allowed)."""
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Write a filler file until about ``leave`` bytes are free on ``disk``."""
    filler = disk / "filler"
    block = b"\0" * 4096
    with filler.open("wb") as file:
        try:
            while os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize > leave:
                file.write(block)
                file.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return filler


def nas_search(*arguments) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NAS_SEARCH, "--no-progress", *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_a_disk_full_mid_search_stops_it_with_one_line_and_it_resumes_once_freed(small_disk):
    out = small_disk / "run"
    filler = fill(small_disk, 48 * 1024)
    stopped = nas_search(*SEARCH, "--out", out)
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    [line] = stopped.stderr.strip().splitlines()
    hint = rf"resume it \(nas-search --resume {re.escape(str(out))}, or if_exists='resume'\)"
    assert re.fullmatch(disk_full_line(out, hint), line), line
    assert not list(out.glob(".*.tmp"))  # no half-written temporary file holds space
    filler.unlink()
    resumed = nas_search("--resume", out)
    assert resumed.returncode == 0, resumed.stderr
    journal = read_journal(out)
    ids = [trial.config.trial_id for trial in journal.finished]
    assert sorted(ids) == list(range(60)) and not journal.num_duplicates


def test_a_disk_full_before_anything_is_recorded_says_to_start_again(small_disk):
    out = small_disk / "run"
    filler = fill(small_disk, 0)
    stopped = nas_search(*SEARCH, "--out", out)
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    [line] = stopped.stderr.strip().splitlines()
    assert re.fullmatch(disk_full_line(out, "start the search again"), line), line
    filler.unlink()
    assert nas_search(*SEARCH, "--out", out).returncode == 0
    assert len(read_journal(out).finished) == 60


#: A search on simulated ranks: no training, so it runs in seconds.
SEARCH = ["--problem", PROBLEM, "--search", "random", "--seed", "2", "--workers", "2"]
SEARCH += ["--evaluator", "simulated", "--keep-models", "0", "--max-evals", "60"]


def disk_full_line(out: Path, hint: str) -> str:
    """The pattern of the one line a full disk prints, naming one of the search's files."""
    name = r"(search\.lock|settings\.json|journal\.jsonl|results\.csv)"
    return (
        rf"nas-search: error: DiskFullError: cannot write {re.escape(str(out))}/{name}: the "
        rf"disk is full \(\d+ B free of 1\.0 MiB(; \S+ \S+ to write)?\); free some space, "
        rf"then {hint}"
    )


def test_a_partial_model_left_by_a_killed_worker_is_deleted_when_a_session_starts(tmp_path):
    problem = load_problem(PROBLEM)
    models = tmp_path / "models"
    models.mkdir()
    (models / ".trial_3.partial.keras").write_bytes(b"PK\3\4 cut short")
    Study(
        problem, tmp_path, "random", 2, progress=False,
        evaluator=SimulatedEvaluator.for_problem(problem, 2),
    ).run()  # fmt: skip
    assert not list(models.glob(".*"))


@pytest.mark.slow
def test_a_model_that_cannot_be_saved_leaves_no_partial_file_and_keeps_its_result(
    small_disk, caplog
):
    problem = load_problem(PROBLEM)
    arch_seq = [0] * len(problem.build_space().choices)
    fill(small_disk, 0)
    path = small_disk / "models" / "trial_0.keras"
    result = train(problem, arch_seq, epochs=1, seed=0, model_path=path)
    # Its objective was measured: the result stands, the model is missing, and says why.
    assert result.ok and result.objective is not None
    assert f"could not save the trained model to {path}: DiskFullError: " in caplog.text
    assert "the disk is full" in caplog.text
    assert not path.parent.exists() or not list(path.parent.iterdir())
    # A checkpoint that cannot be saved fails the segment: nothing could continue it.
    checkpoint = small_disk / "checkpoints" / "trial_0.keras"
    result = train(problem, arch_seq, epochs=1, seed=0, checkpoint_path=checkpoint)
    assert result.status is Status.FAILED and result.error_stage is Stage.SAVE
    assert result.objective is None and result.learning_curve  # it trained
    assert f"could not save the trained model to {checkpoint}: DiskFullError: " in result.error
    assert not checkpoint.parent.exists() or not list(checkpoint.parent.iterdir())


@pytest.mark.slow
def test_models_that_cannot_be_saved_are_not_kept_and_the_search_goes_on(tmp_path):
    problem = load_problem(PROBLEM)
    models = tmp_path / "run" / "models"
    models.mkdir(parents=True)
    with mounted_tmpfs(models):  # only the models' disk is full
        fill(models, 0)
        results = Study(
            problem, tmp_path / "run", "random", 2, evaluator="serial", seed=0,
            keep_models=2, progress=False,
        ).run()  # fmt: skip
        assert sorted(trial.config.trial_id for trial in results.trials) == [0, 1]
        assert all(trial.result.ok for trial in results.trials)
        assert [path.name for path in models.iterdir()] == ["filler"]  # no partial file
    with pytest.raises(NASError, match="was not kept .* only those it could save"):
        export_best(tmp_path / "run", top=1)
