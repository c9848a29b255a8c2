"""``nas-export DIR --pareto`` exports the models of a search's Pareto front.

The search folder is written by hand as a search of accuracy against size writes it:
its journal, and the kept (untrained: no training here) models of its front.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import nas
from nas.cli import export_main
from nas.driver import Journal
from nas.driver._model_keeper import kept_model_path
from nas.train import Stage, Status, TrainingResult
from nas.trial import Config, Trial

#: trial id -> (val_accuracy, num_parameters); None: failed. The front: 0, 2 and 4;
#: 1 is dominated by 2, 3 by 4.
TRIALS = {
    0: (0.80, 500.0),
    1: (0.82, 3000.0),
    2: (0.85, 2000.0),
    3: (0.86, 6000.0),
    4: (0.90, 4000.0),
    5: None,
}
FRONT = [0, 2, 4]


def write_search(directory, multi_objective=True, kept=(0, 1, 2, 4)):
    """A search's journal, and the models kept of the trials ``kept``."""
    from problems.breast_cancer import compact_problem

    space = compact_problem.build_space()
    rng = np.random.default_rng(0)
    settings = {
        "problem": "problems.breast_cancer:compact_problem",
        "problem_name": "breast_cancer_compact",
        "objective": "val_accuracy",
        "direction": "max",
        "objectives": {"val_accuracy": "max", "num_parameters": "min"},
        "constraints": [],
    }
    if not multi_objective:
        settings = {
            "problem": "problems.breast_cancer:problem",
            "problem_name": "breast_cancer",
            "objective": "val_accuracy",
            "direction": "max",
        }
    journal = Journal(directory)
    journal.start(settings)
    start = time.time()
    for trial_id, values in TRIALS.items():
        arch_seq = [int(choice) for choice in space.sample(rng)]
        config = Config(trial_id, tuple(arch_seq), {"learning_rate": 0.01}, seed=trial_id)
        journal.submit([config], {})
        failed = values is None
        objectives = {} if failed else {"val_accuracy": values[0], "num_parameters": values[1]}
        result = TrainingResult(
            status=Status.FAILED if failed else Status.OK,
            objective=None if failed else values[0],
            learning_curve={},
            num_parameters=None if failed else int(values[1]),
            epochs_trained=0 if failed else 3,
            build_time=0.1,
            training_time=1.0,
            started_at=start + 10 * trial_id,
            finished_at=start + 10 * trial_id + 8,
            error="ValueError: boom" if failed else None,
            error_stage=Stage.TRAIN if failed else None,
            hyperparameters={"learning_rate": 0.01},
            arch_seq=arch_seq,
            seed=trial_id,
            objectives=objectives if multi_objective else {},
            measures={"num_parameters": values[1]} if multi_objective and not failed else {},
        )
        journal.finish(Trial(config, result, "process-0", start + 10 * trial_id))
        if trial_id in kept and not failed:
            path = kept_model_path(directory, trial_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            space.build(arch_seq).save(path)
    journal.close()


@pytest.fixture(scope="module")
def search_directory(tmp_path_factory):
    directory = tmp_path_factory.mktemp("compact")
    write_search(directory)
    return directory


def test_pareto_exports_exactly_the_front(search_directory, tmp_path, capsys):
    import keras

    front = [trial.trial_id for trial in nas.load_results(search_directory).pareto_front]
    assert front == FRONT
    # Trial 1's model was kept too: it is not on the front, so not exported.
    assert export_main([str(search_directory), "--pareto", "--out", str(tmp_path)]) == 0
    assert sorted(folder.name for folder in tmp_path.iterdir()) == [
        f"pareto_trial{trial_id}" for trial_id in FRONT
    ]
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0] for line in printed] == [
        f"pareto: trial {trial_id}" for trial_id in FRONT
    ]
    assert "val_accuracy 0.85, num_parameters 2000" in printed[1]
    for trial_id in FRONT:
        folder = tmp_path / f"pareto_trial{trial_id}"
        document = json.loads((folder / "architecture.json").read_text())
        assert document["trial_id"] == trial_id
        assert document["objectives"] == dict(
            zip(["val_accuracy", "num_parameters"], TRIALS[trial_id])
        )
        assert document["directions"] == {"val_accuracy": "max", "num_parameters": "min"}
        assert (folder / "saved_model").is_dir()
        assert (folder / "architecture.png").read_bytes().startswith(b"\x89PNG")
    model = keras.saving.load_model(tmp_path / "pareto_trial2" / "model.keras")
    assert model.count_params() > 0


def test_without_pareto_the_best_three_are_exported_as_before(search_directory, tmp_path):
    assert export_main([str(search_directory), "--out", str(tmp_path)]) == 0
    assert [folder.name.split("_")[0] for folder in sorted(tmp_path.iterdir())] == [
        "rank1",
        "rank2",
        "rank3",
    ]


def test_pareto_and_top_together_are_refused(search_directory, tmp_path, capsys):
    out = tmp_path / "export"
    argv = [str(search_directory), "--pareto", "--top", "2", "--out", str(out)]
    assert export_main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert "--pareto" in error and "--top" in error and len(error.splitlines()) == 1
    assert not out.exists()


def test_pareto_is_refused_for_a_single_objective_search(tmp_path, capsys):
    write_search(tmp_path, multi_objective=False, kept=())
    out = tmp_path / "export"
    assert export_main([str(tmp_path), "--pareto", "--out", str(out)]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "one objective, val_accuracy (max)" in error and "--top" in error
    assert not out.exists()


def test_a_front_model_not_kept_is_named_before_anything_is_written(tmp_path, capsys):
    write_search(tmp_path, kept=(0, 4))
    out = tmp_path / "export"
    assert export_main([str(tmp_path), "--pareto", "--out", str(out)]) == 1
    error = capsys.readouterr().err
    assert "trial(s) 2 of the Pareto front were not kept" in error and "--retrain" in error
    assert not out.exists()
