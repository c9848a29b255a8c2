"""The trainer: results, repeatability, failures by stage, NaN, timeouts, Keras state."""

from __future__ import annotations

import gc
import json
import threading
import warnings
import weakref

import numpy as np
import pytest

from nas._imports import import_keras
from nas.exceptions import ProblemError, TrainingError
from nas.problem import Categorical, Dataset, Float, Int, Problem
from nas.space import Concatenate, ConstantNode, Identity, Layer, SearchSpace, VariableNode
from nas.train import Stage, Status, TrainingResult, resolve_hyperparameters, train

SPACE = "spaces.dense_skip:dense_skip_space"
#: dense_skip with one layer: [layer (Identity, Dense 16 linear, Dense 16 relu, ...), skip].
DENSE_RELU = [2, 0]
IDENTITY = [0, 0]


def separable_data(num_samples: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_samples, 4)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def toy_data() -> Dataset:
    x, y = separable_data()
    return Dataset(train=(x[:240], y[:240]), valid=(x[240:], y[240:]))


def toy_problem(load_data=toy_data, **changes) -> Problem:
    arguments = {
        "space_kwargs": {"input_shape": [4], "output_units": 2, "num_layers": 1},
        "hyperparameters": {
            "learning_rate": Float(1e-4, 1e-1, log=True, default=1e-2),
            "batch_size": Int(8, 64, default=32),
            "optimizer": Categorical(["adam", "sgd"]),
            "epochs": 3,
        },
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
        "objective": "val_accuracy",
        "direction": "max",
    }
    arguments.update(changes)
    return Problem("toy", load_data, arguments.pop("space", SPACE), **arguments)


def regression_problem(load_data, loss="mse") -> Problem:
    return toy_problem(
        load_data,
        space_kwargs={
            "input_shape": [4],
            "output_units": 1,
            "num_layers": 1,
            "output_activation": None,
        },
        loss=loss,
        metrics=["mae"],
        objective="val_loss",
        direction="min",
    )


@pytest.fixture(scope="module")
def problem() -> Problem:
    return toy_problem()


def assert_json_without_sentinels(result: TrainingResult) -> None:
    text = json.dumps(result.to_dict(), allow_nan=False)  # NaN or inf would raise
    assert TrainingResult.from_dict(json.loads(text)) == result


# -- TrainingResult -------------------------------------------------------------------


def make_result(**changes) -> TrainingResult:
    fields = {
        "status": "ok",
        "objective": 0.9,
        "learning_curve": {"loss": [0.5, 0.3], "val_accuracy": [0.8, 0.9]},
        "num_parameters": 10,
        "epochs_trained": 2,
        "build_time": 0.1,
        "training_time": 1.0,
        "started_at": 1.0,
        "finished_at": 2.5,
        "error": None,
        "error_stage": None,
        "hyperparameters": {"learning_rate": 0.01},
        "arch_seq": [1, 0],
        "seed": 3,
    }
    return TrainingResult(**{**fields, **changes})


def test_result_round_trips_through_json_with_enums_as_strings():
    result = make_result(status="failed", objective=None, error="boom", error_stage="build")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["status"] == "failed" and data["error_stage"] == "build"
    again = TrainingResult.from_dict(data)
    assert again == result and again.status is Status.FAILED and again.error_stage is Stage.BUILD


@pytest.mark.parametrize(
    ("changes", "culprit"),
    [
        ({"status": "failed"}, "error None"),
        ({"error": "oops"}, "a ok result has error 'oops'"),
        ({"status": "failed", "error": "x"}, "error_stage None"),
        ({"status": "timeout", "error_stage": "train"}, "a timeout result has error_stage"),
    ],
)
def test_result_rejects_inconsistent_fields(changes, culprit):
    with pytest.raises(TrainingError, match=culprit):
        make_result(**changes)


