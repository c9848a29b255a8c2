"""The lineage of a population-based training, rebuilt from a journal and plotted.

The journal is written by the real scheduler over synthetic training results, so the
lineage is what a search would record, without training anything."""

from __future__ import annotations

import math
import time

import pytest
from matplotlib.image import imread

from nas.cli import plot_main
from nas.driver import Journal, read_journal
from nas.driver._driver import segment
from nas.plot import plot_pbt_lineage
from nas.problem import load_problem
from nas.schedule import PopulationBasedTraining, lineage
from nas.search import RandomSearch
from nas.train import Stage, Status, TrainingResult
from nas.trial import Config, Trial

PROBLEM = "problems.breast_cancer:problem"


def accuracy(rate: float, epoch: int) -> float:
    """Synthetic validation accuracy: better with epochs, best near a rate of 1e-2."""
    return 0.6 + 0.03 * epoch - 0.05 * (math.log10(rate) + 2) ** 2


def run_fake_pbt(directory, failing_trial: int | None = None) -> list[Trial]:
    """Run the pbt scheduler with synthetic results, journaling as the driver does."""
    problem = load_problem(PROBLEM)
    # Any arch_seq will do: nothing is built (building the space would import Keras).
    search = RandomSearch([3, 2, 4], problem.hyperparameters, seed=1)
    pbt = PopulationBasedTraining(search, max_epochs=8, population=4, interval=2, seed=1)
    journal = Journal(directory)
    journal.start({"problem": PROBLEM, "scheduler": "pbt"})
    finished: dict[int, Trial] = {}
    start = time.time()
    while True:
        jobs = pbt.ask(2)
        if not jobs:
            return list(finished.values())
        trials = []
        for job in jobs:
            trial_id = len(finished) + len(trials)
            parent = finished.get(job.continue_from) if job.continue_from is not None else None
            initial = (
                0 if parent is None else parent.config.initial_epoch + parent.result.epochs_trained
            )
            config = Config(
                trial_id, job.arch_seq, dict(job.hyperparameters), 0, job.epochs, initial,
                None if parent is None else f"checkpoints/trial_{parent.config.trial_id}.keras",
                job.continue_from, f"checkpoints/trial_{trial_id}.keras", dict(job.info),
            )  # fmt: skip
            journal.submit([config], pbt.get_state())
            failed = trial_id == failing_trial
            rate = job.hyperparameters["learning_rate"]
            curve = [accuracy(rate, epoch) for epoch in range(initial + 1, job.epochs + 1)]
            result = TrainingResult(
                status=Status.FAILED if failed else Status.OK,
                objective=None if failed else max(curve),
                learning_curve={} if failed else {"val_accuracy": curve},
                num_parameters=100,
                epochs_trained=0 if failed else len(curve),
                build_time=0.1,
                training_time=1.0,
                started_at=start + trial_id,
                finished_at=start + trial_id + 0.5,
                error="FloatingPointError: NaN loss" if failed else None,
                error_stage=Stage.TRAIN if failed else None,
                hyperparameters=dict(job.hyperparameters),
                arch_seq=list(job.arch_seq),
                seed=0,
            )
            trials.append(Trial(config, result, f"process-{trial_id % 2}", start + trial_id))
        for trial in trials:
            journal.finish(trial)
            finished[trial.config.trial_id] = trial
        pbt.tell([segment(trial, problem) for trial in trials])


@pytest.fixture(scope="module")
def journal_directory(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pbt")
    run_fake_pbt(directory, failing_trial=5)
    return directory


def test_the_lineage_of_each_member_is_rebuilt_from_the_journal(journal_directory):
    trials = read_journal(journal_directory).finished
    history = lineage(trials, "val_accuracy")
    assert sorted(history) == [0, 1, 2, 3]
    by_trial = {trial.config.trial_id: trial for trial in trials}
    assert sum(len(steps) for steps in history.values()) == len(trials)
    copies = 0
    for member, steps in history.items():
        assert [step.step for step in steps] == list(range(len(steps)))
        assert steps[0].action == "start" and steps[0].start_epoch == 0
        assert steps[-1].end_epoch == 8  # every member trained to the end
        for before, step in zip(steps, steps[1:]):
            trial = by_trial[step.trial_id]
            assert step.previous_learning_rate == before.learning_rate
            assert step.learning_rate == trial.config.hyperparameters["learning_rate"]
            if step.action == "continue":
                assert trial.config.parent == before.trial_id
                assert step.learning_rate == before.learning_rate
                assert step.start_epoch == before.end_epoch
            elif step.action == "exploit":
                copies += 1
                source = by_trial[step.copied_trial]
                assert source.config.info["pbt"]["member"] == step.copied_member != member
                assert trial.config.parent == step.copied_trial
                assert (
                    step.start_epoch
                    == step.copied_epoch
                    == source.config.initial_epoch + (source.result.epochs_trained)
                )
                assert step.copied_learning_rate == source.config.hyperparameters["learning_rate"]
                assert step.explore in ("perturb", "resample")
                assert "copied member" in step.describe()
            else:
                assert step.action == "restart" and before.status == "failed"
        for step in steps:
            assert len(step.curve) == step.end_epoch - step.start_epoch
    assert copies >= 2
    failed = next(step for steps in history.values() for step in steps if step.trial_id == 5)
    assert failed.status == "failed" and failed.objective is None and failed.curve == ()
    after = history[failed.member][failed.step + 1]
    assert after.reason == "failed" and after.action in ("exploit", "restart")


def test_nas_plot_draws_the_lineage_of_a_pbt_search(journal_directory, tmp_path, capsys):
    assert plot_main([str(journal_directory), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    assert [path.rsplit("/", 1)[-1] for path in printed] == [
        "objective.png",
        "utilisation.png",
        "pbt_lineage.png",
    ]
    image = imread(tmp_path / "pbt_lineage.png")
    assert image.shape[0] > 500 and image.shape[1] > 800 and image.std() > 0.05


def test_a_search_without_pbt_has_no_lineage_to_plot(tmp_path):
    trials = read_journal(tmp_path).finished
    assert lineage(trials) == {}
    with pytest.raises(ValueError, match="no trial was scheduled by pbt"):
        plot_pbt_lineage(trials, tmp_path / "x.png", "val_accuracy")
