"""``nas-search --early-stopping lcm --evaluator mpi`` under mpirun: segments continue
their checkpoints on other ranks or warm on their own, the search ends by itself with
exit code 0, and every evaluation says what learning-curve matching decided."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import nas_search_on_ranks

pytestmark = [pytest.mark.mpi, pytest.mark.slow]


def test_an_lcm_search_under_mpirun_ends_by_itself(tmp_path):
    out = tmp_path / "run"
    done = nas_search_on_ranks(
        3,
        out,
        "--problem",
        "problems.breast_cancer:problem",
        "--search",
        "random",
        "--seed",
        "0",
        "--max-evals",
        "6",
        "--keep-models",
        "0",
        "--early-stopping",
        "lcm",
        "--lcm-accumulate",
        "2",
        "--lcm-checkpoints",
        "2",
        timeout=300,
    )
    assert "6 evaluations (0 failed)" in done.stdout, done.stdout
    rows = list(csv.DictReader((out / "results.csv").open()))
    info = [json.loads(row["info"]) for row in rows]
    assert [i["lcm_mode"] for i in info[:2]] == ["full", "full"]
    assert all(i["lcm_mode"] == "segmented" for i in info[2:])
    assert all(i["lcm_decision"] in {"complete", "ended", "continue", "stop"} for i in info)
    # Both worker ranks trained.
    assert {row["worker"] for row in rows} == {"rank 1", "rank 2"}
    events = [json.loads(line) for line in (out / "journal.jsonl").open()]
    configs = {
        e["trial"]["config"]["trial_id"]: e["trial"]["config"]
        for e in events
        if e["event"] == "finish"
    }
    for config in configs.values():
        if config["initial_epoch"]:
            assert config["initial_epoch"] == 2 and config["start_from"].endswith(
                f"trial_{config['parent']}.keras"
            )
    # A segment continues warm exactly when it ran on the rank that trained its parent
    # (a free rank keeping the model gets the segment; a busy one is not waited for).
    worker = {int(row["trial_id"]): row["worker"] for row in rows}
    for row in rows:
        parent = configs[int(row["trial_id"])]["parent"]
        if parent is not None:
            assert (row["warm"] == "True") == (row["worker"] == worker[parent]), row
    assert any(row["warm"] == "True" for row in rows)
    notes = {e["trial_id"] for e in events if e["event"] == "note"}
    assert notes == set(configs)
