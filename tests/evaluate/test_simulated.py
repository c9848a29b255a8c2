"""The simulated evaluator: its clock, durations, placement, accounting and curves, and
the real driver, searches and schedulers running on it."""

from __future__ import annotations

import random
import time

import pytest

from nas._imports import import_keras
from nas.driver import read_journal, run_search
from nas.evaluate import SimulatedEvaluator, SyntheticTraining
from nas.evaluate._mpi_protocol import describe_ranks
from nas.evaluate._rank_packing import RankPacker
from nas.evaluate._synthetic_training import parallel_efficiency
from nas.problem import load_problem
from nas.space import SearchSpace
from nas.trial import Config

#: An architecture of cost exactly 1 (no decisions): epochs take ``epoch_time`` on 1 rank.
UNIT = ()
HP = {"batch_size": 32, "learning_rate": 3e-3, "optimizer": "adam"}


def plain(**kwargs) -> SyntheticTraining:
    """A model without overheads, so that durations are epochs x t(w) exactly."""
    settings = {"epoch_time": 10.0, "startup_time": 0.0, "checkpoint_time": 0.0}
    settings.update(regroup_time=0.0)
    return SyntheticTraining(**{**settings, **kwargs})


def drain(evaluator: SimulatedEvaluator) -> list:
    """Collect until nothing runs."""
    trials = []
    while evaluator.num_running:
        trials += evaluator.collect()
    return trials


def config(trial_id: int, epochs: int, width: int = 1, arch=UNIT, **fields) -> Config:
    return Config(
        trial_id, arch, {**HP, "num_ranks": width}, seed=trial_id, epochs=epochs, **fields
    )


