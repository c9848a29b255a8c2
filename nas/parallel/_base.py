"""The data-parallel interface: what the trainer calls, built once on a few primitives.

A backend (Horovod, plain mpi4py) only knows how to sum and broadcast flat buffers and how
to average a list of tensors inside a compiled train step. Everything Keras-specific
(which variables, how an optimizer is made to average, how metrics are merged) lives here,
so the backends cannot drift apart on it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

# Marks an optimizer that ``distribute`` already wrapped, so it is not averaged twice.
_DISTRIBUTED_BY = "_nas_data_parallel"


class DataParallel(ABC):
    """Data-parallel training of one Keras model on the ranks of one communicator.

    Every rank of the group makes one (see :func:`nas.parallel.data_parallel`) and
    calls the same methods in the same order: each method is a collective.

    Example:
        >>> with data_parallel(comm) as parallel:
        ...     model.compile(optimizer=parallel.distribute(keras.optimizers.Adam()),
        ...                   loss="mse", jit_compile=False)
        ...     parallel.broadcast_weights(model)
        ...     model.fit(x_shard, y_shard, epochs=5)
        ...     model.evaluate(x_valid_shard, y_valid_shard)
        ...     parallel.average_metrics(model)
        ...     metrics = model.get_metrics_result()   # over the whole validation set

    Attributes:
        name: the implementation, ``"horovod"`` or ``"mpi"`` (recorded in results).
        rank: this process's rank in the group, ``0 <= rank < size``.
        size: the number of ranks in the group.
    """

    name: ClassVar[str]

    def __init__(self, rank: int, size: int) -> None:
        self.rank = rank
        self.size = size
        self._shut_down = False

    # ----------------------------------------------------------------- trainer API

    def broadcast_weights(self, model: Any, root: int = 0) -> None:
        """Make every rank's ``model.variables`` (trainable or not) equal to ``root``'s.

        Call it after building (and compiling) the model, before training: ranks that
        initialised their weights differently then start from the same point.
        ``model.variables`` includes the dropout layers' seed-generator states, so the
        ranks then draw the same dropout masks. State that training updates without
        gradients (batch normalisation's moving statistics) drifts apart again during
        ``fit``, since each rank sees its own data: call this again after training when
        every rank must hold the same model.
        """
        self._check_open()
        if not isinstance(root, (int, np.integer)) or not 0 <= root < self.size:
            raise ValueError(f"root must be a rank of the group, 0..{self.size - 1}; got {root!r}")
        variables = list(model.variables)
        values = _fused(
            [np.asarray(v.numpy()) for v in variables],
            lambda buffer: self._broadcast_array(buffer, int(root)),
        )
        for variable, value in zip(variables, values):
            variable.assign(value)

    def distribute(self, optimizer: Any) -> Any:
        """Make ``optimizer`` average the gradients over the group before every update.

        The optimizer is changed in place and returned: the same object of the same
        class (its ``apply`` is wrapped on the instance), so a model compiled with it
        saves to ``.keras`` and loads back with ``keras.saving.load_model`` as usual.
        The gradients of one step are averaged in one fused collective. Sparse
        gradients (``tf.IndexedSlices``, from embeddings) are made dense first; a
        gradient that is ``None`` (a variable the loss does not use) stays ``None``.

        A model using it must be compiled with ``jit_compile=False``: the collectives
        are not XLA operations (Keras's default ``"auto"`` picks XLA on GPUs).

        Raises:
            TypeError: ``optimizer`` is not a Keras 3 optimizer.
            ValueError: it was already distributed.
        """
        self._check_open()
        apply = getattr(optimizer, "apply", None)
        if not callable(apply) or not hasattr(optimizer, "apply_gradients"):
            raise TypeError(
                f"distribute expects a Keras 3 optimizer (with apply), "
                f"got {type(optimizer).__name__}"
            )
        if getattr(optimizer, _DISTRIBUTED_BY, None) is not None:
            raise ValueError(
                f"optimizer {getattr(optimizer, 'name', optimizer)!r} is already distributed; "
                "averaging twice would cost a second collective per step"
            )

        def averaging_apply(grads: Sequence[Any], trainable_variables: Any = None) -> Any:
            return apply(self._average_gradients(grads), trainable_variables)

        # Keras 3's train step calls optimizer.apply_gradients -> optimizer.apply; wrapping
        # the bound method on the instance keeps the class (and so saving) unchanged.
        optimizer.apply = averaging_apply
        setattr(optimizer, _DISTRIBUTED_BY, self.name)
        return optimizer

    def average_metrics(self, model: Any) -> None:
        """Sum every metric state variable of ``model`` over the group, in place.

        After each rank has run ``fit``/``evaluate`` on its own shard, this makes
        ``model.get_metrics_result()`` give the metrics over the union of the shards.
        That is exact for Keras metrics because their states are sums (totals and
        counts for means such as the loss, confusion counts for AUC, precision,
        recall and F1, sums of targets and squares for R2).
        """
        self._check_open()
        variables = list(model.metrics_variables)
        sums = _fused([np.asarray(v.numpy()) for v in variables], self._sum_array)
        for variable, value in zip(variables, sums):
            variable.assign(value)

    def any(self, flag: bool) -> bool:
        """Collective OR: ``True`` on every rank when any rank passed ``True``.

        For decisions all ranks must take together (stop on a NaN loss, on a deadline),
        since a rank that stops alone leaves the others waiting in a collective.
        """
        self._check_open()
        return bool(self._sum_array(np.array([1 if flag else 0], dtype=np.int32))[0] > 0)

    def allreduce_sum(self, array: np.ndarray) -> np.ndarray:
        """Element-wise sum of ``array`` over the group (eager, outside the train step).

        The result has the input's shape and dtype (booleans are summed as ``int64``
        counts, since MPI has no sum of booleans).
        """
        self._check_open()
        values = np.asarray(array)
        if values.dtype == np.bool_:
            values = values.astype(np.int64)
        if values.size == 0:
            return values.copy()
        return self._sum_array(np.ascontiguousarray(values).reshape(-1)).reshape(values.shape)

    def shutdown(self) -> None:
        """Release the backend's resources; later calls do nothing. Collective."""
        if not self._shut_down:
            self._shut_down = True
            self._shutdown()

    def __enter__(self) -> DataParallel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        state = ", shut down" if self._shut_down else ""
        return f"{type(self).__name__}(rank={self.rank}, size={self.size}{state})"

    # ------------------------------------------------------------- backend primitives

    @abstractmethod
    def _average_in_step(self, tensors: list[Any]) -> list[Any]:
        """Average dense tf tensors over the group, inside a ``tf.function`` (not XLA).

        One fused collective for the whole list; same shapes and dtypes back.
        """

    @abstractmethod
    def _broadcast_array(self, array: np.ndarray, root: int) -> np.ndarray:
        """``root``'s value of a flat, contiguous numpy array, on every rank."""

    @abstractmethod
    def _sum_array(self, array: np.ndarray) -> np.ndarray:
        """The element-wise sum over the group of a flat, contiguous numpy array."""

    @abstractmethod
    def _shutdown(self) -> None:
        """Release the backend (called once)."""

    # ----------------------------------------------------------------------- helpers

    def _check_open(self) -> None:
        if self._shut_down:
            raise RuntimeError(f"{self!r} was shut down; make a new one with data_parallel()")

    def _average_gradients(self, grads: Sequence[Any]) -> list[Any]:
        """Average the non-``None`` gradients; ``None`` stays in place on every rank.

        Every rank runs the same model, so the ``None`` positions agree and the fused
        buffers line up.
        """
        self._check_open()
        import tensorflow as tf

        grads = list(grads)
        present = [i for i, grad in enumerate(grads) if grad is not None]
        if not present:
            return grads
        # IndexedSlices differ in length between ranks (they hold the rows each rank
        # touched), so they cannot share a fixed-layout buffer: make them dense.
        dense = [tf.convert_to_tensor(grads[i]) for i in present]
        for i, averaged in zip(present, self._average_in_step(dense)):
            grads[i] = averaged
        return grads


def _fused(
    arrays: Sequence[np.ndarray], collective: Callable[[np.ndarray], np.ndarray]
) -> list[np.ndarray]:
    """Run ``collective`` once per dtype on all ``arrays`` concatenated; split back.

    One large message instead of one per array: latency, not bandwidth, dominates
    for the many small tensors of a model (Horovod's tensor fusion, by hand).
    """
    results: list[np.ndarray | None] = [None] * len(arrays)
    by_dtype: dict[np.dtype, list[int]] = {}
    for i, array in enumerate(arrays):
        by_dtype.setdefault(np.asarray(array).dtype, []).append(i)
    for dtype, indices in by_dtype.items():
        parts = [np.asarray(arrays[i], dtype=dtype).reshape(-1) for i in indices]
        buffer = np.concatenate(parts) if parts else np.empty(0, dtype)
        reduced = collective(buffer) if buffer.size else buffer
        offset = 0
        for i, part in zip(indices, parts):
            results[i] = reduced[offset : offset + part.size].reshape(np.shape(arrays[i]))
            offset += part.size
    return results  # type: ignore[return-value]