def test_result_from_dict_names_missing_and_unknown_fields():
    data = make_result().to_dict()
    del data["seed"]
    data["score"] = 1
    with pytest.raises(
        TrainingError, match=r"missing fields \['seed'\], unknown fields \['score'\]"
    ):
        TrainingResult.from_dict(data)


# -- hyperparameters ------------------------------------------------------------------


def test_missing_hyperparameters_take_the_problem_defaults(problem):
    config = resolve_hyperparameters(problem, {"optimizer": "sgd"})
    assert config == {
        "learning_rate": 0.01,
        "batch_size": 32,
        "optimizer": "sgd",
        "epochs": 3,
        "patience": 0,
        "num_ranks": 1,
        "lr_schedule": "constant",
        "lr_warmup_epochs": 0,
        "lr_decay_rate": 0.9,
        "lr_final_fraction": 0.0,
    }


def test_epochs_override_replaces_a_fixed_number_of_epochs(problem):
    assert resolve_hyperparameters(problem, epochs=50)["epochs"] == 50
    with pytest.raises(ProblemError, match="'epochs' = 0: expected an int >= 1"):
        resolve_hyperparameters(problem, epochs=0)


def test_invalid_hyperparameters_raise_before_anything_runs(problem):
    with pytest.raises(ProblemError, match="'optimizer' = 'adagrad' is not one of"):
        train(problem, DENSE_RELU, {"optimizer": "adagrad"})
    with pytest.raises(ProblemError, match=r"unknown hyperparameter\(s\) \['dropout'\]"):
        train(problem, DENSE_RELU, {"dropout": 0.1})


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"arch_seq": "2,0"}, TypeError),
        ({"seed": -1}, ValueError),
        ({"timeout": 0}, ValueError),
    ],
)
def test_wrong_argument_types_raise(problem, arguments, error):
    with pytest.raises(error):
        train(problem, **{"arch_seq": DENSE_RELU, **arguments})


# -- training -------------------------------------------------------------------------


@pytest.mark.slow
def test_train_reports_the_best_epoch_and_the_learning_curve(problem):
    result = train(problem, DENSE_RELU, {"learning_rate": 0.05}, seed=1)
    assert result.status is Status.OK and result.error is None and result.error_stage is None
    curve = result.learning_curve
    assert set(curve) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 3 for values in curve.values())
    assert result.epochs_trained == 3
    assert result.objective == max(curve["val_accuracy"])
    assert result.objective > 0.8  # the classes are linearly separable
    # 4 * 16 + 16 weights and biases, then 16 * 2 + 2.
    assert result.num_parameters == 4 * 16 + 16 + 16 * 2 + 2
    assert result.build_time > 0 and result.training_time > 0
    assert result.started_at < result.finished_at
    assert result.hyperparameters["learning_rate"] == 0.05 and result.arch_seq == DENSE_RELU
    # One rank: the global batch is the batch; throughput counts 3 epochs of 240 samples
    # over the training batches only, so it exceeds samples / whole training time.
    assert result.num_ranks == 1 and result.data_parallel is None
    assert result.global_batch_size == 32
    assert result.samples_per_second > 3 * 240 / result.training_time
    assert_json_without_sentinels(result)


def test_training_state_is_made_before_the_first_trace_and_trains_as_plain_keras(
    problem, training_state_probe
):
    """Keras makes these variables inside the first trace of the train step, which
    TensorFlow then traces again; made beforehand, nothing trained changes: the learning
    curve is that of plain Keras compile and fit, to the bit."""
    keras = import_keras()
    probe = training_state_probe()
    result = train(problem, DENSE_RELU, {"learning_rate": 0.05}, seed=1, callbacks=[probe])
    assert result.ok, result.error
    assert probe.made is True

    keras.backend.clear_session()
    keras.utils.set_random_seed(1)
    model = problem.build_space().build(DENSE_RELU)
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    data = toy_data()
    probe = training_state_probe()
    history = model.fit(
        *data.train,
        batch_size=32,
        epochs=3,
        validation_data=data.valid,
        callbacks=[probe],
        verbose=0,
    )
    assert probe.made is False  # what the trainer saves
    assert result.learning_curve == history.history


