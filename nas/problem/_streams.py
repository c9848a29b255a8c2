"""Data that is not held in memory: a split read by a ``tf.data`` pipeline or a Keras
``PyDataset``, made in each process that trains.

A :class:`Stream` is a function that makes the split's pipeline, not the pipeline
itself: pipelines cannot be pickled, so every worker and every rank makes its own, and
the function can ask for what only the training knows (the configuration's batch size,
the rank's shard, the seed). The trainer batches, shards and counts it
(:mod:`nas.train._feeds`); the rules on a group of ranks are those of arrays
(:mod:`nas.train._group`).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.exceptions import ProblemError

#: The keyword arguments a stream's function may take, and what they are.
STREAM_ARGUMENTS = {
    "batch_size": "the configuration's batch size (per rank)",
    "shard": "the part of the split this rank reads (a nas.problem.Shard)",
    "seed": "the training's seed, for shuffling",
}

#: What :func:`source_kind` tells: a ``tf.data.Dataset``, a Keras ``PyDataset``.
PIPELINE, PYDATASET = "pipeline", "pydataset"


@dataclass(frozen=True)
class Shard:
    """The part of a split one rank of a group reads: part ``index`` of ``count``.

    A stream whose function takes ``shard`` reads only its part, for instance every
    ``count``-th file from the ``index``-th (``files[shard.index::shard.count]``), so
    that no rank reads what another trains on. Training alone is ``Shard(0, 1)``.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        valid = all(
            isinstance(v, int) and not isinstance(v, bool) for v in (self.index, self.count)
        )
        if not valid or self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(
                f"Shard(index={self.index!r}, count={self.count!r}): expected ints with "
                "0 <= index < count"
            )


