"""Covertype streamed from TFRecord files: the example of data larger than memory.

The same data as :mod:`problems.covertype` (same generation, split and scaling), but
written once as shards of TFRecord files and read back as it trains, through
:class:`nas.problem.Stream`: no process ever holds the whole set. Use it as the
template for your own files:

1. Write your data as shards of equal size (``train-00000-of-00024.tfrecord``, ...),
   each record a *chunk* of rows (here 500 rows: float32 features as raw bytes, int64
   labels), since tf.data's cost is per element: one record per row reads 15 times
   slower (12,000 samples/s here, less than training takes). Write into a temporary
   folder and rename it, so that a killed writer never leaves a half set that looks
   whole (:func:`write_shards`).
2. Give ``Dataset(train=Stream(train_pipeline, batched=True), valid=...)``, each
   function taking ``batch_size`` and returning a ``tf.data.Dataset`` of **batches**
   ``(x, y)``: the chunks go straight to batches with ``rebatch(batch_size)``, a copy
   per batch, where unbatching them into single samples for nas to batch again costs
   about as much CPU as the rest of the pipeline. nas counts, checks and prefetches.
3. Take ``shard`` to read only this rank's files (``files[shard.index::shard.count]``)
   on a group of ranks, and ``seed`` to shuffle (nas cannot shuffle what it does not
   hold): the files' order, records in a buffer, then the rows of every 8 records
   permuted together, so that a batch mixes rows of 8 records of several files.
   With ``shard``, nas cuts every rank's epoch to the shortest part: 24 training files
   split evenly over 1, 2, 3, 4, 6, 8 or 12 ranks.

The files are in ``$NAS_COVERTYPE_FILES`` if set, else ``~/.cache/nas/covertype-files``
(under ``$XDG_CACHE_HOME`` when that is set); the first :func:`load_data` writes them
(about 26 MB, a few seconds), later ones only read the manifest. A writer killed half
way leaves a ``.covertype-files.*.partial`` folder beside it, never used: delete it.

Example:
    >>> from problems.covertype_files import problem
    >>> data = problem.load_data()
    >>> data.num_train, data.num_valid
    (96000, 24000)
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nas.problem import Dataset, Problem, Shard, Stream
from problems import covertype

#: The environment variable naming the folder of the files.
FOLDER_VARIABLE = "NAS_COVERTYPE_FILES"
#: 96,000 training rows in 24 files, 24,000 validation rows in 6.
ROWS_PER_SHARD = 4000
#: Rows per TFRecord record: a chunk parsed at once, then cut into batches.
ROWS_PER_RECORD = 500
#: Shuffling: records (chunks of rows, still unparsed) in a buffer a third of the
#: training set, then the rows of blocks of 4,000 (8 records) permuted at once, so
#: that a batch mixes rows of several records. tf.data pays per element: shuffling
#: single samples in a buffer instead costs about as much CPU again as the rest of the
#: pipeline.
RECORD_BUFFER, MIXED_ROWS = 64, 4000
#: The file that says a set is complete, written last: the shards, their row counts.
MANIFEST = "manifest.json"
SPLITS = ("train", "valid")


def data_folder() -> Path:
    """``$NAS_COVERTYPE_FILES``, else ``nas/covertype-files`` in the user's cache folder."""
    if os.environ.get(FOLDER_VARIABLE):
        return Path(os.environ[FOLDER_VARIABLE]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser()
    return cache / "nas" / "covertype-files"


def write_shards(
    folder: str | Path | None = None,
    data: Dataset | None = None,
    *,
    rows_per_shard: int = ROWS_PER_SHARD,
    rows_per_record: int = ROWS_PER_RECORD,
) -> Path:
    """Write ``data`` as TFRecord shards into ``folder``, unless a complete set is there.

    Atomic: the shards and manifest are written into a temporary folder beside
    ``folder``, then renamed to it; of several processes writing at once the first to
    finish wins and the others keep its set. A complete set is kept whatever
    ``rows_per_shard`` it was written with.

    Args:
        folder: where (default: :func:`data_folder`).
        data: arrays in memory (default: :func:`problems.covertype.load_data`).
        rows_per_shard: rows per file; the last file of a split is shorter when this
            does not divide the split.
        rows_per_record: rows per record.

    Returns:
        The folder.

    Raises:
        FileExistsError: if ``folder`` exists, is not empty, and holds no manifest.
    """
    folder = data_folder() if folder is None else Path(folder)
    if (folder / MANIFEST).is_file():
        return folder
    data = covertype.load_data() if data is None else data
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(
        tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent)
    )
    try:
        manifest: dict[str, Any] = {
            split: _write_split(
                temporary, split, *getattr(data, split), rows_per_shard, rows_per_record
            )
            for split in SPLITS
        }
        manifest["baselines"] = dict(data.baselines)
        (temporary / MANIFEST).write_text(json.dumps(manifest, indent=1))
        try:
            os.rename(temporary, folder)  # onto nothing, or an empty folder
        except OSError:
            if not (folder / MANIFEST).is_file():  # not another writer's complete set
                raise FileExistsError(
                    f"{folder} exists without {MANIFEST}: not a set of write_shards; remove it"
                ) from None
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return folder