def forbid_real_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any real-time sleep fail the test: the simulated clock must never wait."""

    def sleep(seconds: float) -> None:
        raise AssertionError(f"slept {seconds} s of real time")

    monkeypatch.setattr(time, "sleep", sleep)


def test_the_clock_jumps_to_the_next_finish_and_returns_what_finishes_then(monkeypatch) -> None:
    evaluator = SimulatedEvaluator(4, plain())
    for trial_id, epochs in enumerate([3, 1, 2, 1]):
        evaluator.submit(config(trial_id, epochs))
    assert evaluator.now == 0.0 and evaluator.num_free == 0  # 4 ranks, 4 evaluations
    forbid_real_waits(monkeypatch)
    first = evaluator.collect(timeout=3600)  # a real-time timeout: never waited for
    assert evaluator.now == 10.0
    assert sorted(t.config.trial_id for t in first) == [1, 3]  # both finish at 10 s
    assert evaluator.num_running == 2 and evaluator.num_free == 2
    assert [t.config.trial_id for t in evaluator.collect()] == [2]
    assert evaluator.now == 20.0
    [last] = evaluator.collect()
    assert (last.config.trial_id, evaluator.now) == (0, 30.0)
    assert (last.result.started_at, last.result.finished_at) == (0.0, 30.0)
    assert evaluator.collect() == [] and evaluator.num_running == 0


def test_parallel_efficiency_falls_from_one_to_the_given_value_at_512_ranks() -> None:
    assert parallel_efficiency(1) == 1.0
    assert parallel_efficiency(512) == pytest.approx(0.9)
    assert parallel_efficiency(512, 0.68) == pytest.approx(0.68)
    widths = [2**k for k in range(13)]
    values = [parallel_efficiency(w) for w in widths]
    assert values == sorted(values, reverse=True)
    assert 0.85 < parallel_efficiency(4096) < 0.9  # "towards 0.7-0.9 at large widths"


@pytest.mark.parametrize("efficiency", [0.9, 0.68])
def test_durations_follow_t_of_w(efficiency: float) -> None:
    model = plain(efficiency=efficiency)
    evaluator = SimulatedEvaluator(64, model)
    widths = [1, 2, 8, 32]
    for trial_id, width in enumerate(widths):
        evaluator.submit(config(trial_id, 5, width))
    for trial in drain(evaluator):
        width = trial.config.num_ranks
        expected = 5 * 10.0 / (width * parallel_efficiency(width, efficiency))
        assert trial.result.finished_at - trial.result.started_at == pytest.approx(expected)
        assert trial.result.num_ranks == width
        assert trial.result.global_batch_size == 32 * width
    # An architecture's cost scales its epochs on every width alike.
    arch = (3, 1, 4, 1, 5)
    assert model.epoch_seconds(arch, 8) == pytest.approx(
        10.0 * model.cost(arch) / (8 * parallel_efficiency(8, efficiency))
    )


def test_overheads_start_up_checkpoints_and_regrouping() -> None:
    model = plain(startup_time=3.0, checkpoint_time=2.0, regroup_time=5.0)
    evaluator = SimulatedEvaluator(8, model)
    evaluator.submit(config(0, 2, checkpoint_path="c0"))
    [first] = evaluator.collect()
    assert first.result.finished_at == pytest.approx(3 + 2 * 10 + 2)  # start, train, save
    assert first.result.build_time == pytest.approx(5.0)
    same = config(1, 4, 1, initial_epoch=2, start_from="c0", parent=0)
    wider = config(2, 4, 2, initial_epoch=2, start_from="c0", parent=0)
    evaluator.submit(same)
    evaluator.submit(wider)
    durations = {
        t.config.trial_id: t.result.finished_at - t.result.started_at for t in drain(evaluator)
    }
    assert durations[1] == pytest.approx(3 + 2 + 2 * 10)  # start, load, train
    assert durations[2] == pytest.approx(3 + 2 + 5 + 2 * 10 / (2 * model.parallel_efficiency(2)))


def test_groups_are_placed_as_the_mpi_evaluators_rank_packer_places_them() -> None:
    rng = random.Random(0)
    evaluator = SimulatedEvaluator(12, plain())
    reference: RankPacker[int] = RankPacker(range(1, 13))
    expected: dict[int, str] = {}
    trial_id = 0
    for _ in range(60):
        for _ in range(min(evaluator.num_free, rng.randint(0, 4))):
            width, epochs = rng.choice([1, 1, 2, 4, 8]), rng.randint(1, 4)
            evaluator.submit(config(trial_id, epochs, width, arch=(rng.randint(0, 5),)))
            reference.enqueue(trial_id, width)  # and placed at once, as submit does
            expected.update((key, describe_ranks(ranks)) for key, ranks in reference.place())
            trial_id += 1
        assert evaluator.num_free == reference.num_free
        for trial in evaluator.collect():
            assert trial.worker == expected[trial.config.trial_id]
            for rank in _ranks(trial.worker):
                reference.release(rank)
        expected.update((key, describe_ranks(ranks)) for key, ranks in reference.place())
    assert trial_id > 60  # the schedule exercised queueing and backfilling


def _ranks(worker: str) -> list[int]:
    ranks = []
    for part in worker.split(" ", 1)[1].split(","):
        low, _, high = part.partition("-")
        ranks += range(int(low), int(high or low) + 1)
    return ranks


def test_a_config_wider_than_the_widest_group_is_refused() -> None:
    evaluator = SimulatedEvaluator(12, plain())
    assert evaluator.max_width == 8
    with pytest.raises(ValueError, match="trial 0: num_ranks=16"):
        evaluator.submit(config(0, 1, 16))


def test_utilisation_of_a_known_schedule() -> None:
    evaluator = SimulatedEvaluator(2, plain())
    evaluator.submit(config(0, 3))  # rank 1, 0..30 s
    evaluator.submit(config(1, 1))  # rank 2, 0..10 s, then idle
    evaluator.collect()
    assert evaluator.utilisation() == 1.0
    evaluator.collect()
    assert evaluator.busy_rank_seconds() == pytest.approx(40.0)
    assert evaluator.utilisation() == pytest.approx(40 / 60)
    assert evaluator.utilisation(until=20.0) == pytest.approx(30 / 40)
    assert evaluator.busy_rank_seconds(until=5.0) == pytest.approx(10.0)


def test_curves_are_deterministic_per_configuration_not_per_trial() -> None:
    arch = (2, 0, 1, 3)
    evaluator = SimulatedEvaluator(4, SyntheticTraining(seed=1))
    evaluator.submit(config(0, 9, arch=arch))
    evaluator.submit(config(7, 9, arch=arch))  # another trial id and seed, same config
    evaluator.submit(config(8, 9, arch=(2, 0, 1, 2)))
    trials = {t.config.trial_id: t.result for t in drain(evaluator)}
    assert trials[0].learning_curve == trials[7].learning_curve
    assert trials[0].learning_curve != trials[8].learning_curve
    curve = trials[0].learning_curve["val_accuracy"]
    assert len(curve) == 9 and trials[0].objective == max(curve)
    assert all(0.5 < value < 1.0 for value in curve)
    other_landscape = SyntheticTraining(seed=2).train(arch, HP, 0, 9).values
    assert other_landscape != curve


def test_a_continued_segment_continues_the_same_curve() -> None:
    arch = (2, 0, 1, 3)
    evaluator = SimulatedEvaluator(4, SyntheticTraining(seed=3))
    evaluator.submit(config(0, 3, arch=arch, checkpoint_path="c0"))
    [first] = evaluator.collect()
    evaluator.submit(config(1, 9, arch=arch, initial_epoch=3, start_from="c0", parent=0))
    evaluator.submit(config(2, 9, arch=arch))  # one training, epochs 0..9
    results = {t.config.trial_id: t.result for t in drain(evaluator)}
    whole = results[2].learning_curve["val_accuracy"]
    assert first.result.learning_curve["val_accuracy"] == whole[:3]
    assert results[1].learning_curve["val_accuracy"] == whole[3:]
    assert results[1].epochs_trained == 6
    # The model alone agrees, given the progress reached at epoch 3.
    model = evaluator.model
    head = model.train(arch, HP, 0, 3)
    assert model.train(arch, HP, 3, 9, progress=head.progress).values == whole[3:]


def test_a_segment_continued_wider_or_with_a_new_rate_keeps_its_parents_progress_and_noise():
    arch, model = (2, 0, 1, 3), SyntheticTraining(seed=3, critical_batch_size=256)
    evaluator = SimulatedEvaluator(8, model)
    evaluator.submit(config(0, 3, arch=arch, checkpoint_path="c0"))
    evaluator.collect()
    evaluator.submit(config(1, 9, 8, arch=arch, initial_epoch=3, start_from="c0", parent=0))
    faster = Config(2, arch, {**HP, "learning_rate": 1e-2}, 2, 9, 3, "c0", 0)
    evaluator.submit(faster)
    results = {t.config.trial_id: t.result for t in drain(evaluator)}
    head = model.train(arch, HP, 0, 3)
    wide = model.train(arch, HP, 3, 9, width=8, progress=head.progress)
    assert results[1].learning_curve["val_accuracy"] == wide.values
    # Not as if it had trained its first 3 epochs at the new width.
    assert wide.values != model.train(arch, HP, 3, 9, width=8).values
    # A rate changed between segments (population-based training) keeps the noise.
    parent_key = model.identity(arch, HP)
    same_noise = model.train(
        arch, faster.hyperparameters, 3, 9, progress=head.progress, key=parent_key
    )
    assert results[2].learning_curve["val_accuracy"] == same_noise.values
    assert same_noise.values != model.train(arch, faster.hyperparameters, 3, 9).values


def test_wider_segments_train_faster_but_learn_less_per_epoch() -> None:
    model = SyntheticTraining(seed=0, noise=0.0, critical_batch_size=1024)
    arch = (1, 1, 1)
    narrow = model.train(arch, HP, 0, 9, width=1).values
    wide = model.train(arch, HP, 0, 9, width=64).values  # global batch 2,048
    assert model.epoch_seconds(arch, 64) < model.epoch_seconds(arch, 1) / 50
    assert all(w < n for w, n in zip(wide, narrow))
    assert narrow == sorted(narrow)  # without noise, the curve only rises


def test_the_asymptote_depends_on_the_configuration() -> None:
    model = SyntheticTraining(seed=0)
    best, worse = dict(HP, learning_rate=3e-3), dict(HP, learning_rate=1e-1)
    assert model.profile((1, 2), best).asymptote < model.profile((1, 2), worse).asymptote
    rng = random.Random(0)
    asymptotes = [
        model.profile(tuple(rng.randint(0, 30) for _ in range(17)), best).asymptote
        for _ in range(200)
    ]
    assert 0.01 < min(asymptotes) < 0.07 < 0.15 < max(asymptotes) <= 0.5


def test_a_loss_to_minimise_falls() -> None:
    model = SyntheticTraining(objective="val_loss", direction="min", noise=0.0)
    values = model.train((1, 2), HP, 0, 5).values
    assert values == sorted(values, reverse=True) and model.best(values) == values[-1]


def test_an_evaluation_past_the_timeout_stops_with_the_epochs_completed() -> None:
    evaluator = SimulatedEvaluator(2, plain(startup_time=1.0), timeout=35.0)
    evaluator.submit(config(0, 9))
    [trial] = evaluator.collect()
    assert trial.result.status.value == "timeout" and trial.result.epochs_trained == 3
    assert evaluator.now == 35.0 and len(trial.result.learning_curve["val_accuracy"]) == 3


def test_no_evaluation_starts_after_the_horizon() -> None:
    evaluator = SimulatedEvaluator(2, plain(), horizon=15.0)
    evaluator.submit(config(0, 1))
    evaluator.submit(config(1, 3))
    evaluator.collect()
    assert evaluator.num_free == 1  # at 10 s
    evaluator.submit(config(2, 1))
    evaluator.collect()
    assert evaluator.now == 20.0 and evaluator.num_free == 0


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="num_ranks must be a positive int"):
        SimulatedEvaluator(0)
    with pytest.raises(ValueError, match="efficiency must be in"):
        SyntheticTraining(efficiency=1.5)
    with pytest.raises(ValueError, match="direction"):
        SyntheticTraining(direction="up")


def test_run_search_on_256_simulated_ranks_takes_seconds(tmp_path, monkeypatch) -> None:
    problem = load_problem("problems.breast_cancer:problem")
    problem.build_space()  # Keras loads once per process: not the simulation's time
    # What makes it take seconds, checked as work rather than as seconds (which depend
    # on the machine and its load): no model is built or trained, and nothing sleeps.
    keras = import_keras()
    builds = []
    monkeypatch.setattr(SearchSpace, "build", lambda space, arch_seq: builds.append(arch_seq))
    monkeypatch.setattr(keras.Model, "fit", lambda *args, **kwargs: builds.append("fit"))
    forbid_real_waits(monkeypatch)
    results = run_search(
        "problems.breast_cancer:problem",
        tmp_path / "run",
        "random",
        max_evals=600,
        num_workers=256,
        evaluator="simulated",
        seed=0,
        progress=False,
        keep_models=0,
    )
    assert builds == []
    assert len(results.trials) == 600
    assert {t.result.status.value for t in results.trials} == {"ok"}
    assert {t.result.epochs_trained for t in results.trials} == {10}
    finished = max(t.result.finished_at for t in results.trials)
    assert 600 / 256 * 10 * 60 * 0.5 < finished < 1e6  # simulated seconds, not unix time
    assert results.best(1)[0].result.objective > 0.9
    assert (tmp_path / "run" / "journal.jsonl").exists()


def test_asha_runs_unchanged_on_the_simulated_backend(tmp_path) -> None:
    results = run_search(
        "problems.breast_cancer:problem",
        tmp_path / "asha",
        "random",
        max_evals=300,
        num_workers=64,
        evaluator="simulated",
        seed=0,
        scheduler="asha",
        scheduler_kwargs={"min_epochs": 1, "max_epochs": 9, "reduction_factor": 3},
        progress=False,
        keep_models=0,
    )
    trials = {t.config.trial_id: t for t in results.trials}
    promoted = [t for t in results.trials if t.config.parent is not None]
    assert promoted and {t.config.info["rung"] for t in promoted} == {1, 2}
    for trial in promoted:
        parent = trials[trial.config.parent]
        assert trial.config.initial_epoch == parent.config.epochs
        fresh = SyntheticTraining(seed=0).train(
            trial.config.arch_seq, trial.config.hyperparameters, 0, trial.config.epochs
        )
        assert (
            trial.result.learning_curve["val_accuracy"]
            == fresh.values[trial.config.initial_epoch :]
        )


def test_rasda_starts_the_configurations_asha_starts_from_the_same_seed(tmp_path) -> None:
    """RASDA owns num_ranks, so the search does not search it: with one seed, RASDA and
    ASHA start the same configurations, and only the widths of later rungs differ."""

    def started(scheduler: str, problem: str) -> tuple[dict, list]:
        results = run_search(
            problem,
            tmp_path / scheduler,
            "random",
            max_evals=150,
            num_workers=16,
            evaluator="simulated",
            seed=3,
            scheduler=scheduler,
            scheduler_kwargs={"min_epochs": 1, "max_epochs": 9, "reduction_factor": 3},
            progress=False,
            keep_models=0,
        )
        configs = {
            t.config.info["config"]: (
                t.config.arch_seq,
                {k: v for k, v in t.config.hyperparameters.items() if k != "num_ranks"},
            )
            for t in results.trials
            if t.config.info["rung"] == 0
        }
        return configs, results.trials

    asha, _ = started("asha", "problems.breast_cancer:problem")
    # The same space, with num_ranks a choice of 1 or 2: RASDA chooses it per rung.
    rasda, trials = started("rasda", "problems.breast_cancer:parallel_problem")
    common = sorted(set(asha) & set(rasda))
    assert len(common) > 50
    assert [rasda[i] for i in common] == [asha[i] for i in common]
    assert {(t.config.info["rung"], t.result.num_ranks) for t in trials} == {
        (0, 1),
        (1, 2),
        (2, 2),
    }
    assert {t.config.info["proposed_num_ranks"] for t in trials} == {1}


def test_nas_search_runs_the_simulated_evaluator_with_workers_as_ranks(tmp_path, capsys) -> None:
    from nas.cli import search_main

    out = tmp_path / "cli"
    argv = ["--problem", "problems.breast_cancer:problem", "--out", str(out), "--search"]
    argv += ["random", "--evaluator", "simulated", "--workers", "32", "--max-evals", "40"]
    assert search_main([*argv, "--no-progress", "--keep-models", "0", "--seed", "1"]) == 0
    trials = read_journal(out).finished
    assert len(trials) == 40
    assert {t.worker for t in trials} <= {f"rank {rank}" for rank in range(1, 33)}
    assert "40 evaluations (0 failed)" in capsys.readouterr().out


def test_nas_search_with_max_configurations_ends_by_itself(tmp_path, capsys) -> None:
    """``--max-configurations`` (Ray Tune's num_samples): RASDA starts 30 configurations,
    promotes, and the search ends long before ``--max-evals``."""
    from nas.cli import search_main

    out = tmp_path / "fixed"
    argv = ["--problem", "problems.breast_cancer:parallel_problem", "--out", str(out)]
    argv += ["--evaluator", "simulated", "--workers", "16", "--max-evals", "1000"]
    argv += ["--scheduler", "rasda", "--max-configurations", "30", "--max-epochs", "9"]
    assert search_main([*argv, "--no-progress", "--keep-models", "0", "--seed", "1"]) == 0
    trials = read_journal(out).finished
    assert len({t.config.info["config"] for t in trials}) == 30
    assert 30 + 10 + 3 <= len(trials) < 1000  # every rung promoted at least its top third
    assert {t.result.num_ranks for t in trials if t.config.info["rung"] == 2} == {2}
    assert f"{len(trials)} evaluations (0 failed)" in capsys.readouterr().out
