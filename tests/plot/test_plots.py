"""Plots are drawn from a journal: a hand-written one, so no training is needed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

from matplotlib.image import imread

from nas.cli import plot_main
from nas.driver import Journal
from nas.train import Stage, Status, TrainingResult
from nas.trial import Config, Trial


def write_journal(directory, num_trials: int = 6) -> None:
    journal = Journal(directory)
    journal.start({"problem": "problems.breast_cancer:problem"})
    start = time.time()
    for trial_id in range(num_trials):
        config = Config(trial_id, (trial_id % 3, 1), {"learning_rate": 0.01}, seed=trial_id)
        journal.submit([config], {})
        failed = trial_id == 2
        result = TrainingResult(
            status=Status.FAILED if failed else Status.OK,
            objective=None if failed else 0.8 + 0.02 * trial_id,
            learning_curve={},
            num_parameters=None if failed else 100,
            epochs_trained=0 if failed else 3,
            build_time=0.1,
            training_time=1.0,
            started_at=start + 10 * trial_id,
            finished_at=start + 10 * trial_id + 8,
            error="ValueError: boom" if failed else None,
            error_stage=Stage.TRAIN if failed else None,
            hyperparameters={"learning_rate": 0.01},
            arch_seq=[trial_id % 3, 1],
            seed=trial_id,
        )
        journal.finish(Trial(config, result, f"process-{trial_id % 2}", start + 10 * trial_id))
    journal.close()


def test_nas_plot_draws_readable_pngs(tmp_path, capsys):
    write_journal(tmp_path)
    assert plot_main([str(tmp_path), "--out", str(tmp_path / "plots")]) == 0
    printed = capsys.readouterr().out.split()
    assert [p.rsplit("/", 1)[-1] for p in printed] == ["objective.png", "utilisation.png"]
    for path in printed:
        image = imread(path)
        assert image.shape[0] > 100 and image.shape[1] > 500
        assert image.std() > 0.05  # something was drawn, not a blank canvas


def test_nas_plot_explains_an_empty_folder(tmp_path, capsys):
    assert plot_main([str(tmp_path)]) == 1
    assert "holds no search" in capsys.readouterr().err


def test_a_single_evaluation_can_be_plotted(tmp_path):
    write_journal(tmp_path, num_trials=1)
    assert plot_main([str(tmp_path)]) == 0


def test_the_objective_axis_names_the_problems_metric(tmp_path, figures):
    write_journal(tmp_path)
    assert plot_main([str(tmp_path)]) == 0
    assert figures[0].axes[0].get_ylabel() == "val_accuracy (maximised)"


def test_plotting_leaves_a_notebooks_pyplot_as_it_was(tmp_path):
    """A notebook has chosen its backend and holds figures of its own; plotting a search
    there must change neither (a fresh interpreter: nas.plot may be imported here)."""
    write_journal(tmp_path)
    notebook = textwrap.dedent(
        f"""
        import json
        import matplotlib
        matplotlib.use("svg")
        import matplotlib.pyplot as plt
        plt.figure()
        import nas.plot
        paths = nas.plot.plot_search({str(tmp_path)!r})
        print(json.dumps([matplotlib.get_backend(), plt.get_fignums(), len(paths)]))
        """
    )
    ran = subprocess.run(
        [sys.executable, "-c", notebook], capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout.splitlines()[-1]) == ["svg", [1], 2]
