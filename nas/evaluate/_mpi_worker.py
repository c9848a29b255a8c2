"""The loop of the MPI evaluator's worker ranks: every rank but 0 runs :func:`serve`."""

from __future__ import annotations

import os
import pickle
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nas._stop import ignore_stop_signals
from nas.evaluate._evaluation import (
    WORKER_MODELS,
    evaluate,
    freeze_startup_objects,
    keep_warm_models,
    unreported_result,
    warm_memory_budget,
)
from nas.evaluate._mpi_protocol import (
    DONE,
    STOP,
    TASK,
    WORKERS_GROUP_TAG,
    Backoff,
    Done,
    Task,
    group_tag,
)
from nas.train import Stage, Status, TrainingResult
from nas.train._interrupt import clear_interrupt, request_interrupt
from nas.trial import Config

#: The environment variable a worker rank sets to its rank among the worker ranks of
#: its node (0, 1, ...), before its first evaluation: the trainer binds a GPU by it.
LOCAL_RANK_VARIABLE = "NAS_LOCAL_RANK"
#: Seconds between two looks for rank 0's stop while an evaluation runs.
_STOP_POLL = 0.2


def serve(comm: Any = None) -> None:
    """Evaluate what rank 0's :class:`~nas.evaluate.MPIEvaluator` sends, until it stops us.

    Run this on every rank except 0 of ``comm`` (default: ``MPI.COMM_WORLD``) while rank 0
    runs the driver with an ``MPIEvaluator`` on the same communicator. Each task names a
    group of ranks; for a group of more than one, its ranks create a communicator of
    their own (only they take part) and call the evaluation function with it as
    ``comm=``. Only the group's first rank gets the models directory and reports the
    result; every rank tells rank 0 when it is free again. An exception raised by the
    function becomes a failed result: it never ends this loop. The loop returns when
    rank 0 closes the evaluator.

    Before the first task, this sets ``NAS_LOCAL_RANK`` to the rank's index among the
    worker ranks on its node (collective over the worker ranks, not rank 0). A rank
    keeps the models it trained alone warm for their next segment, within the task's
    ``warm_memory`` (by default a share of its node's memory, see
    :func:`~nas.evaluate._evaluation.warm_memory_budget`).

    Example:
        >>> from mpi4py import MPI
        >>> if MPI.COMM_WORLD.rank == 0:
        ...     with MPIEvaluator("problems.digits:problem") as evaluator:
        ...         Driver(problem, search, evaluator, directory, max_evals=100, settings={}).run()
        ... else:
        ...     serve()
    """
    from mpi4py import MPI

    comm = MPI.COMM_WORLD if comm is None else comm
    rank = comm.Get_rank()
    if rank == 0:
        raise RuntimeError(
            "serve() runs on the worker ranks; rank 0 runs the driver with an MPIEvaluator"
        )
    # A batch scheduler's SIGTERM (and Ctrl-C) reaches every rank; rank 0 decides what
    # happens (stop proposing, wait, write) and then stops the workers itself. Ignored
    # from here; before, nas-search counts them on every rank from its first line.
    ignore_stop_signals()
    local_rank, node_ranks = _node_placement(comm)
    os.environ[LOCAL_RANK_VARIABLE] = str(local_rank)
    backoff = Backoff()
    stopped = False  # rank 0's stop received: run the tasks sent before it, then leave
    while True:
        # Only our tags, so that messages of other code on ``comm`` are left alone.
        message = comm.improbe(source=0, tag=TASK)
        if message is not None:
            task = message.recv()
            keep_warm_models(warm_memory_budget(task.warm_memory, node_ranks))
            with _stop_watch(comm):
                if stopped:
                    request_interrupt()  # as the watch would have on seeing the stop
                done = _run(task, comm, rank)
            # A blocking send: a large result (rendezvous protocol) must reach rank 0
            # before this rank takes another task; rank 0 receives until its ranks are
            # free, even while it closes.
            comm.send(done, dest=0, tag=DONE)
            backoff.reset()  # the next task likely follows at once: poll fast for it
            continue
        if stopped:
            return
        message = comm.improbe(source=0, tag=STOP)
        if message is not None:
            message.recv()
            # Rank 0 sends a rank's stop after its tasks, but MPI keeps one sender's
            # messages in order for one receive, not across tags: a task sent before
            # the stop can arrive between the two probes above. Unanswered, rank 0
            # would wait for it for ever; so look for tasks once more before leaving.
            stopped = True
            continue
        backoff.sleep()


@contextmanager
def _stop_watch(comm: Any) -> Iterator[None]:
    """While a task runs, a thread watches for rank 0's stop and interrupts training.

    Without it a stopping search would wait for every running evaluation to end. The
    stop message is only probed, not received: the loop receives it afterwards.
    """
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(_STOP_POLL):
            if comm.iprobe(source=0, tag=STOP):
                request_interrupt()
                return

    watcher = threading.Thread(target=watch, name="nas-stop-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        finished.set()
        watcher.join()
        clear_interrupt()


def _node_placement(comm: Any) -> tuple[int, int]:
    """This rank's index among the worker ranks (not rank 0) on its node, and how many
    worker ranks its node has."""
    from mpi4py import MPI

    world_group = comm.Get_group()
    workers_group = world_group.Excl([0])
    # Create_group is collective over the workers only: rank 0 need not take part.
    workers = comm.Create_group(workers_group, tag=WORKERS_GROUP_TAG)
    node = workers.Split_type(MPI.COMM_TYPE_SHARED)
    placement = node.Get_rank(), node.Get_size()
    for handle in (node, workers, workers_group, world_group):
        handle.Free()
    return placement


def _run(task: Task, comm: Any, rank: int) -> Done:
    """Run this rank's part of ``task``; whatever happens, say so in a :class:`Done`."""
    started_at = time.time()
    config = Config.from_dict(task.config)
    first = rank == task.ranks[0]
    group_comm = None
    try:
        function = pickle.loads(task.function)  # pickled by rank 0: trusted
        if function is evaluate:
            freeze_startup_objects()
        if len(task.ranks) > 1:
            group_comm = _create_group(comm, task)
        result = function(
            task.problem_source,
            config,
            task.timeout,
            task.models_directory if first else None,
            comm=group_comm,
        )
        if not isinstance(result, TrainingResult):
            raise TypeError(
                f"the evaluation function returned {type(result).__name__}, not a TrainingResult"
            )
    # SystemExit too: a training script calling sys.exit() must not end the worker loop.
    except (Exception, SystemExit) as error:
        reason = f"{type(error).__name__}: {error} (on rank {rank})"
        result = unreported_result(config, started_at, Status.FAILED, reason, Stage.SETUP)
    finally:
        if group_comm is not None:
            group_comm.Free()
    return Done(
        task.evaluation_id,
        rank,
        result.to_dict() if first else None,
        None if result.ok else (result.error or str(result.status)),
        tuple(WORKER_MODELS.holding()) if len(task.ranks) == 1 else (),
    )


def _create_group(comm: Any, task: Task) -> Any:
    """The communicator of the task's group (collective over the group's ranks only)."""
    world_group = comm.Get_group()
    group = world_group.Incl(list(task.ranks))
    try:
        return comm.Create_group(group, tag=group_tag(task.evaluation_id))
    finally:
        group.Free()
        world_group.Free()
