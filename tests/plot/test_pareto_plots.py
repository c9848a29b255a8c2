"""A search of several objectives gets two more plots, its Pareto front and its
hypervolume over evaluations, drawn from a hand-written journal: no training."""

from __future__ import annotations

import time

import numpy as np
import pytest
from matplotlib.image import imread

import nas
from nas.cli import plot_main
from nas.driver import Journal
from nas.pareto import as_minimised, hypervolume
from nas.plot import hypervolume_curve
from nas.train import Stage, Status, TrainingResult
from nas.trial import Config, Trial

OBJECTIVES = {"val_accuracy": "max", "num_parameters": "min"}
#: trial id -> (val_accuracy, num_parameters, constraint violation); None: failed.
#: The front of the feasible trials: 0, 1, 5, 6 and 7 (a duplicate of 1). Trial 3 is
#: the most accurate but breaks the constraint; 4 is dominated by 1.
TRIALS = {
    0: (0.80, 1000.0, 0.0),
    1: (0.85, 2000.0, 0.0),
    2: None,
    3: (0.95, 9000.0, 0.8),
    4: (0.82, 3000.0, 0.0),
    5: (0.90, 4000.0, 0.0),
    6: (0.78, 500.0, 0.0),
    7: (0.85, 2000.0, 0.0),
}


def write_search(directory, objectives=OBJECTIVES, trials=TRIALS, constraints=()):
    """A journal as a search of ``objectives`` writes it; each trial's values are given
    in the order of ``objectives`` (a single objective: as before, no objectives dict)."""
    names = list(objectives)
    settings = {
        "problem": "problems.breast_cancer:compact_problem",
        "problem_name": "breast_cancer_compact",
        "objective": names[0],
        "direction": objectives[names[0]],
    }
    if len(objectives) > 1:
        settings.update(objectives=dict(objectives), constraints=list(constraints))
    else:
        settings.update(problem="problems.breast_cancer:problem", problem_name="breast_cancer")
    journal = Journal(directory)
    journal.start(settings)
    start = time.time()
    for trial_id, values in trials.items():
        config = Config(trial_id, (trial_id % 3, 1), {"learning_rate": 0.01}, seed=trial_id)
        journal.submit([config], {})
        failed = values is None
        measured = {} if failed else dict(zip(names, values[:-1]))
        violation = 0.0 if failed else values[-1]
        result = TrainingResult(
            status=Status.FAILED if failed else Status.OK,
            objective=None if failed else values[0],
            learning_curve={},
            num_parameters=None if failed else int(measured.get("num_parameters", 100)),
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
            objectives=measured if len(objectives) > 1 else {},
            measures={k: v for k, v in measured.items() if k != "val_accuracy"},
            violated=["num_parameters <= 5000 (was 9000)"] if violation else [],
            violation=violation,
        )
        journal.finish(Trial(config, result, f"process-{trial_id % 2}", start + 10 * trial_id))
    journal.close()


def by_gid(figures, gid):
    (figure,) = [figure for figure in figures if figure.get_gid() == gid]
    return figure


def test_two_objectives_get_a_front_and_a_hypervolume_plot(tmp_path, capsys):
    write_search(tmp_path, constraints=["num_parameters <= 5000"])
    assert plot_main([str(tmp_path), "--out", str(tmp_path / "plots")]) == 0
    printed = capsys.readouterr().out.split()
    assert [path.rsplit("/", 1)[-1] for path in printed] == [
        "objective.png",
        "utilisation.png",
        "pareto_front.png",
        "hypervolume.png",
    ]
    for path in printed[2:]:
        image = imread(path)
        assert image.shape[0] > 100 and image.shape[1] > 400
        assert image.std() > 0.05  # something was drawn, not a blank canvas


def test_the_highlighted_points_are_exactly_the_pareto_front(tmp_path, figures):
    write_search(tmp_path, constraints=["num_parameters <= 5000"])
    assert plot_main([str(tmp_path)]) == 0
    results = nas.load_results(tmp_path)
    assert [trial.trial_id for trial in results.pareto_front] == [0, 1, 5, 6, 7]
    (axis,) = by_gid(figures, "pareto_front").axes
    assert axis.get_xlabel() == "val_accuracy (maximised)"
    assert axis.get_ylabel() == "num_parameters (minimised)"
    collections = {c.get_label().split(" (")[0]: c.get_offsets() for c in axis.collections}
    front = [
        [t.objectives["val_accuracy"], t.objectives["num_parameters"]]
        for t in results.pareto_front
    ]
    np.testing.assert_allclose(collections["Pareto front"], front)
    # The infeasible trial is drawn apart, the dominated feasible one as feasible.
    np.testing.assert_allclose(collections["infeasible"], [[0.95, 9000.0]])
    np.testing.assert_allclose(collections["feasible, dominated"], [[0.82, 3000.0]])
    # The step line joins the front from the least to the most accurate.
    (line,) = axis.lines
    assert list(line.get_xdata()) == [0.78, 0.80, 0.85, 0.85, 0.90]


