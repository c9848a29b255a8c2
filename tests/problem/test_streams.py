"""Data given as streams (issue 17, item 1): a ``tf.data`` pipeline, a Keras
``PyDataset``, a generator, as a notebook user writes them.

Each stream trains like the same arrays; mistakes are refused with one line when the
problem is checked, or fail the evaluation naming the split and the input.
"""

from __future__ import annotations

import numpy as np
import pytest

from nas.exceptions import ProblemError
from nas.problem import Categorical, Dataset, Problem, Shard, Stream, normalize
from nas.train import Stage, Status, train

SPACE = "spaces.dense_skip:dense_skip_space"
ROWS, FEATURES, TRAIN_ROWS = 96, 4, 64


def arrays():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, FEATURES)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return (x[:TRAIN_ROWS], y[:TRAIN_ROWS]), (x[TRAIN_ROWS:], y[TRAIN_ROWS:])


def samples(split):
    """A tf.data pipeline of the split's samples, of unknown length (as a file reader's)."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(split).filter(lambda x, y: True)


def make_problem(load_data, **kwargs) -> Problem:
    settings = {
        "space_kwargs": {"input_shape": [FEATURES], "output_units": 2, "num_layers": 1},
        "hyperparameters": {"batch_size": 16, "epochs": 2},
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
        "objective": "val_accuracy",
        "direction": "max",
    }
    return Problem("streamed", load_data, SPACE, **{**settings, **kwargs})


def streamed_problem(**kwargs) -> Problem:
    train_split, valid_split = arrays()
    return make_problem(
        lambda: Dataset(
            train=Stream(lambda seed: samples(train_split).shuffle(64, seed=seed)),
            valid=Stream(lambda: samples(valid_split)),
        ),
        **kwargs,
    )


def a_batch_pydataset(split, batch_size):
    import keras

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return -(-len(split[1]) // batch_size)

        def __getitem__(self, index):
            rows = slice(index * batch_size, (index + 1) * batch_size)
            return split[0][rows], split[1][rows]

    return Batches()


# -- definitions refused at once ------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Stream("data/*.tfrecord"), "make must be a function returning a tf.data"),
        (lambda: Stream(lambda path: None), "make takes an argument 'path' that nas cannot give"),
        (lambda: Stream(lambda: None, num_samples=0), "num_samples must be a positive int"),
        (
            lambda: Stream(lambda seed: None, batched=True),
            "batched pipeline's batches must have the configuration's batch size: make must "
            "take the argument batch_size",
        ),
        (lambda: Stream(lambda batch_size: None, batched="yes"), "batched must be True or"),
        (
            lambda: Dataset(train=[1, 2, 3], valid=None),
            "must be a pair \\(x, y\\) or a nas.problem",
        ),
    ],
)
def test_a_stream_that_cannot_work_is_refused_when_defined(make, message):
    with pytest.raises(ProblemError, match=message):
        make()


def test_a_stream_is_given_the_arguments_it_takes_by_name():
    seen = {}

    def pipeline(shard, batch_size):
        seen.update(shard=shard, batch_size=batch_size)
        return samples(arrays()[0])

    stream = Stream(pipeline)
    assert stream.arguments == ("batch_size", "shard") and stream.shards_itself
    stream.open(batch_size=8, shard=Shard(1, 2), seed=5)
    assert seen == {"shard": Shard(1, 2), "batch_size": 8}
    with pytest.raises(ValueError, match="0 <= index < count"):
        Shard(2, 2)


def test_a_streams_names_and_shapes_are_checked_against_the_space():
    problem = streamed_problem()
    problem.check()  # fits: no error
    assert problem.load_data().input_names is None

    wide = streamed_problem(space_kwargs={"input_shape": [5], "output_units": 2, "num_layers": 1})
    with pytest.raises(ProblemError, match=r"takes samples of shape \(5,\) but the data's x has"):
        wide.check()


def test_a_pipeline_that_batches_itself_is_told_to_yield_single_samples():
    train_split, valid_split = arrays()
    problem = make_problem(
        lambda: Dataset(
            train=Stream(lambda: samples(train_split).batch(8)),
            valid=Stream(lambda: samples(valid_split)),
        )
    )
    with pytest.raises(
        ProblemError,
        match=r"must yield single samples .* remove its \.batch\(\), or give "
        r"Stream\(make, batched=True\)",
    ):
        problem.check()


def test_a_batched_stream_that_yields_samples_is_told_to_batch():
    train_split, valid_split = arrays()
    problem = make_problem(
        lambda: Dataset(
            train=Stream(lambda batch_size: samples(train_split), batched=True),
            valid=Stream(lambda: samples(valid_split)),
        )
    )
    with pytest.raises(
        ProblemError, match=r"batched=True\)'s tf.data pipeline must yield batches"
    ):
        problem.check()


def test_train_and_valid_streams_with_other_names_are_refused():
    import tensorflow as tf

    (x, y), (xv, yv) = arrays()
    problem = make_problem(
        lambda: Dataset(
            train=Stream(lambda: tf.data.Dataset.from_tensor_slices(({"input": x}, y))),
            valid=Stream(lambda: tf.data.Dataset.from_tensor_slices(({"features": xv}, yv))),
        )
    )
    with pytest.raises(ProblemError, match=r"train inputs \['input'\] and valid inputs"):
        problem.check()


# -- training -------------------------------------------------------------------------


@pytest.mark.slow
def test_a_tf_data_stream_trains_like_the_same_arrays():
    train_split, valid_split = arrays()
    in_memory = train(make_problem(lambda: Dataset(train_split, valid_split)), [1, 1], seed=2)
    streamed = train(streamed_problem(), [1, 1], seed=2)
    assert streamed.status is Status.OK, streamed.error
    assert streamed.epochs_trained == in_memory.epochs_trained == 2
    # Samples counted from a pipeline of unknown length: the arrays' own count.
    assert streamed.samples_per_second is not None
    assert streamed.num_parameters == in_memory.num_parameters


@pytest.mark.slow
def test_one_batch_per_epoch_gives_the_same_model_from_a_stream_and_from_arrays(tmp_path):
    # With the whole split in one batch, the order of samples (shuffled by Keras for
    # arrays, not at all here) only reorders a sum: the weights agree to rounding.
    import keras

    train_split, valid_split = arrays()
    one_batch = {"batch_size": TRAIN_ROWS, "epochs": 2}
    models = {}
    for name, load in {
        "arrays": lambda: Dataset(train_split, valid_split),
        "stream": lambda: Dataset(Stream(lambda: samples(train_split)), valid_split),
    }.items():
        problem = make_problem(load, hyperparameters=one_batch)
        result = train(problem, [1, 1], seed=2, model_path=tmp_path / f"{name}.keras")
        assert result.status is Status.OK, result.error
        models[name] = keras.saving.load_model(tmp_path / f"{name}.keras").get_weights()
    for a, b in zip(models["arrays"], models["stream"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_pydataset_and_a_generator_train(training_state_probe):
    import tensorflow as tf

    train_split, valid_split = arrays()

    def generated():
        def rows():
            yield from zip(*valid_split)

        signature = (
            tf.TensorSpec((FEATURES,), tf.float32),
            tf.TensorSpec((), tf.int64),
        )
        return tf.data.Dataset.from_generator(rows, output_signature=signature)

    problem = make_problem(
        lambda: Dataset(
            train=Stream(lambda batch_size: a_batch_pydataset(train_split, batch_size)),
            valid=Stream(generated),
        )
    )
    problem.check()
    probe = training_state_probe()
    result = train(problem, [1, 1], seed=0, callbacks=[probe])
    assert result.status is Status.OK, result.error
    assert result.epochs_trained == 2 and len(result.learning_curve["val_accuracy"]) == 2
    assert probe.made  # from the PyDataset's first batch


def test_a_pydataset_must_be_made_with_the_configurations_batch_size():
    train_split, valid_split = arrays()
    problem = make_problem(
        lambda: Dataset(
            train=Stream(lambda: a_batch_pydataset(train_split, 16)),
            valid=valid_split,
        )
    )
    result = train(problem, [1, 1])
    assert result.status is Status.FAILED and result.error_stage is Stage.DATA
    assert "make must take the argument batch_size" in result.error


def test_an_endless_pipeline_fails_the_evaluation_saying_so():
    train_split, valid_split = arrays()
    problem = make_problem(
        lambda: Dataset(train=Stream(lambda: samples(train_split).repeat()), valid=valid_split)
    )
    result = train(problem, [1, 1])
    assert result.status is Status.FAILED and result.error_stage is Stage.DATA
    assert "infinite pipeline" in result.error and "remove its .repeat()" in result.error


@pytest.mark.slow
def test_a_nan_read_from_a_stream_fails_the_evaluation_naming_split_and_input():
    import tensorflow as tf

    (x, y), valid_split = arrays()
    x = x.copy()
    x[40, 2] = np.nan
    problem = make_problem(
        lambda: Dataset(
            train=Stream(lambda: tf.data.Dataset.from_tensor_slices(({"input": x}, y))),
            valid=({"input": valid_split[0]}, valid_split[1]),
        ),
        space_kwargs={"input_shape": [FEATURES], "output_units": 2, "num_layers": 1},
    )
    result = train(problem, [1, 1])
    assert result.status is Status.FAILED and result.error_stage is Stage.TRAIN
    assert "Dataset train x 'input' holds NaN or inf" in result.error


@pytest.mark.slow
def test_two_outputs_stream_their_targets_by_name(training_state_probe):
    import tensorflow as tf

    from nas.space import ConstantNode, Layer, SearchSpace, VariableNode

    def two_heads():
        space = SearchSpace({"input": (FEATURES,)})
        hidden = space.add(
            VariableNode([Layer("Dense", units=8), Layer("Dense", units=16)]), space.input()
        )
        label = space.add(
            ConstantNode(Layer("Dense", units=2, activation="softmax"), "label"), hidden
        )
        score = space.add(ConstantNode(Layer("Dense", units=1), "score"), hidden)
        space.set_outputs(label, score)
        return space

    (x, y), (xv, yv) = arrays()

    def pipeline(features, labels):
        targets = {"label": labels, "score": features.sum(axis=1)}
        return tf.data.Dataset.from_tensor_slices(({"input": features}, targets))

    problem = Problem(
        "two_heads",
        lambda: Dataset(
            train=Stream(lambda: pipeline(x, y)), valid=Stream(lambda: pipeline(xv, yv))
        ),
        two_heads,
        hyperparameters={"batch_size": 16, "epochs": 1},
        loss={"label": "sparse_categorical_crossentropy", "score": "mse"},
        metrics={"label": ["accuracy"], "score": ["mae"]},
        objective="val_label_accuracy",
        direction="max",
    )
    assert problem.load_data().output_names == ["label", "score"]
    problem.check()
    probe = training_state_probe()
    result = train(problem, [0], callbacks=[probe])
    assert result.status is Status.OK, result.error
    assert {"val_label_accuracy", "val_score_mae"} <= set(result.learning_curve)
    assert probe.made  # from zeros shaped as the pipeline's samples, by name


def convolution():
    """A space over sequences of any length (of at least 5, the larger kernel)."""
    from nas.space import ConstantNode, Layer, SearchSpace, VariableNode

    space = SearchSpace({"input": (None, 1)})
    kernels = [Layer("Conv1D", filters=4, kernel_size=k) for k in (3, 5)]
    features = space.add(VariableNode(kernels), space.input())
    pooled = space.add(ConstantNode(Layer("GlobalMaxPooling1D")), features)
    output = space.add(ConstantNode(Layer("Dense", units=2, activation="softmax")), pooled)
    space.set_outputs(output)
    return space


@pytest.mark.slow
def test_a_pipeline_of_sequences_of_open_length_trains():
    """A pipeline that leaves a dimension open (sequences of any length, here all of 8)
    gives no zeros to make the training state from, as a batch of length 1 would be too
    short for this convolution: Keras makes it in its first trace instead."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    rows = [(rng.normal(size=(8, 1)).astype(np.float32), i % 2) for i in range(40)]

    def sequences():
        signature = (tf.TensorSpec((None, 1), tf.float32), tf.TensorSpec((), tf.int64))
        return tf.data.Dataset.from_generator(lambda: iter(rows), output_signature=signature)

    problem = Problem(
        "sequences",
        lambda: Dataset(train=Stream(sequences), valid=Stream(sequences)),
        convolution,
        hyperparameters={"batch_size": 4, "epochs": 1},
        loss="sparse_categorical_crossentropy",
    )
    result = train(problem, [0])
    assert result.status is Status.OK, result.error


