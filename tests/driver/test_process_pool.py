"""The process pool kills an evaluation that overruns its timeout and carries on."""

from __future__ import annotations

import os

import pytest
from toy_problems import hanging_evaluation, load_data

from nas.evaluate import ProcessPoolEvaluator
from nas.problem import Problem
from nas.train import Status
from nas.trial import Config

pytestmark = pytest.mark.slow


def test_an_evaluation_past_its_timeout_is_killed_and_recorded():
    with ProcessPoolEvaluator(
        "toy_problems:problem",
        num_workers=1,
        timeout=0.5,
        grace=1.0,
        function=hanging_evaluation,
    ) as pool:
        pool.submit(Config(7, (0, 1), {}, seed=0))
        trials = []
        while not trials:
            trials = pool.collect(timeout=120)
        (trial,) = trials
        assert trial.config.trial_id == 7 and trial.result.status is Status.TIMEOUT
        assert "overran its timeout of 0.5 s" in trial.result.error
        assert pool.num_free == 1  # a fresh worker took the killed one's place
        assert trial.worker == "process-0" and pool._workers[0].name == "process-1"


def _problem_calling(callbacks) -> Problem:
    """A one-epoch problem whose workers call ``callbacks`` for each trial; made here, as
    in a notebook, so that it travels to them pickled."""
    return Problem(
        "probed",
        load_data,
        "spaces.dense_skip:dense_skip_space",
        space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 1},
        hyperparameters={"epochs": 1},
        loss="sparse_categorical_crossentropy",
        callbacks=callbacks,
    )


def test_a_training_worker_freezes_its_start_up_objects_once_before_its_first_model(tmp_path):
    """Keras clears its session with a full garbage collection before every model: the
    worker leaves what importing TensorFlow made out of those (``gc.freeze``), so that
    they walk only what was made since; once, so that the models it keeps warm are
    never frozen."""
    seen = tmp_path / "freeze_counts"

    def record_freeze_count(info):
        import gc

        import keras

        class FreezeCount(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                with open(seen, "a") as out:
                    out.write(f"{gc.get_freeze_count()}\n")

        return [FreezeCount()]

    with ProcessPoolEvaluator(_problem_calling(record_freeze_count), num_workers=1) as pool:
        for trial_id in range(2):
            pool.submit(Config(trial_id, (0, 1), {}, seed=0))
            trials = []
            while not trials:
                trials = pool.collect(timeout=120)
            assert trials[0].result.ok, trials[0].result.error
    first, second = map(int, seen.read_text().split())
    # TensorFlow's objects, frozen once, before the first model.
    assert first > 100_000 and second == first


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_the_workers_of_each_pool_start_from_one_server_in_the_drivers_environment(
    tmp_path, monkeypatch, start_method
):
    """By default workers fork from a server that imported TensorFlow once, for this
    pool and the next ones of the process (a notebook's next search starts at once);
    spawned, they are this process's children. Either way they work in the environment
    of the driver when their pool starts (not of the server, started a pool before)."""
    seen = tmp_path / "workers"

    def record_worker(info):
        with open(seen, "a") as out:
            out.write(f"{os.getpid()} {os.getppid()} {os.environ.get('NAS_TEST_MARK')}\n")
        return []

    problem = _problem_calling(record_worker)
    for mark in ("first", "second"):
        monkeypatch.setenv("NAS_TEST_MARK", mark)
        with ProcessPoolEvaluator(problem, num_workers=2, start_method=start_method) as pool:
            for trial_id in range(2):
                pool.submit(Config(trial_id, (0, 1), {}, seed=0))
            trials = []
            while len(trials) < 2:
                trials += pool.collect(timeout=120)
            assert all(trial.result.ok for trial in trials), [t.result.error for t in trials]
    workers = [line.split() for line in seen.read_text().splitlines()]
    assert [mark for _, _, mark in workers] == ["first"] * 2 + ["second"] * 2
    assert len({pid for pid, _, _ in workers}) == 4  # a new worker per pool
    [parent] = {int(parent) for _, parent, _ in workers}
    assert (parent == os.getpid()) == (start_method == "spawn")


def test_bad_pool_parameters_are_refused():
    with pytest.raises(ValueError, match="num_workers must be a positive int, got 0"):
        ProcessPoolEvaluator("toy_problems:problem", num_workers=0)
    with pytest.raises(ValueError, match="max_evals_per_worker must be a positive int"):
        ProcessPoolEvaluator("toy_problems:problem", num_workers=1, max_evals_per_worker=0)
    with pytest.raises(ValueError, match=r"start_method must be one of .*got 'fork'"):
        ProcessPoolEvaluator("toy_problems:problem", num_workers=1, start_method="fork")