def test_new_models_tracing_their_steps_are_not_warned_of_retracing(caplog):
    """TensorFlow counts traces of Keras' step code over all models; a search traces a
    new model per evaluation by design, which is not the retracing it warns of. A
    function of one's own retraced as often still is."""
    import tensorflow as tf

    def one_batch() -> Dataset:  # a trace for every call of the train and test steps
        x, y = separable_data(24)
        return Dataset(train=(x[:16], y[:16]), valid=(x[16:], y[16:]))

    problem = toy_problem(one_batch)
    with caplog.at_level("WARNING", logger="tensorflow"):
        for seed in range(4):
            assert train(problem, DENSE_RELU, epochs=1, seed=seed).ok
        assert not [r for r in caplog.records if "retracing" in r.getMessage()]

        @tf.function
        def own(value):
            return value * 2

        for size in range(1, 8):
            own(tf.zeros([size]))  # a new shape: a new trace
    assert any("retracing" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_minimised_objectives_report_the_smallest_value():
    result = train(regression_problem(regression_data), DENSE_RELU, seed=0)
    assert result.ok
    assert result.objective == min(result.learning_curve["val_loss"])


@pytest.mark.slow
def test_same_seed_gives_the_same_run_and_another_seed_another(problem):
    first = train(problem, DENSE_RELU, seed=5)
    second = train(problem, DENSE_RELU, seed=5)
    other = train(problem, DENSE_RELU, seed=6)
    assert first.learning_curve == second.learning_curve
    assert first.objective == second.objective
    assert other.learning_curve["loss"] != first.learning_curve["loss"]


@pytest.mark.slow
def test_keras_state_is_cleared_between_runs(problem):
    """Layer names restart and no model of an earlier run stays alive."""
    keras = import_keras()
    space = problem.build_space()
    built = []
    original_build = space.build

    def recording_build(arch_seq, *args, **kwargs):
        # Keras numbers unnamed layers per session: "dense", then "dense_1", ...
        probe = keras.layers.Dense(1).name
        model = original_build(arch_seq, *args, **kwargs)
        built.append((weakref.ref(model), probe))
        return model

    space.build = recording_build
    try:
        for _ in range(3):
            assert train(problem, DENSE_RELU, epochs=1).ok
    finally:
        del space.build
    gc.collect()
    assert built[0][1] == built[1][1] == built[2][1] == "dense"
    assert built[0][0]() is None and built[1][0]() is None


@pytest.mark.slow
def test_early_stopping_uses_patience_on_the_objective():
    # One validation sample: accuracy is 0 or 1, so it improves at most once and
    # training stops at most `patience` epochs later.
    x, y = separable_data(seed=2)
    data = Dataset(train=(x[:200], y[:200]), valid=(x[200:201], y[200:201]))
    impatient = toy_problem(lambda: data)
    result = train(impatient, DENSE_RELU, {"learning_rate": 0.05}, epochs=12)
    assert result.hyperparameters["patience"] == 0  # the problem's default: never stop
    assert result.ok and result.epochs_trained == 12
    patient = toy_problem(
        lambda: data,
        hyperparameters={"learning_rate": Float(1e-4, 1e-1, log=True), "patience": 2},
    )
    result = train(patient, DENSE_RELU, {"learning_rate": 0.05}, epochs=12)
    best_epoch = result.learning_curve["val_accuracy"].index(result.objective)
    assert result.ok and result.epochs_trained == min(12, best_epoch + 1 + 2)


def regression_data(sentinel_in_valid: bool = False) -> Dataset:
    x, _ = separable_data()
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0], dtype=np.float32))[:, None]
    if sentinel_in_valid:
        # A "missing value" sentinel of the kind instrument files carry: finite, so the
        # Dataset accepts it, but its square overflows float32 whatever the CPU.
        x[250, 1] = 1e30
    return Dataset(train=(x[:240], y[:240]), valid=(x[240:], y[240:]))


