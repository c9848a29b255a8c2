"""The rules of data-parallel training that need no MPI: shards, learning rate, GPUs."""

from __future__ import annotations

import numpy as np
import pytest

from nas.exceptions import ProblemError
from nas.train._devices import gpu_for_rank
from nas.train._group import (
    open_group,
    scaled_learning_rate,
    training_shard,
    validation_shard,
    warmup_steps,
    weights_digest,
)


def data(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n * 2).reshape(n, 2), np.arange(n)


def test_training_shards_are_disjoint_equal_and_strided():
    shards = [training_shard(data(10), rank, 4) for rank in range(4)]
    labels = [y.tolist() for _, y in shards]
    # Two samples each (10 // 4): equal step counts on every rank; 8 and 9 left out.
    assert labels == [[0, 4], [1, 5], [2, 6], [3, 7]]
    assert shards[1][0].tolist() == [[2, 3], [10, 11]]


def test_validation_shards_cover_every_sample_once():
    shards = [validation_shard(data(10), rank, 4)[1].tolist() for rank in range(4)]
    assert sorted(sum(shards, [])) == list(range(10))
    assert [len(shard) for shard in shards] == [3, 3, 2, 2]


def test_shards_of_named_inputs_keep_the_names():
    x = {"a": np.arange(6), "b": np.arange(6) * 10}
    shard, y = training_shard((x, np.arange(6)), 1, 2)
    assert {name: values.tolist() for name, values in shard.items()} == {
        "a": [1, 3, 5],
        "b": [10, 30, 50],
    }
    assert y.tolist() == [1, 3, 5]


def test_too_few_samples_for_the_ranks_is_a_clear_error():
    with pytest.raises(ProblemError, match="3 training samples cannot be shared by 4 ranks"):
        training_shard(data(3), 0, 4)


def test_learning_rate_scales_linearly_with_a_warmup_of_at_most_five_epochs():
    assert scaled_learning_rate(0.01, 4) == pytest.approx(0.04)
    assert scaled_learning_rate(0.01, 1) == 0.01
    assert warmup_steps(steps_per_epoch=10, epochs=100) == 50  # five epochs
    assert warmup_steps(steps_per_epoch=10, epochs=8) == 20  # a quarter of a short run
    assert warmup_steps(steps_per_epoch=3, epochs=1) == 1  # never zero


def test_one_rank_or_no_communicator_trains_alone():
    class OneRank:
        def Get_size(self) -> int:  # noqa: N802 - mpi4py's name
            return 1

        def allgather(self, value):
            return [value]

    assert open_group(None) is None
    assert open_group(OneRank()) is None
    with pytest.raises(TypeError, match="mpi4py communicator"):
        open_group("world")


def test_each_local_rank_gets_its_own_gpu_and_none_without_gpus():
    assert [gpu_for_rank(rank, 4) for rank in range(6)] == [0, 1, 2, 3, 0, 1]
    assert gpu_for_rank(3, 0) is None
    with pytest.raises(ValueError, match=">= 0"):
        gpu_for_rank(-1, 2)


def test_warmup_raises_the_rate_linearly_then_holds_it():
    from nas._imports import import_keras
    from nas.train._callbacks import LearningRateControl
    from nas.train._group import WarmupPlan
    from nas.train._learning_rate import LearningRatePlan, LearningRateSchedule

    keras = import_keras()
    seen: list[float] = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(
            float(model.optimizer.learning_rate.numpy())
        )
    )
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x, y = data(12)
    ramp = WarmupPlan(0.01, 0.05, steps=4, first_step=0)
    plan = LearningRatePlan(0.01, LearningRateSchedule(), 1, steps_per_epoch=6, group=ramp)
    model.fit(
        x.astype("float32"),
        y.astype("float32"),
        batch_size=2,  # six steps
        epochs=1,
        callbacks=[LearningRateControl(plan), record],
        verbose=0,
    )
    assert seen == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05, 0.05])


class FakeGroupComm:
    """Stands in for a 2-rank communicator whose other rank passed ``other``."""

    def __init__(self, other):
        self.other = other

    def Get_size(self) -> int:  # noqa: N802 - mpi4py's name
        return 2

    def Get_rank(self) -> int:  # noqa: N802
        return 0

    def allgather(self, value):
        return [value, self.other]


def test_weights_that_differ_by_one_bit_are_caught():
    weights = [np.ones((2, 3), np.float32), np.zeros(3, np.float32)]
    same = open_group(FakeGroupComm(weights_digest([w.copy() for w in weights])))
    assert not same.weights_differ(weights)
    nudged = [weights[0].copy(), weights[1].copy()]
    nudged[1][2] = np.nextafter(np.float32(0), np.float32(1))
    other = open_group(FakeGroupComm(weights_digest(nudged)))
    assert other.weights_differ(weights)


def test_the_group_outcome_names_the_failing_rank_and_failure_wins_over_timeout():
    group = open_group(FakeGroupComm(("loss became nan at epoch 2", False)))
    assert group.outcome(None, True) == ("rank 1: loss became nan at epoch 2", False)
    calm = open_group(FakeGroupComm((None, True)))
    assert calm.outcome(None, False) == (None, True)
    failing = open_group(FakeGroupComm(("OSError: no disk", "data")))
    assert failing.first_error(None, "build") == ("rank 1: OSError: no disk", "data")
    assert open_group(FakeGroupComm((None, "build"))).first_error(None, "build") == (
        None,
        "build",
    )
