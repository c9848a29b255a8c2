"""Rank script: every rank of the world trains one configuration together with ``train``.

Run with ``mpirun -np N python train_on_group.py OUT_DIR``. The space has batch
normalisation (whose moving statistics each rank updates from its own shard) and
dropout; each rank writes its result and a digest of its final weights to
``OUT_DIR/result-<rank>.json``, and only the group's first rank may save the model.
Then the group trains once more with a cosine learning-rate schedule and saves a
checkpoint, whose optimizer's last learning rate the first rank records.
"""

import json
import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

from nas.problem import Dataset, Problem
from nas.space import ConstantNode, Layer, SearchSpace, VariableNode
from nas.train import train


def batch_norm_space() -> SearchSpace:
    space = SearchSpace({"x": (4,)})
    hidden = space.add(
        VariableNode([Layer("Dense", units=8, activation="relu"), Layer("Dense", units=16)]),
        space.input("x"),
    )
    normed = space.add(ConstantNode(Layer("BatchNormalization")), hidden)
    dropped = space.add(ConstantNode(Layer("Dropout", rate=0.2)), normed)
    space.add(ConstantNode(Layer("Dense", units=2, activation="softmax")), dropped)
    return space


def load_data() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(403, 4)).astype(np.float32)  # 403: shards of unequal length
    y = (x[:, 0] - x[:, 2] > 0).astype(np.int64)
    return Dataset(train=(x[:320], y[:320]), valid=(x[320:], y[320:]))


def group_problem(**schedule) -> Problem:
    return Problem(
        "group",
        load_data,
        batch_norm_space,
        hyperparameters={"batch_size": 16, "learning_rate": 0.01, "epochs": 3, **schedule},
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        objective="val_accuracy",
        direction="max",
    )


problem = group_problem()

out_dir = Path(sys.argv[1])
comm = MPI.COMM_WORLD
model_path = out_dir / f"model-{comm.Get_rank()}.keras"
result = train(problem, [1], seed=3, model_path=model_path, comm=comm)
record = {"rank": comm.Get_rank(), "result": result.to_dict(), "saved": model_path.exists()}

cosine = group_problem(lr_schedule="cosine", lr_warmup_epochs=1, lr_final_fraction=0.1)
checkpoint = out_dir / "cosine.keras"
scheduled = train(cosine, [1], seed=3, comm=comm, checkpoint_path=checkpoint)
record["scheduled"] = scheduled.to_dict()
if comm.Get_rank() == 0:
    import keras

    optimizer = keras.saving.load_model(checkpoint).optimizer
    record["last_learning_rate"] = float(optimizer.learning_rate.numpy())
(out_dir / f"result-{comm.Get_rank()}.json").write_text(json.dumps(record))