def _write_split(
    folder: Path,
    split: str,
    x: np.ndarray,
    y: np.ndarray,
    rows_per_shard: int,
    rows_per_record: int,
) -> dict[str, list[Any]]:
    """Write one split's shards; their names and row counts, for the manifest."""
    import tensorflow as tf

    x, y = np.ascontiguousarray(x, np.float32), np.asarray(y, np.int64)
    starts = range(0, len(y), rows_per_shard)
    files, rows = [], []
    for index, start in enumerate(starts):
        name = f"{split}-{index:05d}-of-{len(starts):05d}.tfrecord"
        end = min(start + rows_per_shard, len(y))
        with tf.io.TFRecordWriter(str(folder / name)) as writer:
            for first in range(start, end, rows_per_record):
                last = min(first + rows_per_record, end)
                features = {
                    "x": tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[x[first:last].tobytes()])
                    ),
                    "y": tf.train.Feature(int64_list=tf.train.Int64List(value=y[first:last])),
                }
                example = tf.train.Example(features=tf.train.Features(feature=features))
                writer.write(example.SerializeToString())
        files.append(name)
        rows.append(end - start)
    return {"files": files, "rows": rows}


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a complete set: per split its ``files`` and ``rows``; ``baselines``."""
    return json.loads((Path(folder) / MANIFEST).read_text())


def train_pipeline(folder: str | Path, shard: Shard, seed: int, batch_size: int) -> Any:
    """This rank's training batches ``(x, y)``, shuffled anew every epoch from ``seed``."""
    return _pipeline(folder, "train", shard, batch_size, seed)


def valid_pipeline(folder: str | Path, shard: Shard, batch_size: int) -> Any:
    """This rank's validation batches ``(x, y)``, in file order."""
    return _pipeline(folder, "valid", shard, batch_size, None)


def _pipeline(
    folder: str | Path, split: str, shard: Shard, batch_size: int, seed: int | None
) -> Any:
    import tensorflow as tf

    listed = read_manifest(folder)[split]
    files = [str(Path(folder) / name) for name in listed["files"][shard.index :: shard.count]]
    samples = sum(listed["rows"][shard.index :: shard.count])
    names = tf.data.Dataset.from_tensor_slices(files)
    if seed is not None:
        names = names.shuffle(len(files), seed=seed)
    # Several files read at once: the parallelism is what beats one sequential reader.
    records = tf.data.TFRecordDataset(names, num_parallel_reads=tf.data.AUTOTUNE)
    if seed is not None:
        records = records.shuffle(RECORD_BUFFER, seed=seed)
    chunks = records.map(_parse_chunk, num_parallel_calls=tf.data.AUTOTUNE)
    if seed is not None:
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        blocks = tf.data.Dataset.zip(chunks.rebatch(MIXED_ROWS), keys)
        chunks = blocks.map(_permuted_rows, num_parallel_calls=tf.data.AUTOTUNE)
    # The part's batches, which tf.data cannot count through TFRecordDataset: nas then
    # plans the epoch without a counting pass over the files, and a missing file fails
    # as a wrong count.
    batches = -(-samples // batch_size)
    return chunks.rebatch(batch_size).apply(tf.data.experimental.assert_cardinality(batches))


def _permuted_rows(block: tuple[Any, Any], key: Any) -> tuple[Any, Any]:
    """The rows of ``block`` in an order drawn from ``key``."""
    import tensorflow as tf

    x, y = block
    seed = tf.stack([key, tf.constant(0, tf.int64)])
    order = tf.argsort(tf.random.stateless_uniform(tf.shape(y), seed=seed))
    return tf.gather(x, order), tf.gather(y, order)


def _parse_chunk(record: Any) -> tuple[Any, Any]:
    """A record's ``(x, y)``: ``x`` of shape ``(rows, 54)``, ``y`` of shape ``(rows,)``."""
    import tensorflow as tf

    parsed = tf.io.parse_single_example(
        record,
        {
            "x": tf.io.FixedLenFeature([], tf.string),
            "y": tf.io.FixedLenSequenceFeature([], tf.int64, allow_missing=True),
        },
    )
    x = tf.reshape(tf.io.decode_raw(parsed["x"], tf.float32), [-1, covertype.NUM_FEATURES])
    return x, parsed["y"]


def load_data(folder: str | Path | None = None) -> Dataset:
    """The splits as streams of the files in ``folder`` (default: :func:`data_folder`),
    written first if they are not there yet."""
    folder = write_shards(folder)
    manifest = read_manifest(folder)
    return Dataset(
        train=Stream(
            functools.partial(train_pipeline, folder),
            num_samples=sum(manifest["train"]["rows"]),
            batched=True,
        ),
        valid=Stream(
            functools.partial(valid_pipeline, folder),
            num_samples=sum(manifest["valid"]["rows"]),
            batched=True,
        ),
        baselines=manifest["baselines"],
    )


def files_problem(folder: str | Path | None = None, name: str = "covertype_files") -> Problem:
    """Covertype's problem (space, hyperparameters, objective) on the files in ``folder``
    (default: :func:`data_folder`, looked up when the data are loaded)."""
    same = covertype.problem
    return Problem(
        name,
        functools.partial(load_data, folder),
        same.space,
        space_kwargs=dict(same.space_kwargs),
        hyperparameters=covertype.HYPERPARAMETERS,
        loss=same.loss,
        metrics=list(same.metrics),
        objective=same.objective,
        direction=same.direction,
        description=same.description + " Streamed from TFRecord files.",
    )


#: Architecture and hyperparameters, the data streamed from ``data_folder()``.
problem = files_problem()
