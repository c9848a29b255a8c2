"""Warm continuation: a worker keeps the model a segment trained, and the next segment of
that configuration continues it in memory, as it would have from the checkpoint."""

from __future__ import annotations

import os

import numpy as np
import pytest

from nas._imports import import_keras
from nas.problem import Categorical, Dataset, Float, Problem
from nas.space import ConstantNode, Layer, SearchSpace, VariableNode
from nas.train import WarmModels, train
from nas.train._warm import reseed_keeping_compiled_functions

keras = import_keras()


def dropout_space(**kwargs) -> SearchSpace:
    """Dense layers with dropout: continuing must draw the same dropout masks."""
    space = SearchSpace({"x": (6,)}, name="dropout")
    hidden = space.add(
        VariableNode(
            [
                Layer("Dense", units=16, activation="relu"),
                Layer("Dense", units=32, activation="tanh"),
            ]
        ),
        space.input("x"),
    )
    dropped = space.add(ConstantNode(Layer("Dropout", rate=0.3)), hidden)
    space.add(ConstantNode(Layer("Dense", units=3, activation="softmax")), dropped)
    return space


def three_classes() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    y = np.digitize(x[:, 0] + 0.5 * x[:, 1], [-0.5, 0.5]).astype(np.int64)
    return Dataset(train=(x[:320], y[:320]), valid=(x[320:], y[320:]))


PROBLEM = Problem(
    "three_classes",
    three_classes,
    dropout_space,
    hyperparameters={
        "learning_rate": Float(1e-3, 1e-1, log=True, default=0.01),
        "batch_size": 32,
        "optimizer": Categorical(["adam", "sgd"]),
        "epochs": 6,
    },
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    objective="val_accuracy",
    direction="max",
)


class ModelRecorder(keras.callbacks.Callback):
    """Records the model it is given, its traced training step and its optimizer's step
    count at the start."""

    def on_train_begin(self, logs=None):
        self.trained = self.model
        self.train_function = self.model.train_function
        self.iterations_at_start = int(self.model.optimizer.iterations.numpy())

    def on_train_end(self, logs=None):
        self.iterations_at_end = int(self.model.optimizer.iterations.numpy())


def weights(path) -> list[np.ndarray]:
    return keras.saving.load_model(path).get_weights()


def first_segment(tmp_path, store, arch_seq=(0,), seed=0, name="first"):
    recorder = ModelRecorder()
    result = train(
        PROBLEM,
        list(arch_seq),
        {"optimizer": "adam"},
        epochs=2,
        seed=seed,
        checkpoint_path=tmp_path / f"{name}.keras",
        warm_models=store,
        callbacks=[recorder],
    )
    assert result.ok and not result.warm, result.error
    return result, recorder


def next_segment(tmp_path, store, name, arch_seq=(0,), start="first", **settings):
    recorder = ModelRecorder()
    result = train(
        PROBLEM,
        list(arch_seq),
        {"optimizer": "adam", "learning_rate": 0.02},
        epochs=4,
        seed=0,
        initial_epoch=2,
        start_from=tmp_path / f"{start}.keras",
        checkpoint_path=tmp_path / f"{name}.keras",
        warm_models=store,
        callbacks=[recorder],
        **settings,
    )
    assert result.ok, result.error
    return result, recorder


def test_a_continued_segment_takes_the_kept_model_and_trains_it_as_the_checkpoint_would(
    tmp_path,
):
    store = WarmModels(2**30)
    _, first = first_segment(tmp_path, store)
    assert len(store) == 1 and store.holding() == [os.path.abspath(tmp_path / "first.keras")]
    # Another model is trained in between, as a worker does.
    train(PROBLEM, [1], epochs=1, seed=3)

    cold, cold_recorder = next_segment(tmp_path, None, "cold")
    warm, warm_recorder = next_segment(tmp_path, store, "warm")

    assert warm.warm and not cold.warm
    # No rebuild and no reload: the very model the first segment trained, its
    # optimizer counting on from where it stopped (10 steps per epoch).
    assert warm_recorder.trained is first.trained
    # Not compiled again: the training step traced in the first segment is the one run.
    assert warm_recorder.train_function is first.train_function is not None
    assert cold_recorder.train_function is not first.train_function
    assert warm_recorder.iterations_at_start == first.iterations_at_end == 20
    assert cold_recorder.iterations_at_start == 20
    assert warm_recorder.iterations_at_end == cold_recorder.iterations_at_end == 40
    # Same seed, same state: the same weights and curve as from the checkpoint (the new
    # learning rate reached the kept optimizer too).
    for warm_array, cold_array in zip(
        weights(tmp_path / "warm.keras"), weights(tmp_path / "cold.keras"), strict=True
    ):
        np.testing.assert_allclose(warm_array, cold_array, rtol=1e-6, atol=1e-7)
    assert warm.learning_curve.keys() == cold.learning_curve.keys()
    for key, values in cold.learning_curve.items():
        np.testing.assert_allclose(warm.learning_curve[key], values, rtol=1e-6, atol=1e-7)
    assert warm.epochs_trained == cold.epochs_trained == 2
    # The cold one loaded a model of its own; the warm one built nothing. Both report
    # where their time went.
    assert cold_recorder.trained is not first.trained and warm.build_time == 0.0
    for result in (warm, cold):
        assert result.startup_seconds is not None and result.epoch_seconds is not None
    # Taken once: it now stands for the warm segment's own checkpoint.
    assert store.holding() == [os.path.abspath(tmp_path / "warm.keras")]


