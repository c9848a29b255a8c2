"""A search of accuracy against size (issue 19): ``nas-search`` of the shipped
``breast_cancer:compact_problem`` on the process pool and under mpirun. Every row has
both objectives, and the ``pareto`` marks (results.csv, ``load_results``, the kept
models, the console) are the front recomputed here from the rows by hand."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest
from conftest import NAS_SEARCH, nas_search_on_ranks, user_environment

import nas

PROBLEM = "problems.breast_cancer:compact_problem"


def front_by_hand(rows: list[dict]) -> set[int]:
    """Trial ids of the ok rows that no other ok row dominates: accuracy at least as
    high and parameters at most as many, one of them strictly."""
    points = {
        int(row["trial_id"]): (float(row["val_accuracy"]), float(row["num_parameters"]))
        for row in rows
        if row["status"] == "ok"
    }

    def dominates(a, b):
        return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])

    return {i for i, p in points.items() if not any(dominates(q, p) for q in points.values())}


def check_the_front(out: Path, num_trials: int) -> set[int]:
    with (out / "results.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == num_trials
    for row in rows:
        assert row["status"] == "ok", row["error"]
        assert 0 < float(row["val_accuracy"]) <= 1
        assert int(row["num_parameters"]) > 0
        assert row["violated"] == "" and float(row["violation"]) == 0
    front = front_by_hand(rows)
    assert front and {int(r["trial_id"]) for r in rows if r["pareto"] == "True"} == front
    results = nas.load_results(out)
    assert results.objectives == {"val_accuracy": "max", "num_parameters": "min"}
    assert {trial.trial_id for trial in results.pareto_front} == front
    assert all(set(trial.objectives) == set(results.objectives) for trial in results.trials)
    frame = results.to_dataframe()
    assert set(frame.loc[frame["pareto"], "trial_id"]) == front
    assert frame["val_accuracy"].notna().all()
    # The models kept are the front's: nas-export --pareto exports them.
    kept = {int(path.stem.split("_")[1]) for path in (out / "models").glob("trial_*.keras")}
    assert kept == front
    return front


@pytest.mark.slow
def test_a_search_of_accuracy_against_size_on_the_process_pool(tmp_path):
    out = tmp_path / "compact"
    done = subprocess.run(
        [NAS_SEARCH, "--problem", PROBLEM, "--out", str(out), "--search", "regevo"]
        + ["--max-evals", "6", "--evaluator", "process", "--workers", "2", "--seed", "3"]
        + ["--no-progress"],
        cwd=tmp_path,
        env=user_environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    front = check_the_front(out, 6)
    lines = done.stdout.splitlines()
    start = lines.index(
        f"Pareto front: {len(front)} trial(s) by val_accuracy (max), num_parameters (min)"
    )
    shown = {int(line.split()[0]) for line in lines[start + 2 : start + 2 + len(front)]}
    assert shown == front, done.stdout
    assert f"nas-export {out} --pareto" in done.stdout

    status = subprocess.run(
        [NAS_SEARCH.parent / "nas-status", str(out)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    at = next(i for i, line in enumerate(status) if line.startswith("front"))
    assert status[at].split()[1:3] == [str(len(front)), "trial" + ("s" if len(front) > 1 else "")]
    listed = {int(line.split()[1].rstrip(":")) for line in status[at + 1 : at + 1 + len(front)]}
    assert listed == front, status


@pytest.mark.slow
@pytest.mark.mpi
@pytest.mark.timeout(900)
def test_a_search_of_accuracy_against_size_under_mpirun(tmp_path):
    out = tmp_path / "compact"
    done = nas_search_on_ranks(3, out, "--problem", PROBLEM, "--max-evals", "4", "--seed", "1")
    assert "4 evaluations (0 failed)" in done.stdout, done.stdout
    check_the_front(out, 4)


def test_a_scheduler_of_one_objective_is_refused(tmp_path):
    done = subprocess.run(
        [NAS_SEARCH, "--problem", PROBLEM, "--out", str(tmp_path / "x"), "--scheduler", "pbt"]
        + ["--max-evals", "4"],
        cwd=tmp_path,
        env=user_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert (
        "scheduler 'pbt' ranks configurations by one objective, but problem "
        "'breast_cancer_compact' has val_accuracy (max), num_parameters (min)"
    ) in done.stderr, done.stderr
    assert not (tmp_path / "x" / "journal.jsonl").exists()


def test_the_schedulers_of_one_objective_say_so():
    from nas.schedule import ONE_OBJECTIVE_SCHEDULERS, LearningCurveMatching
    from nas.schedule import PopulationBasedTraining as PBT

    assert ONE_OBJECTIVE_SCHEDULERS == {"lcm", "pbt"}
    assert not LearningCurveMatching.ranks_by_front and not PBT.ranks_by_front


def test_the_simulated_evaluator_is_refused(tmp_path):
    done = subprocess.run(
        [NAS_SEARCH, "--problem", PROBLEM, "--out", str(tmp_path / "x")]
        + ["--evaluator", "simulated", "--max-evals", "4"],
        cwd=tmp_path,
        env=user_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "the simulated evaluator simulates one learning curve" in done.stderr, done.stderr
    assert not (tmp_path / "x").exists()
