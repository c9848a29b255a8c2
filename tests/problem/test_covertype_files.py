"""problems.covertype_files: TFRecord shards written once, atomically, and streamed back
as the same rows, split between ranks without overlap."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from nas.problem import Dataset, Shard, Stream
from nas.train import train
from problems import covertype
from problems.covertype_files import MANIFEST, files_problem, load_data, write_shards

#: 960 training and 240 validation rows: 8 and 2 shards of 120 rows, records of 50
#: rows (the last of each shard 20: records of unequal size).
ROWS, VALID, ROWS_PER_SHARD, ROWS_PER_RECORD = 1200, 240, 120, 50
#: Training alone.
WHOLE = Shard(0, 1)


@pytest.fixture(scope="module")
def small() -> Dataset:
    features, labels = covertype.generate(ROWS, seed=0)
    train_rows = ROWS - VALID
    return Dataset(
        train=(features[:train_rows], labels[:train_rows]),
        valid=(features[train_rows:], labels[train_rows:]),
        baselines={"majority_class": 0.5},
    )


@pytest.fixture(scope="module")
def folder(small, tmp_path_factory):
    return write_shards(
        tmp_path_factory.mktemp("files") / "covertype-files",
        small,
        rows_per_shard=ROWS_PER_SHARD,
        rows_per_record=ROWS_PER_RECORD,
    )


def rows(x: np.ndarray, y: np.ndarray) -> list[tuple[bytes, int]]:
    """Each sample as (its features' bytes, its label), sorted: a multiset to compare."""
    return sorted(zip((row.tobytes() for row in x), y.tolist()))


def streamed_rows(stream: Stream, shard: Shard = WHOLE, seed: int = 0) -> list:
    pipeline = stream.open(batch_size=64, shard=shard, seed=seed)
    batches = [(x.numpy(), y.numpy()) for x, y in pipeline]
    assert len(batches) == int(pipeline.cardinality()), "the cardinality the pipeline claims"
    assert all(len(y) == 64 for _, y in batches[:-1]), "batches of the batch size"
    x, y = np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
    assert x.dtype == np.float32 and x.shape[1:] == (covertype.NUM_FEATURES,)
    return rows(x, y)


@pytest.mark.parametrize("split", ["train", "valid"])
def test_the_streams_hold_the_same_rows_and_labels_as_the_arrays(small, folder, split):
    data = load_data(folder)
    stream = getattr(data, split)
    assert isinstance(stream, Stream) and "shard" in stream.arguments and stream.batched
    assert stream.num_samples == len(getattr(small, split)[1])
    assert streamed_rows(stream) == rows(*getattr(small, split))
    assert data.baselines == small.baselines


@pytest.mark.parametrize("split", ["train", "valid"])
def test_two_shards_are_disjoint_and_cover_the_split(small, folder, split):
    stream = getattr(load_data(folder), split)
    first, second = (streamed_rows(stream, Shard(index, 2)) for index in (0, 1))
    assert len(first) == len(second), "equal shards: no rank's epoch is cut"
    assert not set(first) & set(second)
    assert sorted(first + second) == rows(*getattr(small, split))


def test_training_samples_are_shuffled_by_the_seed(small, folder):
    stream = load_data(folder).train

    def labels(pipeline):
        return np.concatenate([y.numpy() for _, y in pipeline])

    def epoch(seed):
        return labels(stream.open(batch_size=32, shard=WHOLE, seed=seed))

    assert np.array_equal(epoch(1), epoch(1))
    assert not np.array_equal(epoch(1), epoch(2))
    pipeline = stream.open(batch_size=32, shard=WHOLE, seed=1)
    assert not np.array_equal(labels(pipeline), labels(pipeline)), "each epoch in another order"
    # A batch mixes rows of many records (a shuffle of records alone would give most
    # batches of 32 the rows of one record of 50).
    x = small.train[0]
    row_record = {
        x[row].tobytes(): (row // ROWS_PER_SHARD, row % ROWS_PER_SHARD // ROWS_PER_RECORD)
        for row in range(len(x))
    }
    records_per_batch = [
        len({row_record[row.tobytes()] for row in batch.numpy()}) for batch, _ in pipeline
    ]
    assert np.median(records_per_batch) >= 8, records_per_batch


def test_a_complete_set_is_not_written_again(folder):
    before = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    # No data given: had it wanted to write, it would have generated the full set.
    assert write_shards(folder, rows_per_shard=7) == folder
    assert {path.name: path.stat().st_mtime_ns for path in folder.iterdir()} == before
    assert len(before) == 1 + ROWS // ROWS_PER_SHARD


def test_a_partial_temporary_folder_is_ignored(small, tmp_path):
    # What a writer killed half way leaves: a temporary folder, no manifest.
    killed = tmp_path / ".covertype-files.killed.partial"
    killed.mkdir()
    (killed / "train-00000-of-00008.tfrecord").write_bytes(b"\x00" * 100)
    folder = write_shards(tmp_path / "covertype-files", small, rows_per_shard=ROWS_PER_SHARD)
    assert (folder / MANIFEST).is_file()
    assert streamed_rows(load_data(folder).valid) == rows(*small.valid)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([killed.name, folder.name])


def test_writers_at_once_leave_one_complete_set(small, tmp_path):
    target = tmp_path / "covertype-files"
    with ThreadPoolExecutor(3) as pool:
        written = list(
            pool.map(lambda _: write_shards(target, small, rows_per_shard=480), range(3))
        )
    assert written == [target] * 3
    assert [path.name for path in tmp_path.iterdir()] == [target.name], "no temporary left"
    assert streamed_rows(load_data(target).train) == rows(*small.train)


def test_a_folder_that_is_not_a_set_is_refused(small, tmp_path):
    (tmp_path / "covertype-files").mkdir()
    (tmp_path / "covertype-files" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="without manifest.json"):
        write_shards(tmp_path / "covertype-files", small)
    assert [path.name for path in tmp_path.iterdir()] == ["covertype-files"]


@pytest.mark.slow
def test_a_model_trains_on_the_streamed_files(folder):
    problem = files_problem(folder, name="covertype_files_small")
    arch_seq = problem.build_space().sample(np.random.default_rng(0))
    result = train(problem, arch_seq, {"batch_size": 128}, epochs=1)
    assert result.status.value == "ok", result.error
    assert result.epochs_trained == 1 and 0 <= result.objective <= 1
