"""The MPI evaluator on real ranks: ``mpirun --oversubscribe`` with a sleeping function.

Each test runs ``tests/mpi_scripts/mpi_evaluator_run.py`` (an MPIEvaluator on rank 0,
``serve()`` on the others); rank 0 writes what it saw to JSON, read back here. The job
must end by itself with exit code 0 well within the subprocess timeout: a hang fails.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).parent.parent / "mpi_scripts" / "mpi_evaluator_run.py"
# Seconds for a whole mpirun: each takes a few, but one took 60 on a loaded machine.
TIMEOUT = 240

pytestmark = pytest.mark.mpi


def run(mpirun: Callable[..., Any], ranks: int, scenario: str, out_dir: Path) -> dict:
    mpirun(ranks, [sys.executable, SCRIPT, out_dir, scenario], timeout=TIMEOUT)
    return json.loads((out_dir / f"{scenario}.json").read_text())


def ranks_of(worker: str) -> list[int]:
    """The ranks named by a trial's worker: "rank 3", "ranks 3-4", "ranks 1-2,5"."""
    kind, _, names = worker.partition(" ")
    assert kind in {"rank", "ranks"}, worker
    ranks = []
    for part in names.split(","):
        first, _, last = part.partition("-")
        ranks.extend(range(int(first), int(last or first) + 1))
    return ranks


def by_id(trials: list[dict]) -> dict[int, dict]:
    ids = [trial["config"]["trial_id"] for trial in trials]
    assert len(ids) == len(set(ids)), f"a trial came back twice: {sorted(ids)}"
    return {trial["config"]["trial_id"]: trial for trial in trials}


@pytest.mark.parametrize("num_ranks", [4, 5])
def test_mixed_widths_run_on_disjoint_groups_at_the_same_time(
    mpirun: Callable[..., Any], tmp_path: Path, num_ranks: int
) -> None:
    data = run(mpirun, num_ranks, "mixed", tmp_path)
    workers = num_ranks - 1
    assert data["num_workers"] == workers
    assert data["max_width"] == {3: 2, 4: 4}[workers]
    assert f"num_ranks={2 * data['max_width']}" in data["refused"]
    assert f"{workers} worker ranks" in data["refused"]

    trials = by_id(data["trials"])
    assert set(trials) == set(range(14)) | {100, 101, 102}
    for trial_id, trial in trials.items():
        result, width = trial["result"], trial["config"]["hyperparameters"]["num_ranks"]
        ranks = ranks_of(trial["worker"])
        assert len(ranks) == width and len(set(ranks)) == width, trial["worker"]
        assert set(ranks) <= set(range(1, workers + 1)), trial["worker"]
        if trial_id >= 100:
            assert result["status"] == "failed", result
            assert result["error_stage"] == "setup"
            assert "RuntimeError: asked to fail on rank" in result["error"]
            continue
        assert result["status"] == "ok", result
        curve = result["learning_curve"]
        assert curve["group_ranks"] == ranks  # the group's allgather over its communicator
        assert curve["group_size"] == [width]
        assert result["objective"] == ranks[0]  # the group's first rank reports
        assert curve["local_ranks"] == [rank - 1 for rank in ranks]  # one node: NAS_LOCAL_RANK
        assert curve["got_models_directory"] == [1] + [0] * (width - 1)
        assert curve["timeout"] == [-1]

    # Groups that ran at the same time never shared a rank ...
    done = [t for t in trials.values() if t["result"]["status"] == "ok"]
    for index, one in enumerate(done):
        for other in done[index + 1 :]:
            if overlap(one, other) > 0:
                assert not set(ranks_of(one["worker"])) & set(ranks_of(other["worker"]))
    # ... and groups did run concurrently: the first config (width 2) with the next
    # one (width 2 when there are 4 workers, else the first config of width 1).
    partner = trials[1] if workers >= 4 else trials[2]
    assert overlap(trials[0], partner) > 0
    # Asynchronous, no barrier: run one after another, the evaluations would span at
    # least the sum of their durations (both from the workers' clocks, in this run, so
    # a slow or loaded machine stretches both alike).
    span = max(t["result"]["finished_at"] for t in done)
    span -= min(t["result"]["started_at"] for t in done)
    assert span < sum(t["result"]["finished_at"] - t["result"]["started_at"] for t in done)


def overlap(one: dict, other: dict) -> float:
    """Seconds during which both trials' evaluations ran."""
    start = max(one["result"]["started_at"], other["result"]["started_at"])
    end = min(one["result"]["finished_at"], other["result"]["finished_at"])
    return end - start


def test_an_overrun_is_recorded_and_its_ranks_return_once_they_answer(
    mpirun: Callable[..., Any], tmp_path: Path
) -> None:
    data = run(mpirun, 4, "overrun", tmp_path)
    trials = by_id(data["trials"])  # the late result of trial 0 was dropped, not doubled
    assert set(trials) == set(range(8))
    lost = trials[0]
    assert lost["worker"] == "ranks 1-2"
    assert lost["result"]["status"] == "timeout"
    assert "no answer from ranks 1-2 within 1.5 s" in lost["result"]["error"]
    for trial_id in range(1, 8):  # meanwhile the other rank went on
        assert trials[trial_id]["result"]["status"] == "ok"
        assert trials[trial_id]["worker"] == "rank 3"
        assert trials[trial_id]["result"]["learning_curve"]["timeout"] == [1.0]
    # While they were silent, a config needing 2 ranks could not run on the one left:
    # then only rank 3 could take work (the state, not the seconds the first phase took).
    assert data["num_free_after_first_phase"][0] == 1, "ranks 1-2 answered before the refusal"
    [unplaced] = data["unplaced"]
    assert unplaced["worker"] == "not placed"
    assert unplaced["result"]["status"] == "failed"
    assert "only 1 of the 3 worker ranks" in unplaced["result"]["error"]
    # Once ranks 1 and 2 answered they were back in the pool: one config per worker.
    assert data["num_free_after_first_phase"][-1] == 3
    after = by_id(data["after"])
    assert sorted(ranks_of(trial["worker"])[0] for trial in after.values()) == [1, 2, 3]
    assert all(trial["result"]["status"] == "ok" for trial in after.values())


def test_the_job_ends_when_the_driver_raises_during_evaluations(
    mpirun: Callable[..., Any], tmp_path: Path
) -> None:
    data = run(mpirun, 4, "driver_raises", tmp_path)  # exit code 0, no hang
    assert data["error"] == "the search failed"
    # close() waited for the running evaluations (MPI cannot stop them) and took in
    # their large results, whose senders would otherwise block for ever.
    assert 0.9 < data["closed_after"] < TIMEOUT / 2


def test_a_function_workers_cannot_import_is_refused_and_the_job_ends(
    mpirun: Callable[..., Any], tmp_path: Path
) -> None:
    data = run(mpirun, 3, "bad_function", tmp_path)  # exit code 0: the workers stopped
    assert "cannot be sent to the worker ranks" in data["error"]
    assert "module-level function" in data["error"]


def test_one_rank_is_refused_with_a_clear_message(
    mpirun: Callable[..., Any], tmp_path: Path
) -> None:
    data = run(mpirun, 1, "too_few", tmp_path)
    assert "needs at least 2 ranks" in data["error"]
    assert "mpirun -np N" in data["error"]
