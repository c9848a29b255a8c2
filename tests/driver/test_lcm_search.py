"""``nas-search --early-stopping lcm`` on a real (tiny) problem: segments continue their
checkpoints, every row of results.csv and the journal says what LCM decided and why,
and a resume continues a run that was waiting for its next segment."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from lcm_toy_problem import LEARNING_RATES

from nas.cli import search_main
from nas.driver import read_journal
from nas.driver._driver import CHECKPOINTS_FOLDER
from nas.problem import load_problem

pytestmark = pytest.mark.slow


def test_an_lcm_search_writes_why_each_run_stopped_and_resumes(tmp_path, capsys):
    space = load_problem("lcm_toy_problem:problem").build_space()
    architecture = tmp_path / "architecture.json"
    architecture.write_text(json.dumps([list(space.sample(np.random.default_rng(0)))]))
    out = tmp_path / "run"
    quiet = ["--evaluator", "serial", "--keep-models", "0", "--no-progress"]
    arguments = [
        "--problem", "lcm_toy_problem:problem", "--search", "grid", "--seed", "0",
        "--grid-architectures", str(architecture),
        "--early-stopping", "lcm", "--lcm-accumulate", "4", "--lcm-checkpoints", "1",
        "--lcm-percentile", "100", "--out", str(out), *quiet,
    ]  # fmt: skip
    # Four full trainings are recorded; then a frozen run stops at epoch 1, and a learning
    # one continues: it waits for its next segment when the budget runs out.
    assert search_main([*arguments, "--max-evals", "6"]) == 0
    before = list(csv.DictReader((out / "results.csv").open()))
    assert sorted(p.name for p in (out / CHECKPOINTS_FOLDER).iterdir()) == ["trial_5.keras"]
    # The grid runs out of configurations: the search ends by itself, below its budget.
    capsys.readouterr()
    assert search_main(["--resume", str(out), "--max-evals", "10", *quiet]) == 0
    assert "7 evaluations (0 failed)" in capsys.readouterr().out
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [row["info"] for row in rows[:6]] == [row["info"] for row in before]
    info = [json.loads(row["info"]) for row in rows]
    decisions = ["complete"] * 4 + ["stop", "continue", "complete"]
    assert [i["lcm_decision"] for i in info] == decisions, [i["lcm_reason"] for i in info]
    assert [i["lcm_mode"] for i in info] == ["full"] * 4 + ["segmented"] * 3
    assert [i["lcm_run"] for i in info] == [0, 1, 2, 3, 4, 5, 5]
    assert [row["epochs_trained"] for row in rows] == ["3"] * 4 + ["1", "1", "2"]
    assert [float(row["hp_learning_rate"]) for row in rows[:6]] == LEARNING_RATES
    stop = info[4]
    assert (stop["lcm_epoch"], stop["lcm_stage"]) == (1, "check")
    assert stop["lcm_nearest"] in (1, 2, 3)  # a frozen run
    assert "the 100th percentile of 4 finals" in stop["lcm_reason"]
    # val_loss is minimised: the predicted final loss (the frozen run's) is above the best.
    nearest = rows[stop["lcm_nearest"]]
    assert stop["lcm_predicted"] == pytest.approx(float(nearest["objective"]))
    assert stop["lcm_threshold"] == pytest.approx(float(rows[0]["objective"]))
    assert stop["lcm_predicted"] > stop["lcm_threshold"]
    assert stop["lcm_told"] <= stop["lcm_predicted"]
    assert info[5]["lcm_nearest"] == 0
    # Continued segments start from their parent's checkpoint, at its epoch.
    journal = read_journal(out)
    assert [(t.config.parent, t.config.initial_epoch) for t in journal.finished[4:]] == [
        (None, 0),
        (None, 0),
        (5, 1),
    ]
    # The journal holds the same decisions, as note events after each finish.
    assert journal.notes == {
        t: {k: v for k, v in i.items() if k != "lcm_mode"} for t, i in enumerate(info)
    }
    assert list((out / CHECKPOINTS_FOLDER).iterdir()) == []
    settings = json.loads((out / "settings.json").read_text())
    assert (settings["scheduler"], settings["scheduler_kwargs"]) == (
        "lcm",
        {"accumulate": 4, "checkpoints": [1], "percentile": 100.0},
    )