def nan_loss(y_true, y_pred):
    """A loss that is NaN for any prediction: diverges on every CPU and BLAS."""
    return import_keras().ops.mean(y_pred) * float("nan")


@pytest.mark.slow
def test_nan_loss_stops_training_and_fails_with_the_reason():
    result = train(regression_problem(regression_data, loss=nan_loss), DENSE_RELU, epochs=5)
    assert result.status is Status.FAILED and result.error_stage is Stage.TRAIN
    assert result.error == "loss became nan at epoch 1"
    assert result.objective is None and result.epochs_trained == 0
    assert_json_without_sentinels(result)


@pytest.mark.slow
def test_non_finite_objective_fails_with_the_reason():
    problem = regression_problem(lambda: regression_data(sentinel_in_valid=True))
    result = train(problem, DENSE_RELU, epochs=5)
    assert result.status is Status.FAILED and result.error_stage is Stage.TRAIN
    assert result.error in ("val_loss became nan at epoch 1", "val_loss became inf at epoch 1")
    assert result.objective is None
    assert result.learning_curve["val_loss"] == [None]
    assert_json_without_sentinels(result)


# -- failures by stage ----------------------------------------------------------------


def test_an_exception_in_load_data_fails_at_stage_data():
    def broken():
        raise FileNotFoundError("no such file: data.npz")

    result = train(toy_problem(broken), DENSE_RELU)
    assert result.status is Status.FAILED and result.error_stage is Stage.DATA
    assert result.error == "FileNotFoundError: no such file: data.npz"
    assert result.objective is None and result.num_parameters is None
    assert result.build_time is None and result.training_time is None
    assert_json_without_sentinels(result)


@pytest.mark.slow
def test_an_unbuildable_architecture_fails_at_stage_build(problem):
    result = train(problem, [99, 0])
    assert result.status is Status.FAILED and result.error_stage is Stage.BUILD
    assert result.error.startswith("SpaceError: arch_seq[0] = 99 is out of range")
    assert result.num_parameters is None and result.objective is None
    assert_json_without_sentinels(result)


def test_a_failing_space_factory_fails_at_stage_build():
    def factory(**kwargs):
        raise ValueError("num_layers must be positive")

    result = train(toy_problem(space=factory), DENSE_RELU)
    assert result.error_stage is Stage.BUILD
    assert result.error == "ValueError: num_layers must be positive"


def test_labels_beyond_the_output_units_fail_at_stage_data_before_fit():
    x, y = separable_data()
    y = y * 7  # labels 0 and 7 for a two-unit output: Keras would fail inside fit
    problem = toy_problem(lambda: Dataset(train=(x[:240], y[:240]), valid=(x[240:], y[240:])))
    result = train(problem, DENSE_RELU, epochs=1)
    assert result.status is Status.FAILED and result.error_stage is Stage.DATA
    assert result.error == (
        "ProblemError: space output 'output' has 2 units but y holds class indices from 0 to "
        "7: expected 0 to 1"
    )


def failing_space(**kwargs) -> SearchSpace:
    """A space whose custom layer fails in training only."""
    keras = import_keras()

    class Failing(keras.layers.Layer):
        def call(self, inputs, training=None):
            if training:
                raise ValueError("batch 7 went wrong")
            return inputs

    space = SearchSpace({"x": (4,)}, name="failing")
    hidden = space.add(ConstantNode(Layer(Failing)), space.input("x"))
    space.add(ConstantNode(Layer("Dense", units=2, activation="softmax")), hidden)
    return space


@pytest.mark.slow
def test_an_error_inside_fit_fails_at_stage_train():
    problem = toy_problem(space=failing_space, space_kwargs={})
    result = train(problem, [], epochs=1)
    assert result.status is Status.FAILED and result.error_stage is Stage.TRAIN
    assert "batch 7 went wrong" in result.error and result.objective is None
    assert result.num_parameters is not None