def test_normalize_reads_a_stream_in_blocks_and_finds_the_arrays_statistics():
    train_split, valid_split = arrays()
    from_arrays = normalize()(Dataset(train_split, valid_split)).get_config()
    from_stream = normalize()(
        Dataset(Stream(lambda: samples(train_split)), Stream(lambda: samples(valid_split)))
    ).get_config()
    np.testing.assert_allclose(from_stream["mean"], from_arrays["mean"], rtol=1e-12)
    np.testing.assert_allclose(from_stream["variance"], from_arrays["variance"], rtol=1e-12)


def test_a_stream_without_samples_fails_the_evaluation_naming_it():
    train_split, valid_split = arrays()
    empty = (train_split[0][:0], train_split[1][:0])
    problem = make_problem(
        lambda: Dataset(
            train=Stream(lambda batch_size: a_batch_pydataset(empty, batch_size)),
            valid=valid_split,
        )
    )
    result = train(problem, [1, 1])
    assert result.status is Status.FAILED and result.error_stage is Stage.DATA
    assert "made no train samples for training alone" in result.error


def batched_problem(**kwargs) -> Problem:
    """The split as a pipeline of batches of the configuration's size, made by the user."""
    train_split, valid_split = arrays()
    return make_problem(
        lambda: Dataset(
            train=Stream(lambda batch_size: samples(train_split).batch(batch_size), batched=True),
            valid=Stream(lambda batch_size: samples(valid_split).batch(batch_size), batched=True),
        ),
        **kwargs,
    )


