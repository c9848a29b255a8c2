"""``results.csv`` while a search appends to it and once its session has ended."""

from __future__ import annotations

import csv

from nas.driver._results_table import ResultsTable
from nas.train import TrainingResult
from nas.trial import Config, Trial


def trial(trial_id: int, rung: int) -> Trial:
    info = {"scheduler": "asha", "config": trial_id, "rung": rung, "resource": 3**rung}
    config = Config(trial_id, (1, 0), {"learning_rate": 0.01}, epochs=3**rung, info=info)
    result = TrainingResult(
        "ok", 0.5 + trial_id / 100, {"val_accuracy": [0.5]}, 10, 1, 0.1, 0.2, 100.0, 101.0,
        None, None, {"learning_rate": 0.01}, [1, 0], 0,
    )  # fmt: skip
    return Trial(config, result, "process 1", 99.0)


def trial_ids(table: ResultsTable) -> list[int]:
    with table.path.open() as file:
        return [int(row["trial_id"]) for row in csv.DictReader(file)]


def test_rows_are_appended_as_trials_finish_and_sorted_when_the_session_ends(tmp_path):
    table = ResultsTable(tmp_path, ["learning_rate"])
    notes = {"decision": "stop", "reason": "rank 2 of 2 at rung 0"}
    table.append([trial(2, 0), trial(0, 0)], ["h2", "h0"], [notes, {}])
    table.append([trial(1, 1)], ["h1"])
    assert trial_ids(table) == [0, 2, 1]  # readable at once, in the order they finished
    table.close()
    assert trial_ids(table) == [0, 1, 2]
    assert [path.name for path in tmp_path.iterdir()] == ["results.csv"]
    with table.path.open() as file:
        rows = list(csv.DictReader(file))
    assert [(row["rung"], row["resource"]) for row in rows] == [("0", "1"), ("1", "3"), ("0", "1")]
    assert [row["decision"] for row in rows] == ["", "", "stop"]
    assert rows[2]["reason"] == "rank 2 of 2 at rung 0"
    assert list(rows[0])[3:9] == ["hp_learning_rate", "rung", "resource", "decision", "reason",
                                  "objective"]  # fmt: skip
    table.close()  # a second close changes nothing
    assert trial_ids(table) == [0, 1, 2]