def out_of_memory_space(**kwargs) -> SearchSpace:
    """A space whose custom layer runs out of memory in training (as a big model would)."""
    keras = import_keras()

    class Greedy(keras.layers.Layer):
        def call(self, inputs, training=None):
            if training:
                raise MemoryError("Unable to allocate 4.00 TiB for an array")
            return inputs

    space = SearchSpace({"x": (4,)}, name="greedy")
    hidden = space.add(ConstantNode(Layer(Greedy)), space.input("x"))
    space.add(ConstantNode(Layer("Dense", units=2, activation="softmax")), hidden)
    return space


@pytest.mark.slow
def test_a_custom_layer_out_of_memory_fails_the_evaluation_with_the_reason():
    result = train(toy_problem(space=out_of_memory_space, space_kwargs={}), [], epochs=1)
    assert result.status is Status.FAILED and result.error_stage is Stage.TRAIN
    assert result.error.startswith("MemoryError") and "Greedy" in result.error


def two_input_space(**kwargs) -> SearchSpace:
    space = SearchSpace({"a": (3,), "b": (2,)}, name="two_inputs")
    merged = space.add(ConstantNode(Concatenate()), space.input("a"), space.input("b"))
    hidden = space.add(VariableNode([Identity(), Layer("Dense", units=8, activation="relu")]))
    space.connect(merged, hidden)
    space.add(ConstantNode(Layer("Dense", units=2, activation="softmax")), hidden)
    return space


def two_input_data(names=("a", "b")) -> Dataset:
    x, y = separable_data(100)
    inputs = {names[0]: x[:, :3], names[1]: x[:, 2:]}
    train_x = {name: array[:80] for name, array in inputs.items()}
    valid_x = {name: array[80:] for name, array in inputs.items()}
    return Dataset(train=(train_x, y[:80]), valid=(valid_x, y[80:]))


@pytest.mark.slow
def test_named_inputs_feed_a_multi_input_space():
    problem = toy_problem(two_input_data, space=two_input_space, space_kwargs={})
    result = train(problem, [1], epochs=2)
    assert result.ok, result.error


def test_one_input_keyed_by_its_name_trains_as_plain_arrays_without_a_keras_warning():
    def keyed_data() -> Dataset:
        plain = toy_data()
        return Dataset(
            train=({"input": plain.train[0]}, plain.train[1]),
            valid=({"input": plain.valid[0]}, plain.valid[1]),
        )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keyed = train(toy_problem(keyed_data), DENSE_RELU, epochs=1)
    assert keyed.ok, keyed.error
    assert not [w for w in caught if "structure" in str(w.message)], caught[0].message
    plain = train(toy_problem(), DENSE_RELU, epochs=1)
    assert keyed.learning_curve == plain.learning_curve


def test_input_names_that_do_not_match_the_space_fail_at_stage_data():
    problem = toy_problem(
        lambda: two_input_data(("a", "c")), space=two_input_space, space_kwargs={}
    )
    result = train(problem, [1], epochs=1)
    assert result.error_stage is Stage.DATA
    assert "the data's inputs ['a', 'c'] do not match the space's ['a', 'b']" in result.error


def test_one_array_for_a_multi_input_space_fails_at_stage_data():
    problem = toy_problem(toy_data, space=two_input_space, space_kwargs={})
    result = train(problem, [1], epochs=1)
    assert result.error_stage is Stage.DATA and "make x a dict of arrays" in result.error


# -- timeout --------------------------------------------------------------------------


