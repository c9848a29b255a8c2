"""Rank script: a group of ranks trains one configuration from arrays and from streams.

Run with ``mpirun -np 2 python streams_on_group.py OUT_DIR``. One batch per rank and
epoch (the batch size is a rank's share of the training rows), so the model after
training depends on which rows each rank holds, not on their order. Variants:

* ``arrays``: the split in memory (nas gives rank r rows r, r + 2, ...);
* ``samples``: a tf.data pipeline of unknown length, sharded by nas the same way;
* ``sharded``: a pipeline that shards itself (takes ``shard``) into those same rows;
* ``batches``: a PyDataset whose batch i holds rows i, i + 2, ... (rank r takes batch r);
* ``batched``: a tf.data pipeline of those batches (``Stream(batched=True)``), sharded
  by nas by batch;
* ``batched_sharded``: the same pipeline sharding itself (rank r keeps batch r);
* ``unequal``: a pipeline that shards itself into parts of 40 and 24 rows: both ranks
  take 24 (the shortest part) per epoch.

Each rank writes ``OUT_DIR/<variant>-<rank>.json`` (its result); the first rank saves
``OUT_DIR/<variant>.keras``.
"""

import json
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from mpi4py import MPI

from nas.problem import Dataset, Problem, Stream
from nas.train import train

TRAIN_ROWS, RANKS = 64, 2
PER_RANK = TRAIN_ROWS // RANKS

rng = np.random.default_rng(0)
x = rng.normal(size=(97, 4)).astype(np.float32)  # 33 validation rows: unequal shares
y = (x[:, 0] - x[:, 2] > 0).astype(np.int64)
train_split, valid_split = (x[:TRAIN_ROWS], y[:TRAIN_ROWS]), (x[TRAIN_ROWS:], y[TRAIN_ROWS:])


def samples(split):
    return tf.data.Dataset.from_tensor_slices(split).filter(lambda a, b: True)


class EveryOtherRow(keras.utils.PyDataset):
    """Batch i: rows i, i + 2, ... of the training split."""

    def __init__(self, batch_size):
        super().__init__()  # batches of PER_RANK rows, the problem's batch_size

    def __len__(self):
        return RANKS

    def __getitem__(self, index):
        return train_split[0][index::RANKS], train_split[1][index::RANKS]


def every_other_row_batches(batch_size):
    """Batch i: rows i, i + 2, ..., as a pipeline of batches of unknown length (of
    PER_RANK rows, the problem's batch_size)."""
    x_batches, y_batches = (
        np.stack([part[i::RANKS] for i in range(RANKS)]) for part in train_split
    )
    return samples((x_batches, y_batches))


def unequal_parts(shard):
    edges = [0, 40, TRAIN_ROWS]
    rows = slice(edges[shard.index], edges[shard.index + 1])
    return samples((train_split[0][rows], train_split[1][rows]))


TRAIN = {
    "arrays": train_split,
    "samples": Stream(lambda: samples(train_split)),
    "sharded": Stream(lambda shard: samples(train_split).shard(shard.count, shard.index)),
    "batches": Stream(EveryOtherRow),
    "batched": Stream(every_other_row_batches, batched=True),
    "batched_sharded": Stream(
        lambda batch_size, shard: every_other_row_batches(batch_size).shard(
            shard.count, shard.index
        ),
        batched=True,
    ),
    "unequal": Stream(unequal_parts),
}


def problem(variant: str) -> Problem:
    valid = valid_split if variant == "arrays" else Stream(lambda: samples(valid_split))
    return Problem(
        variant,
        lambda: Dataset(train=TRAIN[variant], valid=valid),
        "spaces.dense_skip:dense_skip_space",
        space_kwargs={"input_shape": [4], "output_units": 2, "num_layers": 1},
        hyperparameters={"batch_size": PER_RANK, "learning_rate": 0.05, "epochs": 2},
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        objective="val_accuracy",
        direction="max",
    )


out_dir = Path(sys.argv[1])
comm = MPI.COMM_WORLD
for variant in TRAIN:
    path = out_dir / f"{variant}.keras" if comm.Get_rank() == 0 else None
    result = train(problem(variant), [1, 1], seed=3, comm=comm, model_path=path)
    (out_dir / f"{variant}-{comm.Get_rank()}.json").write_text(json.dumps(result.to_dict()))