def test_the_hypervolume_grows_to_that_of_the_feasible_trials(tmp_path, figures):
    write_search(tmp_path, constraints=["num_parameters <= 5000"])
    assert plot_main([str(tmp_path)]) == 0
    results = nas.load_results(tmp_path)
    curve = hypervolume_curve(results)
    # The reference: each objective's worst feasible value, 10% of its range further.
    np.testing.assert_allclose(curve.reference, [0.78 - 0.012, 4000 + 350])
    feasible = [[t.objectives[name] for name in OBJECTIVES] for t in results.trials if t.feasible]
    expected = hypervolume(
        as_minimised(feasible, list(OBJECTIVES.values())), curve.minimised_reference
    )
    assert curve.values[-1] == pytest.approx(expected)
    assert np.all(np.diff(curve.values) >= 0)
    assert curve.values[0] > 0 and curve.values[-1] > curve.values[0]
    # Trial 2 failed and trial 3 is infeasible: neither adds anything.
    assert curve.values[2] == curve.values[1] and curve.values[3] == curve.values[1]

    figure = by_gid(figures, "hypervolume")
    (line,) = figure.axes[0].lines
    assert list(line.get_xdata()) == list(range(1, len(TRIALS) + 1))
    np.testing.assert_allclose(line.get_ydata(), curve.values)
    assert "reference point: worst feasible value + 10% of range" in figure.axes[0].get_title()


def test_three_objectives_get_one_panel_per_pair(tmp_path, figures, capsys):
    objectives = {"val_accuracy": "max", "num_parameters": "min", "flops": "min"}
    trials = {
        0: (0.80, 1000.0, 5e4, 0.0),
        1: (0.85, 2000.0, 4e4, 0.0),
        2: (0.70, 3000.0, 6e4, 0.0),  # dominated by 0 and 1
        3: (0.90, 4000.0, 3e4, 0.0),
    }
    write_search(tmp_path, objectives, trials)
    assert plot_main([str(tmp_path)]) == 0
    assert "pareto_front.png" in capsys.readouterr().out
    panels = [axis for axis in by_gid(figures, "pareto_front").axes if axis.get_visible()]
    assert [(a.get_xlabel().split()[0], a.get_ylabel().split()[0]) for a in panels] == [
        ("val_accuracy", "num_parameters"),
        ("val_accuracy", "flops"),
        ("num_parameters", "flops"),
    ]
    results = nas.load_results(tmp_path)
    assert [t.trial_id for t in results.pareto_front] == [0, 1, 3]
    for axis in panels:
        highlighted = [c for c in axis.collections if c.get_label().startswith("Pareto front")]
        assert len(highlighted[0].get_offsets()) == 3
    curve = hypervolume_curve(results)
    points = as_minimised([trials[i][:3] for i in (0, 1, 2, 3)], list(objectives.values()))
    assert curve.values[-1] == pytest.approx(hypervolume(points, curve.minimised_reference))


def test_a_search_with_no_feasible_trial_plots_a_flat_hypervolume(tmp_path, figures):
    write_search(tmp_path, trials={0: (0.8, 9000.0, 0.8), 1: None})
    assert plot_main([str(tmp_path)]) == 0
    curve = hypervolume_curve(nas.load_results(tmp_path))
    assert curve.reference is None and list(curve.values) == [0.0, 0.0]
    assert "no feasible" in by_gid(figures, "hypervolume").axes[0].get_title()


def test_a_single_objective_search_gets_no_new_plots(tmp_path, capsys):
    write_search(tmp_path, {"val_accuracy": "max"}, {i: (0.8 + 0.01 * i, 0.0) for i in range(4)})
    assert plot_main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    assert [path.rsplit("/", 1)[-1] for path in printed] == ["objective.png", "utilisation.png"]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["objective.png", "utilisation.png"]