def test_a_model_evicted_by_the_memory_budget_continues_cold_from_its_checkpoint(tmp_path):
    store = WarmModels(2**30)
    _, first = first_segment(tmp_path, store, seed=0, name="first")
    one_model = store.nbytes
    assert one_model > WarmModels.OVERHEAD_PER_MODEL
    # Room for one model: keeping the second evicts the first, least recently kept.
    store.memory = one_model + one_model // 2
    first_segment(tmp_path, store, seed=1, name="second")
    assert store.holding() == [os.path.abspath(tmp_path / "second.keras")]

    kept, _ = next_segment(tmp_path, store, "kept", start="second")
    assert kept.warm
    evicted, recorder = next_segment(tmp_path, store, "evicted", start="first")
    assert not evicted.warm and recorder.trained is not first.trained  # loaded afresh
    assert recorder.iterations_at_start == 20  # the checkpoint's optimizer state


def test_a_budget_smaller_than_a_model_keeps_nothing(tmp_path):
    store = WarmModels(WarmModels.OVERHEAD_PER_MODEL)
    first_segment(tmp_path, store)
    assert len(store) == 0 and store.nbytes == 0
    result, _ = next_segment(tmp_path, store, "second")
    assert not result.warm


def test_another_optimizer_compiles_the_kept_model_afresh(tmp_path):
    store = WarmModels(2**30)
    first_segment(tmp_path, store)
    result = train(
        PROBLEM,
        [0],
        {"optimizer": "sgd"},
        epochs=4,
        initial_epoch=2,
        start_from=tmp_path / "first.keras",
        warm_models=store,
    )
    assert result.ok and result.warm, result.error


def small_model(units: int = 4):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(units)])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_a_rewritten_or_deleted_checkpoint_is_never_continued_from_memory(tmp_path):
    store = WarmModels(2**30)
    model = small_model()
    checkpoint = tmp_path / "c.keras"
    model.save(checkpoint)
    store.keep(checkpoint, model, [1, 2])
    assert store.take(checkpoint, [2, 1]) is None  # another architecture
    store.keep(checkpoint, model, [1, 2])
    assert store.take(checkpoint, [1, 2]) is model
    assert store.take(checkpoint, [1, 2]) is None  # continued once only

    store.keep(checkpoint, model, [1, 2])
    small_model(8).save(checkpoint)  # a resumed search saved another segment there
    assert store.take(checkpoint, [1, 2]) is None

    store.keep(checkpoint, model, [1, 2])
    checkpoint.unlink()  # the driver released it
    assert store.holding() == [] and len(store) == 0


def test_a_model_is_counted_by_its_and_its_optimizers_variables():
    model = small_model(5)
    model.optimizer.build(model.trainable_variables)
    # Dense(3 -> 5): 20 float32 weights; Adam keeps two moments of each, and a few
    # scalars (its step count, its learning rate).
    counted = WarmModels.cost(model) - WarmModels.OVERHEAD_PER_MODEL
    assert 4 * 20 * 3 < counted <= 4 * 20 * 3 + 64


@pytest.mark.parametrize("memory", [-1, 1.5, "1GB", True, None])
def test_a_budget_that_is_not_a_number_of_bytes_is_refused(memory):
    with pytest.raises(ValueError, match=r"warm_memory must be a non-negative int of bytes, got"):
        WarmModels(memory)


def draws() -> dict[str, list]:
    """A number from each generator a segment's ``fit`` can draw from after seeding."""
    import random

    import tensorflow as tf

    @tf.function
    def shuffled_in_a_graph():
        return tf.random.shuffle(tf.range(20))

    return {
        "python": [random.random()],
        "numpy": np.random.random(2).tolist(),
        "tf.data shuffle": [int(x) for x in tf.data.Dataset.range(20).shuffle(20)],
        "graph shuffle": shuffled_in_a_graph().numpy().tolist(),
        "keras.random": keras.ops.convert_to_numpy(keras.random.uniform((2,))).tolist(),
    }


def test_reseeding_a_warm_model_draws_what_keras_seeding_draws():
    keras.utils.set_random_seed(11)
    expected = draws()
    draws()  # every generator moves on, as another segment's training moves them
    keras.utils.set_random_seed(3)
    draws()
    reseed_keeping_compiled_functions(11)
    assert draws() == expected
