"""Rank script: the checks of nas.parallel on real ranks, in one run (TF loads once).

Run with ``NAS_DATA_PARALLEL=<backend> mpirun -np N python data_parallel_checks.py OUT_DIR``
(N >= 2). Each rank writes what it saw; ``tests/parallel/test_data_parallel.py`` judges.

1. On COMM_WORLD, with the backend chosen by the environment variable
   (``OUT_DIR/world-<rank>.json``):
   * ``step``: one distributed SGD step (learning rate 1) on known per-rank gradients:
     a dense one, an ``IndexedSlices`` one, and ``None`` for an unused variable;
   * ``broadcast``: variables (non-trainable ones too) set to rank-specific values,
     then broadcast from the last rank;
   * ``training``: different initial weights per rank, broadcast, ``fit`` with the
     distributed Adam on each rank's own shard; and, as a control, one plain Adam step
     from the same start on the same shard;
   * ``saved``: the trained model saved to ``.keras`` and loaded back;
   * ``metrics``: each rank evaluates an uneven part of a validation set, then
     ``average_metrics``; and every rank evaluates the whole set alone;
   * ``any`` and ``allreduce_sum``.
2. Shut down, then a group of ranks (1..N-1, or all when N == 2) makes its own
   communicator with ``Create_group`` and initialises the backend named explicitly on
   it (``OUT_DIR/group-<world rank>.json``): rank, size, a sum and a distributed step.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from nas._imports import import_keras
from nas.parallel import DataParallel, data_parallel

keras = import_keras()
import tensorflow as tf  # noqa: E402  (after import_keras quiets TensorFlow)

# More ranks than cores: one TensorFlow thread per rank saves time lost to contention.
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

out_dir = Path(sys.argv[1])
world = MPI.COMM_WORLD
world_rank, world_size = world.Get_rank(), world.Get_size()
backend = os.environ["NAS_DATA_PARALLEL"]
FEATURES = 6


def digest(arrays: list[np.ndarray]) -> str:
    """A hash of the exact bytes of ``arrays``: equal only if bit-identical."""
    sha = hashlib.sha256()
    for array in arrays:
        sha.update(np.ascontiguousarray(array).tobytes())
    return sha.hexdigest()


def values(variables: list) -> list[np.ndarray]:
    return [np.asarray(v.numpy()) for v in variables]


def dataset(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy linearly separable binary problem."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, FEATURES)).astype("float32")
    logits = x @ np.linspace(-1.0, 1.0, FEATURES) + 0.5 * rng.normal(size=samples)
    return x, (logits > 0).astype("float32").reshape(-1, 1)


def classifier(batch_norm: bool = False) -> keras.Model:
    layers = [keras.Input((FEATURES,)), keras.layers.Dense(8, activation="relu")]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization())
    layers.append(keras.layers.Dense(1, activation="sigmoid"))
    return keras.Sequential(layers)


def compile_model(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> None:
    model.compile(
        optimizer=optimizer,
        loss="binary_crossentropy",
        metrics=[
            keras.metrics.BinaryAccuracy(name="accuracy"),
            keras.metrics.AUC(name="auc"),
            keras.metrics.R2Score(name="r2"),
        ],
        jit_compile=False,  # the collectives are not XLA operations
    )


def step_check(parallel: DataParallel, rank: int) -> dict:
    """One SGD step, learning rate 1, in a tf.function as in fit: variable = -mean(grad)."""
    rng = np.random.default_rng(1000 + rank)
    dense = rng.normal(size=(2, 3)).astype("float32")
    # Each rank touches different rows, a different number of them.
    rows = [rank % 5, (rank + 2) % 5][: 1 + rank % 2]
    row_values = rng.normal(size=(len(rows), 2)).astype("float32")
    sparse_dense = np.zeros((5, 2), "float32")
    np.add.at(sparse_dense, rows, row_values)

    variables = [
        tf.Variable(tf.zeros(shape), name=name)
        for shape, name in [((2, 3), "dense"), ((5, 2), "embedding"), ((3,), "unused")]
    ]
    grads = [
        tf.constant(dense),
        tf.IndexedSlices(tf.constant(row_values), tf.constant(rows), tf.constant([5, 2])),
        None,
    ]
    optimizer = parallel.distribute(keras.optimizers.SGD(learning_rate=1.0))
    optimizer.build(variables)

    @tf.function
    def step() -> None:
        optimizer.apply(grads, variables)

    step()
    return {
        "grads": [dense.tolist(), sparse_dense.tolist()],
        "after": [v.numpy().tolist() for v in variables],
        "optimizer_class": type(optimizer).__name__,
    }


def broadcast_check(parallel: DataParallel) -> dict:
    model = classifier(batch_norm=True)
    rng = np.random.default_rng(2000 + world_rank)
    for variable in model.variables:  # moving mean and variance included
        variable.assign(rng.normal(size=variable.shape).astype(variable.dtype))
    before = digest(values(model.variables))
    root = parallel.size - 1
    parallel.broadcast_weights(model, root=root)
    return {
        "root": root,
        "before": before,
        "after": digest(values(model.variables)),
        "non_trainable": len(model.non_trainable_variables),
    }


def training_check(parallel: DataParallel) -> tuple[dict, keras.Model]:
    # Equal shard sizes: every rank must take the same number of steps.
    x, y = dataset(64, seed=10 + world_rank)
    keras.utils.set_random_seed(100 + world_rank)  # different initial weights per rank
    model = classifier()
    initial = digest(values(model.variables))
    compile_model(model, parallel.distribute(keras.optimizers.Adam(0.01)))
    parallel.broadcast_weights(model)
    start = values(model.variables)
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)

    # Control: one plain (not averaged) step from the same start on this rank's shard. Were
    # the shards alike, it would leave the ranks equal and the check above would prove nothing.
    control = classifier()
    control.set_weights(start)
    with tf.GradientTape() as tape:
        loss = keras.losses.binary_crossentropy(y, control(x, training=True))
    grads = tape.gradient(loss, control.trainable_variables)
    keras.optimizers.Adam(0.01).apply(grads, control.trainable_variables)
    return {
        "initial": initial,
        "start": digest(start),
        "trained": digest(values(model.variables)),
        "control": digest(values(control.variables)),
        "moved": not all(np.array_equal(a, b) for a, b in zip(start, values(model.variables))),
        "losses": history.history["loss"],
        "optimizer_class": type(model.optimizer).__name__,
    }, model


def saved_check(model: keras.Model) -> dict:
    path = out_dir / f"model-{world_rank}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x, _ = dataset(20, seed=3)
    return {
        "optimizer_class": type(loaded.optimizer).__name__,
        "same_predictions": bool(
            np.array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
        ),
        "same_weights": digest(values(loaded.weights)) == digest(values(model.weights)),
        "same_iterations": int(loaded.optimizer.iterations.numpy())
        == int(model.optimizer.iterations.numpy()),
        "loaded_apply_wrapped": "apply" in vars(loaded.optimizer),
    }


def metrics_check(parallel: DataParallel, model: keras.Model) -> dict:
    # 101 samples in uneven parts, batches of 16: partial batches on every rank.
    x, y = dataset(101, seed=7)
    part = np.array_split(np.arange(len(x)), parallel.size)[parallel.rank]
    model.evaluate(x[part], y[part], batch_size=16, verbose=0)
    shard = {k: float(v) for k, v in model.get_metrics_result().items()}
    state_names = [v.path for v in model.metrics_variables]
    parallel.average_metrics(model)
    merged = {k: float(v) for k, v in model.get_metrics_result().items()}
    full = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    return {
        "shard": shard,
        "merged": merged,
        "full": {k: float(v) for k, v in full.items()},
        "state_variables": state_names,
    }


def write(stage: str, record: dict) -> None:
    record["world_rank"] = world_rank
    (out_dir / f"{stage}-{world_rank}.json").write_text(json.dumps(record))


started = time.perf_counter()
with data_parallel(world) as parallel:  # the backend from NAS_DATA_PARALLEL
    record = {"name": parallel.name, "rank": parallel.rank, "size": parallel.size}
    record["step"] = step_check(parallel, parallel.rank)
    record["broadcast"] = broadcast_check(parallel)
    record["training"], model = training_check(parallel)
    record["saved"] = saved_check(model)
    record["metrics"] = metrics_check(parallel, model)
    record["any_one"] = parallel.any(world_rank == 1)
    record["any_none"] = parallel.any(False)
    record["sum"] = parallel.allreduce_sum(np.array([[world_rank, 1.5]])).tolist()
    record["sum_bool"] = parallel.allreduce_sum(np.array([True, world_rank == 0])).tolist()
record["seconds"] = time.perf_counter() - started
write("world", record)

members = list(range(1, world_size)) if world_size > 2 else list(range(world_size))
if world_rank in members:
    # Create_group is collective over the members only: rank 0 may be elsewhere.
    sub = world.Create_group(world.Get_group().Incl(members))
    with data_parallel(sub, backend) as parallel:
        write(
            "group",
            {
                "name": parallel.name,
                "rank": parallel.rank,
                "size": parallel.size,
                "sum": parallel.allreduce_sum(np.array([float(world_rank)])).tolist(),
                "step": step_check(parallel, parallel.rank),
            },
        )
    sub.Free()
world.Barrier()
