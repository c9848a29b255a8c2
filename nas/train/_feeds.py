"""One rank's part of a split, batched as ``fit`` and ``evaluate`` take it.

Arrays are split as :mod:`nas.train._group` says; a :class:`nas.problem.Stream` is made
here, in the process that trains, sharded and counted by the same rules, then batched
with the configuration's batch size and checked for non-finite values as it is read.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas._imports import import_keras, import_tensorflow
from nas.exceptions import ProblemError
from nas.problem._dataset import Split, num_samples
from nas.problem._streams import PYDATASET, Shard, Stream, source_kind
from nas.train._group import training_shard, validation_shard

#: ``Feed.kind``: arrays in memory, a ``tf.data`` pipeline of samples, one of batches,
#: and :data:`PYDATASET`, a Keras ``PyDataset`` (of batches).
ARRAYS, SAMPLES, BATCHES = "arrays", "samples", "batches"


@dataclass(frozen=True)
class Feed:
    """A rank's part of a split: ``length`` samples (``length`` batches for a batched
    pipeline or a ``PyDataset``) per epoch, in batches of ``batch_size``.

    Attributes:
        kind: :data:`ARRAYS`, :data:`SAMPLES`, :data:`BATCHES` or :data:`PYDATASET`.
        data: ``(x, y)`` arrays, a ``tf.data.Dataset`` (of samples or batches, this
            rank's part), or a ``PyDataset``.
        label: ``"train"`` or ``"valid"``, for messages.
        batch_size: samples per batch.
        length: samples (batches for :data:`BATCHES` and :data:`PYDATASET`) taken per
            epoch.
        shard: the part of the split ``data`` holds: ``shard.index`` of ``shard.count``;
            a ``PyDataset`` made without ``shard`` still holds every batch, and this
            rank takes batches ``index, index + count, ...`` of it.
    """

    kind: str
    data: Any
    label: str
    batch_size: int
    length: int
    shard: Shard = Shard(0, 1)

    @property
    def counts_batches(self) -> bool:
        """Whether ``length`` counts batches, not samples."""
        return self.kind in (BATCHES, PYDATASET)

    @property
    def steps(self) -> int:
        """Batches per epoch."""
        return self.length if self.counts_batches else math.ceil(self.length / self.batch_size)

    @property
    def samples(self) -> int:
        """Samples per epoch (batches counted as full)."""
        return self.length * self.batch_size if self.counts_batches else self.length

    def cut(self, length: int) -> Feed:
        """The same part, taking only its first ``length`` samples (batches) per epoch."""
        if length > self.length:
            raise ValueError(f"cannot cut a feed of {self.length} to {length}")
        return dataclasses.replace(self, length=length)

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``fit`` and ``evaluate`` that give them this data."""
        if self.kind == ARRAYS:
            x, y = self.data
            return {"x": unwrapped_inputs(x), "y": y, "batch_size": self.batch_size}
        if self.kind == PYDATASET:
            part = _part_of_batches_class()
            return {"x": part(self.data, self.shard, self.length, self.label)}
        tf = import_tensorflow()
        batches = self.data.take(self.length)  # samples, or batches made by the stream
        if self.kind == SAMPLES:
            batches = batches.batch(self.batch_size)
        # A known length: Keras plans its epochs without running out of data, and a
        # pipeline that yields fewer samples than were counted fails saying so.
        batches = batches.apply(tf.data.experimental.assert_cardinality(self.steps))
        return {"x": batches.map(_finite_check(self.label)).prefetch(tf.data.AUTOTUNE)}

    def example_batch(self) -> tuple[Any, ...] | None:
        """One batch as ``fit`` gives it to the train step, ``(x, y)`` or ``(x, y,
        sample_weight)``: the first row of arrays, a ``PyDataset``'s first batch, or zeros
        shaped as a pipeline's samples. None for a pipeline whose samples zeros cannot
        stand for: of other than dense tensors (ragged, sparse), or of a dimension it
        leaves open (a sequence of any length, which a model may need longer than 1)."""
        if self.kind == ARRAYS:
            x, y = import_keras().tree.map_structure(lambda array: array[:1], self.data)
            return unwrapped_inputs(x), y
        if self.kind == PYDATASET:
            return tuple(self.data[self.shard.index])
        tf = import_tensorflow()
        specs = self.data.element_spec
        first = 1 if self.kind == BATCHES else 0  # a batch's samples: its shape after 1
        if not all(
            isinstance(spec, tf.TensorSpec) and spec.shape[first:].is_fully_defined()
            for spec in tf.nest.flatten(specs)
        ):
            return None
        x, *rest = tf.nest.map_structure(
            lambda spec: tf.zeros([1, *spec.shape[first:]], spec.dtype), specs
        )
        return (unwrapped_inputs(x), *rest)


def failure_hint(error: BaseException, *feeds: Feed) -> str:
    """What to do about ``error``, raised while ``feeds`` were read, when it says more
    than TensorFlow does: samples of different shapes cannot be batched by nas."""
    batched_by_nas = [feed.label for feed in feeds if feed.kind == SAMPLES]
    if batched_by_nas and "Cannot batch tensors with different shapes" in str(error):
        return (
            f" (a stream of samples, {' or '.join(batched_by_nas)}, yields samples of "
            "different shapes, which nas cannot batch: give Stream(make, batched=True) "
            "with make taking batch_size and batching them itself, e.g. "
            ".padded_batch(batch_size))"
        )
    return ""


def open_feed(
    split: Split, label: str, *, batch_size: int, seed: int, shard: Shard, cut: bool
) -> Feed:
    """Rank ``shard.index`` of ``shard.count``'s part of ``split``.

    Args:
        split: arrays or a stream.
        label: ``"train"`` or ``"valid"``.
        batch_size: the configuration's batch size (per rank).
        seed: the training's seed, for a stream that shuffles.
        shard: which part.
        cut: arrays of a training split are cut to equal parts (every rank must take
            the same steps); a stream's part is cut by the caller, once the group has
            agreed on the shortest (:meth:`Feed.cut`).

    Raises:
        ProblemError: if a stream makes something else than it should, or an infinite
            pipeline.
    """
    if not isinstance(split, Stream):
        if shard.count > 1:
            share = training_shard if cut else validation_shard
            split = share(split, shard.index, shard.count)
        return Feed(ARRAYS, split, label, batch_size, num_samples(split[1]))
    source = split.open(batch_size=batch_size, shard=shard, seed=seed)
    if source_kind(source) == PYDATASET:
        batches = _num_batches(split, source)
        if not split.shards_itself:  # this rank takes every count-th batch
            batches = len(range(shard.index, batches, shard.count))
        feed = Feed(PYDATASET, source, label, batch_size, batches, _batches_taken(split, shard))
    else:
        if shard.count > 1 and not split.shards_itself:
            source = source.shard(shard.count, shard.index)  # samples, or batches
        length = split.cached_count(shard, batch_size)
        if length is None:
            length = _count_elements(split, source)
            split.remember_count(shard, batch_size, length)
        feed = Feed(BATCHES if split.batched else SAMPLES, source, label, batch_size, length)
    if feed.length == 0:
        raise ProblemError(f"{split!r} made no {label} samples for {_part(shard)}")
    return feed


def _batches_taken(stream: Stream, shard: Shard) -> Shard:
    """The batches of a ``PyDataset`` a rank takes: all of those a stream that shards
    itself made, else part ``shard`` of them."""
    return Shard(0, 1) if stream.shards_itself else shard


def _part(shard: Shard) -> str:
    return "training alone" if shard.count == 1 else f"rank {shard.index} of {shard.count}"


def _num_batches(stream: Stream, source: Any) -> int:
    batches = source.num_batches
    if batches is None:
        raise ProblemError(
            f"{stream!r} made a PyDataset without a length: an epoch must end (give it __len__)"
        )
    return int(batches)


def _count_elements(stream: Stream, source: Any) -> int:
    """The elements (samples or batches) of a pipeline: its cardinality when tf.data
    knows it, else counted."""
    tf = import_tensorflow()
    cardinality = int(source.cardinality())
    if cardinality == tf.data.INFINITE_CARDINALITY:
        raise ProblemError(
            f"{stream!r} made an infinite pipeline: an epoch must end (remove its .repeat())"
        )
    if cardinality >= 0:
        return cardinality
    # One pass, in the pipeline's own threads. Samples of one shape are counted in
    # batches of many, which keeps it cheap; others (sequences of varying length,
    # batches) one by one.
    specs = tf.nest.flatten(source.element_spec)
    if stream.batched or not all(spec.shape.is_fully_defined() for spec in specs):
        count = source.reduce(tf.constant(0, tf.int64), lambda total, _: total + 1)
    else:
        count = source.batch(4096).reduce(
            tf.constant(0, tf.int64),
            lambda total, batch: total + tf.shape(tf.nest.flatten(batch)[0], out_type=tf.int64)[0],
        )
    return int(count)


def _finite_check(label: str) -> Any:
    """A ``map`` function failing a batch that holds NaN or inf, naming what holds it."""
    tf = import_tensorflow()

    def checked(*element: Any) -> tuple[Any, ...]:
        x, *rest = (
            {name: _checked_tensor(tf, t, label, f"{what} {name!r}") for name, t in part.items()}
            if isinstance(part, Mapping)
            else _checked_tensor(tf, part, label, what)
            for what, part in zip(("x", "y", "sample_weight"), element)
        )
        return (unwrapped_inputs(x), *rest)

    return checked


def unwrapped_inputs(x: Any) -> Any:
    """Inputs keyed by name, as the model takes them: a dict of one input (its name
    already checked against the model's) as its only value, since Keras warns at every
    trace that a dict is not the structure of a one-input model."""
    if isinstance(x, Mapping) and len(x) == 1:
        return next(iter(x.values()))
    return x


def _checked_tensor(tf: Any, tensor: Any, label: str, what: str) -> Any:
    if not tensor.dtype.is_floating:
        return tensor
    message = f"Dataset {label} {what} holds NaN or inf (a Stream is checked as it is read)"
    return tf.debugging.check_numerics(tensor, message)


def _checked_batch(batch: Any, label: str) -> None:
    """Raise naming the split and part if a ``PyDataset`` batch holds NaN or inf."""
    for what, part in zip(("x", "y", "sample_weight"), batch):
        named = part.items() if isinstance(part, Mapping) else [("", part)]
        for name, values in named:
            array = np.asarray(values)
            if np.issubdtype(array.dtype, np.inexact) and not np.isfinite(array).all():
                shown = f"{what} {name!r}" if name else what
                raise ProblemError(
                    f"Dataset {label} {shown} holds NaN or inf (a Stream is checked as it is read)"
                )


@functools.cache
def _part_of_batches_class() -> type:
    """The ``PyDataset`` that gives a rank its batches (made on first use: Keras is
    imported only by the processes that train)."""
    keras = import_keras()

    class PartOfBatches(keras.utils.PyDataset):
        """Batches ``shard.index, shard.index + shard.count, ...`` of ``source``, the
        first ``length`` of them, each checked for non-finite values."""

        def __init__(self, source: Any, shard: Shard, length: int, label: str) -> None:
            super().__init__(
                workers=source.workers,
                use_multiprocessing=source.use_multiprocessing,
                max_queue_size=source.max_queue_size,
            )
            self.source, self.shard, self.length, self.label = source, shard, length, label

        def __len__(self) -> int:
            return self.length

        def __getitem__(self, index: int) -> Any:
            if not 0 <= index < self.length:
                raise IndexError(index)
            batch = self.source[self.shard.index + index * self.shard.count]
            _checked_batch(batch, self.label)
            return batch

        def on_epoch_begin(self) -> None:
            self.source.on_epoch_begin()

        def on_epoch_end(self) -> None:
            self.source.on_epoch_end()

    return PartOfBatches