class Stream:
    """A split (``train`` or ``valid`` of a :class:`nas.problem.Dataset`) read as it trains.

    For data larger than memory, or already in a ``tf.data`` pipeline or a Keras
    ``PyDataset``: ``Dataset(train=Stream(train_pipeline), valid=Stream(valid_pipeline))``.
    ``make`` is called in the process that trains (a worker, each rank of a group), once
    per training, and returns one of:

    * a ``tf.data.Dataset`` of **single samples** ``(x, y)``, ``x`` a tensor or a dict by
      input name and ``y`` a tensor or a dict by output name, as arrays would be. nas
      batches it with the configuration's ``batch_size`` and prefetches; shuffle it in
      the pipeline (``.shuffle(buffer, seed=seed)``, files in a shuffled order), since
      nas cannot shuffle what it does not hold;
    * with ``batched=True``, a ``tf.data.Dataset`` of **batches** of ``batch_size``
      samples, which ``make`` then takes: a pipeline that ends in ``.batch(batch_size)``,
      ``.padded_batch(batch_size)`` (sequences of varying length),
      ``.bucket_by_sequence_length(...)`` or ``.rebatch(batch_size)``, the last being the
      cheap way from records that each hold a chunk of rows to batches: tf.data's cost
      is per element, and unbatching chunks into single samples only to batch them
      again costs about as much CPU as the rest of the pipeline;
    * a ``keras.utils.PyDataset`` of **batches**: ``make`` then takes ``batch_size`` and
      makes batches of that size. A generator is one ``tf.data.Dataset.from_generator``
      away.

    ``make`` may take any of the keyword arguments ``batch_size``, ``shard`` (a
    :class:`Shard`) and ``seed``, by name; nas passes those it takes. On a group of
    ``k`` ranks every rank trains the same number of steps (each step is a collective):

    * without ``shard``, rank ``r`` takes samples ``r, r + k, ...`` of the pipeline
      (``tf.data.Dataset.shard``; batches ``r, r + k, ...`` of a batched pipeline or a
      ``PyDataset``), cut to the same length on every rank, exactly as arrays are
      split; every rank reads the whole split to do so;
    * with ``shard``, each rank reads only its part, and the shortest part sets the
      length of an epoch on every rank (the rest of longer parts is left out: give
      parts of equal size, or shuffle so that a different rest is left out each epoch).

    Validation streams are split the same way without cutting: every sample is
    evaluated once, and the metrics summed over the group are exact.

    Samples (batches of a batched pipeline) are counted once per process, shard and
    batch size (to plan the steps of the learning-rate schedule and the group's
    epochs): from ``num_samples`` when given and the pipeline of samples is not sharded
    by ``make``, else ``tf.data``'s cardinality when it knows it, else by reading the
    part once. A pipeline that knows its part's size when tf.data cannot (a
    ``TFRecordDataset``'s, a ``rebatch``'s) says so with
    ``pipeline.apply(tf.data.experimental.assert_cardinality(size))``, which also fails
    the epoch if the files hold another number. Inputs and targets are checked for NaN
    and infinite values batch by batch as they are read; such a batch fails the
    evaluation, naming the split, input or output.

    Args:
        make: the function that makes the pipeline, as above.
        num_samples: the number of samples in the split, when known (saves the count of
            a pipeline of samples; reported as the split's size).
        batched: whether ``make``'s ``tf.data.Dataset`` yields batches of
            ``batch_size`` samples rather than single samples.

    Raises:
        ProblemError: if ``make`` is not callable or requires other arguments (or, when
            ``batched``, does not take ``batch_size``), or ``num_samples`` is not a
            positive int.

    Example:
        >>> def train_pipeline(seed):
        ...     import tensorflow as tf
        ...     files = tf.data.Dataset.list_files("data/train-*.tfrecord", seed=seed)
        ...     return files.interleave(tf.data.TFRecordDataset).map(parse_example)
        >>> stream = Stream(train_pipeline, num_samples=96_000)
        >>> stream.arguments
        ('seed',)
        >>> def chunks_to_batches(batch_size, shard):  # records of many rows each
        ...     return read_chunks(files[shard.index :: shard.count]).rebatch(batch_size)
        >>> Stream(chunks_to_batches, batched=True).arguments
        ('batch_size', 'shard')
    """

    def __init__(
        self, make: Callable[..., Any], *, num_samples: int | None = None, batched: bool = False
    ) -> None:
        if not callable(make):
            raise ProblemError(
                f"Stream: make must be a function returning a tf.data.Dataset or a "
                f"keras.utils.PyDataset, got {make!r}"
            )
        if num_samples is not None and (
            isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1
        ):
            raise ProblemError(
                f"Stream: num_samples must be a positive int or None, got {num_samples!r}"
            )
        if not isinstance(batched, bool):
            raise ProblemError(f"Stream: batched must be True or False, got {batched!r}")
        self.make = make
        self.num_samples = num_samples
        self.batched = batched
        #: The keyword arguments ``make`` takes, among :data:`STREAM_ARGUMENTS`.
        self.arguments = _arguments_taken(make)
        if batched and "batch_size" not in self.arguments:
            raise ProblemError(
                f"{self!r}: a batched pipeline's batches must have the configuration's "
                "batch size: make must take the argument batch_size"
            )
        # Per-process caches (a Stream lives in its problem's cached Dataset): samples
        # (batches) per shard (and batch size), and the structure of one sample.
        self._counts: dict[tuple[Shard, int | None], int] = {}
        self._samples: Samples | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        function = getattr(self.make, "func", self.make)  # a functools.partial's function
        name = getattr(function, "__qualname__", None) or type(function).__name__
        batched = ", batched=True" if self.batched else ""
        return f"Stream({name}, num_samples={self.num_samples!r}{batched})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_counts={}, _samples=None, _lock=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def shards_itself(self) -> bool:
        """Whether ``make`` reads only its rank's part (it takes ``shard``)."""
        return "shard" in self.arguments

    def open(self, *, batch_size: int, shard: Shard, seed: int = 0) -> Any:
        """Call ``make`` with the arguments it takes.

        Raises:
            ProblemError: if it returns neither a ``tf.data.Dataset`` nor a
                ``keras.utils.PyDataset``, or a ``PyDataset`` from a function that does
                not take ``batch_size``.
        """
        from nas._imports import import_tensorflow

        # Through nas, whose import quiets TensorFlow's banners, before make imports it.
        import_tensorflow()
        given = {"batch_size": batch_size, "shard": shard, "seed": seed}
        source = self.make(**{name: given[name] for name in self.arguments})
        kind = source_kind(source)
        if kind is None:
            expected = "batches" if self.batched else "samples"
            raise ProblemError(
                f"{self!r} made a {type(source).__name__}: expected a tf.data.Dataset of "
                f"{expected} or a keras.utils.PyDataset of batches"
            )
        if kind == PYDATASET and "batch_size" not in self.arguments:
            raise ProblemError(
                f"{self!r} made a PyDataset, whose batches must have the configuration's "
                "batch size: make must take the argument batch_size"
            )
        return source

    def samples(self) -> Samples:
        """The names, shapes and dtypes of one sample, from the pipeline's element
        spec (less its batch axis when batched) or a ``PyDataset``'s first batch (made
        once per process, batch size 1).

        Raises:
            ProblemError: if a sample is not ``(x, y)`` with ``x`` and ``y`` a tensor or
                a dict of tensors.
        """
        if self._samples is None:
            source = self.open(batch_size=1, shard=Shard(0, 1), seed=0)
            if source_kind(source) == PIPELINE:
                element = source.element_spec
                first = 1 if self.batched else 0
                shape_of = lambda spec: (tuple(spec.shape)[first:], spec.dtype.name)  # noqa: E731
            else:
                element = source[0]
                shape_of = lambda batch: (np.shape(batch)[1:], np.asarray(batch).dtype.name)  # noqa: E731
            if not isinstance(element, (tuple, list)) or len(element) not in (2, 3):
                raise ProblemError(
                    f"{self!r} yields {type(element).__name__} elements: expected (x, y) "
                    "pairs (or (x, y, sample_weight))"
                )
            self._samples = Samples(
                _parts(self, "x", element[0], shape_of), _parts(self, "y", element[1], shape_of)
            )
        return self._samples

    def cached_count(self, shard: Shard, batch_size: int) -> int | None:
        """The samples (batches, when batched) of ``shard`` counted before in this
        process, or derived from ``num_samples`` (the part of an element-wise split of
        samples), else None."""
        key = self._count_key(shard, batch_size)
        with self._lock:
            if key in self._counts:
                return self._counts[key]
        if self.num_samples is not None and not self.shards_itself and not self.batched:
            return len(range(shard.index, self.num_samples, shard.count))
        return None

    def remember_count(self, shard: Shard, batch_size: int, count: int) -> None:
        with self._lock:
            self._counts[self._count_key(shard, batch_size)] = count

    def _count_key(self, shard: Shard, batch_size: int) -> tuple[Shard, int | None]:
        # A pipeline of samples holds as many whatever the batch size.
        return shard, batch_size if self.batched else None