def test_a_batched_stream_is_checked_by_its_samples_and_counted_per_batch_size():
    """Its batches are counted (the pipeline's length is unknown) for each batch size
    apart: the same stream trained at 16 then 32 takes 4 then 2 steps per epoch, each
    epoch the whole split."""
    import keras

    class Steps(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps = 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1

    problem = batched_problem(hyperparameters={"batch_size": Categorical([16, 32]), "epochs": 1})
    problem.check()  # samples of shape (4,) once the batch axis is dropped
    for batch_size, steps in ((16, 4), (32, 2), (16, 4)):
        counter = Steps()
        hyperparameters = {"batch_size": batch_size}
        result = train(problem, [1, 1], hyperparameters=hyperparameters, callbacks=[counter])
        assert result.status is Status.OK, result.error
        assert counter.steps == steps, batch_size


@pytest.mark.slow
def test_a_batched_stream_trains_like_the_same_arrays(tmp_path, training_state_probe):
    import keras

    train_split, valid_split = arrays()
    one_batch = {"batch_size": TRAIN_ROWS, "epochs": 2}
    in_memory = make_problem(lambda: Dataset(train_split, valid_split), hyperparameters=one_batch)
    probe = training_state_probe()
    results = {
        "arrays": train(in_memory, [1, 1], seed=2, model_path=tmp_path / "arrays.keras"),
        "batched": train(
            batched_problem(hyperparameters=one_batch),
            [1, 1],
            seed=2,
            model_path=tmp_path / "batched.keras",
            callbacks=[probe],
        ),
    }
    assert results["batched"].status is Status.OK, results["batched"].error
    assert probe.made  # from zeros shaped as a batch's samples
    for name in ("loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(
            results["batched"].learning_curve[name],
            results["arrays"].learning_curve[name],
            rtol=1e-5,
        )
    weights = {
        name: keras.saving.load_model(tmp_path / f"{name}.keras").get_weights() for name in results
    }
    for a, b in zip(weights["arrays"], weights["batched"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_sequences_of_varying_length_train_padded_by_the_users_pipeline():
    """Samples of different lengths cannot be batched by nas (nor counted in blocks):
    the user pads them in a batched pipeline, whose batches nas counts one by one."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    rows = [(rng.normal(size=(5 + i % 7, 1)).astype(np.float32), i % 2) for i in range(40)]

    def padded(batch_size):
        signature = (tf.TensorSpec((None, 1), tf.float32), tf.TensorSpec((), tf.int64))
        sequences = tf.data.Dataset.from_generator(lambda: iter(rows), output_signature=signature)
        return sequences.padded_batch(batch_size)

    def problem(stream: Stream) -> Problem:
        return Problem(
            "padded",
            lambda: Dataset(train=stream, valid=stream),
            convolution,
            hyperparameters={"batch_size": 8, "epochs": 2},
            loss="sparse_categorical_crossentropy",
        )

    padded_by_the_user = problem(Stream(padded, batched=True))
    padded_by_the_user.check()
    result = train(padded_by_the_user, [0])
    assert result.status is Status.OK, result.error
    assert result.epochs_trained == 2

    # The same samples in a stream of samples: nas's .batch() fails, saying what to do.
    def sequences():
        return padded(1).unbatch()

    result = train(problem(Stream(sequences)), [0])
    assert result.status is Status.FAILED and result.error_stage is Stage.TRAIN
    assert "Cannot batch tensors with different shapes" in result.error
    assert "give Stream(make, batched=True)" in result.error
    assert "e.g. .padded_batch(batch_size)" in result.error
