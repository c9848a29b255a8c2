"""``nas-search --evaluator mpi`` under mpirun: AgEBO with data-parallel widths 1 and 2.

Real ranks, real Horovod (or the mpi4py fallback), a shipped problem. Every run must
end by itself with exit code 0: a hang would hit the subprocess timeout.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import NAS_SEARCH, nas_search_on_ranks, rank_env

from nas.driver import read_journal

# Real trainings on oversubscribed ranks: minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.mpi, pytest.mark.slow, pytest.mark.timeout(900)]


def finished(out: Path) -> list[dict]:
    events = [json.loads(line) for line in (out / "journal.jsonl").open()]
    return [event["trial"] for event in events if event["event"] == "finish"]


def ranks_of(worker: str) -> set[int]:
    """The world ranks in a worker description: "rank 3", "ranks 1-3", "ranks 1,4"."""
    ranks: set[int] = set()
    for part in worker.split()[1].split(","):
        first, _, last = part.partition("-")
        ranks.update(range(int(first), int(last or first) + 1))
    return ranks


def test_agebo_searches_widths_one_and_two_on_four_ranks(tmp_path):
    out = tmp_path / "run"
    done = nas_search_on_ranks(
        4,
        out,
        "--problem",
        "problems.breast_cancer:parallel_problem",
        "--search",
        "agebo",
        "--max-evals",
        "8",
        "--seed",
        "1",
    )
    assert "8 evaluations (0 failed)" in done.stdout, done.stdout
    trials = finished(out)
    assert len(trials) == 8
    by_width: dict[int, list[dict]] = {}
    for trial in trials:
        by_width.setdefault(trial["result"]["num_ranks"], []).append(trial)
    assert sorted(by_width) == [1, 2], [t["config"]["hyperparameters"] for t in trials]
    for trial in by_width[2]:
        result, hyperparameters = trial["result"], trial["config"]["hyperparameters"]
        # ok means the two ranks ended with bit-identical weights: the trainer compares
        # their digests and fails an evaluation whose replicas diverged.
        assert result["status"] == "ok", result["error"]
        assert trial["worker"].startswith("ranks "), trial["worker"]
        assert result["global_batch_size"] == 2 * hyperparameters["batch_size"]
        assert result["data_parallel"] in {"horovod", "mpi"}
        assert result["samples_per_second"] > 0
    for trial in by_width[1]:
        assert trial["result"]["data_parallel"] is None
        assert trial["worker"].startswith("rank ")
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert sorted({row["num_ranks"] for row in rows}) == ["1", "2"]


def test_a_failing_rank_fails_only_the_evaluations_it_is_part_of(tmp_path):
    out = tmp_path / "run"
    nas_search_on_ranks(
        5,
        out,
        "--problem",
        "flaky_rank_problem:problem",
        "--search",
        "agebo",
        "--max-evals",
        "10",
        "--seed",
        "0",
    )
    trials = finished(out)
    assert len(trials) == 10
    for trial in trials:
        on_broken_rank = 2 in ranks_of(trial["worker"])
        result = trial["result"]
        if on_broken_rank:
            assert result["status"] == "failed", trial
            assert "rank 2 is unreadable" in result["error"]
            assert result["error_stage"] == "data"
        else:
            assert result["status"] == "ok", trial
    assert any(t["result"]["status"] == "ok" for t in trials)
    assert any(t["result"]["status"] == "failed" for t in trials)
    assert {t["result"]["num_ranks"] for t in trials} == {1, 2}


def test_a_killed_mpi_search_resumes_without_losing_or_repeating(mpirun, tmp_path):
    """SIGKILL of the whole job (a lost node, the scheduler's kill), then --resume."""
    out = tmp_path / "run"
    arguments = [
        "--problem",
        "small_parallel_problem:problem",
        "--search",
        "agebo",
        "--max-evals",
        "10",
        "--seed",
        "2",
    ]
    command = [
        shutil.which("mpirun"),
        "--oversubscribe",
        "-np",
        "4",
        NAS_SEARCH,
        "--evaluator",
        "mpi",
        "--out",
        out,
        "--no-progress",
        *arguments,
    ]
    job = subprocess.Popen(
        [str(part) for part in command],
        env=rank_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 300
        while len(read_journal(out).finished) < 3:  # read_journal skips a torn line
            assert job.poll() is None, "the search ended before it could be killed"
            assert time.time() < deadline, "no evaluations finished in time"
            time.sleep(0.2)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)  # mpirun and every rank at once
        job.wait()
    killed = read_journal(out)
    assert 3 <= len(killed.finished) < 10

    done = mpirun(
        4,
        [NAS_SEARCH, "--evaluator", "mpi", "--resume", out, "--no-progress"],
        timeout=600,
    )
    assert "10 evaluations" in done.stdout
    trials = finished(out)
    assert sorted(t["config"]["trial_id"] for t in trials) == list(range(10))
    for before in killed.finished:  # finished evaluations are kept as they were
        again = next(t for t in trials if t["config"]["trial_id"] == before.config.trial_id)
        assert again["result"] == before.result.to_dict()


def test_a_grid_is_spread_over_the_ranks_and_evaluates_every_point_once(tmp_path):
    """Grid search under MPI: 2 architectures x 2 learning rates x 2 schedules on two
    worker ranks; the schedule is one more hyperparameter of the grid."""
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps([[2, 0], [5, 0]]))
    out = tmp_path / "grid"
    done = nas_search_on_ranks(
        3,
        out,
        "--problem",
        "grid_problem:problem",
        "--search",
        "grid",
        "--grid-architectures",
        str(archs),
        "--max-evals",
        "20",
    )
    assert "8 evaluations (0 failed)" in done.stdout
    trials = finished(out)
    points = {
        (
            tuple(t["config"]["arch_seq"]),
            t["config"]["hyperparameters"]["learning_rate"],
            t["config"]["hyperparameters"]["lr_schedule"],
        )
        for t in trials
    }
    assert len(trials) == len(points) == 8
    assert all(t["result"]["status"] == "ok" for t in trials), [t["result"] for t in trials]
    assert len({t["worker"] for t in trials}) == 2  # both worker ranks evaluated points