#: Arrays (or tensors) by name; one unnamed array is named ``""``.
Parts = dict[str, tuple[tuple[Any, ...], str]]


@dataclass(frozen=True)
class Samples:
    """Shapes (without the batch axis) and dtype names of one sample's ``x`` and ``y``,
    by input and output name; one unnamed tensor is under the name ``""``."""

    x: Parts
    y: Parts


def _parts(stream: Stream, what: str, element: Any, shape_of: Callable[[Any], Any]) -> Parts:
    if isinstance(element, Mapping):
        return {str(name): shape_of(part) for name, part in element.items()}
    if isinstance(element, (tuple, list)):
        raise ProblemError(
            f"{stream!r} yields {what} as a {type(element).__name__}: expected one tensor or "
            "a dict of tensors by name"
        )
    return {"": shape_of(element)}


def source_kind(source: Any) -> str | None:
    """:data:`PIPELINE` for a ``tf.data.Dataset``, :data:`PYDATASET` for a Keras
    ``PyDataset``, None for anything else."""
    from nas._imports import import_keras, import_tensorflow

    if isinstance(source, import_tensorflow().data.Dataset):
        return PIPELINE
    if isinstance(source, import_keras().utils.PyDataset):
        return PYDATASET
    return None


def _arguments_taken(make: Callable[..., Any]) -> tuple[str, ...]:
    """The names among :data:`STREAM_ARGUMENTS` that ``make`` takes; refuse a required
    argument of another name."""
    try:
        parameters = inspect.signature(make).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: call it bare
        return ()
    taken = []
    for parameter in parameters:
        if parameter.kind is parameter.VAR_KEYWORD:
            return tuple(STREAM_ARGUMENTS)
        if parameter.kind is parameter.VAR_POSITIONAL:
            continue
        if parameter.name in STREAM_ARGUMENTS and parameter.kind is not parameter.POSITIONAL_ONLY:
            taken.append(parameter.name)
        elif parameter.default is parameter.empty:
            known = ", ".join(f"{name} ({what})" for name, what in STREAM_ARGUMENTS.items())
            raise ProblemError(
                f"Stream: make takes an argument {parameter.name!r} that nas cannot give; "
                f"it may take, by name: {known}"
            )
    return tuple(name for name in STREAM_ARGUMENTS if name in taken)