@pytest.mark.slow
def test_timeout_stops_between_batches_with_the_partial_curve(problem):
    result = train(problem, DENSE_RELU, {"batch_size": 8}, epochs=10_000, timeout=3.0)
    assert result.status is Status.TIMEOUT and result.error_stage is None
    assert result.error.startswith("timed out after")
    # 10,000 epochs of 30 batches would run for minutes on any machine: it stopped.
    assert result.epochs_trained < 10_000
    assert all(len(v) == result.epochs_trained for v in result.learning_curve.values())
    if result.epochs_trained:
        assert result.objective == max(result.learning_curve["val_accuracy"])
    else:
        assert result.objective is None
    assert_json_without_sentinels(result)


@pytest.mark.slow
def test_an_interrupt_request_stops_training_at_the_next_batch(problem):
    from nas.train._interrupt import INTERRUPTED, clear_interrupt, request_interrupt

    threading.Timer(2.0, request_interrupt).start()
    try:
        result = train(problem, DENSE_RELU, {"batch_size": 8}, epochs=10_000)
    finally:
        clear_interrupt()
    assert result.status is Status.TIMEOUT and result.error == INTERRUPTED
    assert result.epochs_trained < 10_000  # minutes of work without the request
    # Cleared: the next training runs to its end.
    assert train(problem, DENSE_RELU, epochs=1).status is Status.OK


# -- continuing a checkpoint ----------------------------------------------------------


@pytest.mark.slow
def test_a_segment_continues_the_weights_and_optimizer_state_of_a_checkpoint(problem, tmp_path):
    keras = import_keras()
    first, second = tmp_path / "first.keras", tmp_path / "second.keras"
    hyperparameters = {"learning_rate": 0.01, "batch_size": 40}  # 240 samples: 6 steps
    one = train(problem, DENSE_RELU, hyperparameters, epochs=2, seed=4, checkpoint_path=first)
    assert one.status is Status.OK and one.epochs_trained == 2
    saved = keras.saving.load_model(first)
    assert int(saved.optimizer.iterations.numpy()) == 2 * 6

    changed = {**hyperparameters, "learning_rate": 0.002}  # as population-based training does
    two = train(
        problem,
        DENSE_RELU,
        changed,
        epochs=5,
        seed=4,
        initial_epoch=2,
        start_from=first,
        checkpoint_path=second,
    )
    assert two.status is Status.OK, two.error
    assert two.epochs_trained == 3 and len(two.learning_curve["loss"]) == 3
    continued = keras.saving.load_model(second)
    # The optimizer went on counting (its moments came along), at the new rate.
    assert int(continued.optimizer.iterations.numpy()) == 5 * 6
    assert float(continued.optimizer.learning_rate.numpy()) == pytest.approx(0.002)
    # It started from the checkpoint, not from fresh weights: its first epoch's loss is
    # about where the first segment ended, below a fresh model's first epoch.
    assert two.learning_curve["loss"][0] < one.learning_curve["loss"][0]


def test_an_evaluation_finishes_after_its_checkpoint_and_model_are_written(problem, tmp_path):
    checkpoint, model = tmp_path / "segment.keras", tmp_path / "trial.keras"
    result = train(problem, DENSE_RELU, epochs=1, checkpoint_path=checkpoint, model_path=model)
    assert result.status is Status.OK, result.error
    # Writing both is part of the evaluation (its duration, the pool's utilisation).
    # A file's time comes from the kernel's coarse clock, never ahead of time.time().
    assert result.finished_at >= max(checkpoint.stat().st_mtime, model.stat().st_mtime)


def test_initial_epoch_must_leave_an_epoch_to_train(problem):
    with pytest.raises(ValueError, match=r"initial_epoch must be an int from 0 to epochs - 1 = 2"):
        train(problem, DENSE_RELU, epochs=3, initial_epoch=3)


@pytest.mark.slow
def test_callbacks_of_ones_own_see_every_epoch_after_the_trainers(problem):
    keras = import_keras()
    seen = []

    class Epochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, sorted(logs)))

    result = train(problem, DENSE_RELU, epochs=2, callbacks=[Epochs()])
    assert result.ok and [epoch for epoch, _ in seen] == [0, 1]
    assert "val_accuracy" in seen[0][1]
