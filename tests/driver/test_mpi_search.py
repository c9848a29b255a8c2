"""``nas-search --evaluator mpi`` under mpirun: AgEBO with data-parallel widths 1 and 2.

Real ranks, real Horovod (or the mpi4py fallback), a shipped problem. Every run must
end by itself with exit code 0: a hang would hit the subprocess timeout.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.mpi, pytest.mark.slow]

NAS_SEARCH = Path(sys.executable).parent / "nas-search"
MPI_SCRIPTS = Path(__file__).resolve().parent.parent / "mpi_scripts"


def nas_search(mpirun, ranks: int, out: Path, *arguments: str, env=None):
    return mpirun(
        ranks,
        [NAS_SEARCH, "--evaluator", "mpi", "--out", out, "--no-progress", *arguments],
        timeout=600,
        env=env,
    )


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


def test_agebo_searches_widths_one_and_two_on_four_ranks(mpirun, tmp_path):
    out = tmp_path / "run"
    done = nas_search(
        mpirun,
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


def test_a_failing_rank_fails_only_the_evaluations_it_is_part_of(mpirun, tmp_path):
    out = tmp_path / "run"
    python_path = os.pathsep.join([str(MPI_SCRIPTS), os.environ.get("PYTHONPATH", "")])
    nas_search(
        mpirun,
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
        env={"PYTHONPATH": python_path},
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
