"""Evaluate configs on the ranks of an MPI job: rank 0 drives, ranks 1..N-1 train.

``mpirun -np N nas-search ... --evaluator mpi`` runs the driver with an
:class:`MPIEvaluator` on rank 0 while every other rank runs :func:`serve`. A config that
asks for ``k`` data-parallel ranks (``num_ranks``) runs on a group of ``k`` free worker
ranks, which create a communicator of their own for it. Where groups go is the policy of
:mod:`nas.evaluate._rank_packing` (FIFO, first fit with backfilling, a guard against
starvation, the lowest-numbered free ranks).

Results come back as each evaluation finishes: no barrier, no rank waits for another
group. MPI has no receive with a timeout, so rank 0 (and an idle worker) polls
(``improbe``) and sleeps in between, a tenth of the time waited so far, from 0.1 ms up
to 5 ms: low latency, and next to no CPU taken from the ranks that train.

Every rank of a group calls the evaluation function; the group's first (lowest) rank
gets the models directory, and its result is the group's. Each worker sets
``NAS_LOCAL_RANK`` (its index among the worker ranks of its node) before its first
evaluation, for the trainer to pick a GPU by.

Failures and overruns: an exception raised by the evaluation function on a worker becomes
a failed trial; the worker goes on. An evaluation that has not reported within
``timeout + grace`` seconds of its start is recorded as timed out, naming the ranks that
did not answer. **A rank cannot be killed from MPI** (and its process may be on another
node), so those ranks are quarantined instead: no new work goes to them until they
answer; then their late result is dropped and they return to the pool. A rank that never
answers keeps the job from ending (``close`` waits for it, as ``MPI_Finalize`` would).

Ending: :meth:`MPIEvaluator.close` (leaving its ``with`` block, also on an exception)
sends every worker a stop, waits for the evaluations still running (MPI cannot interrupt
them) and returns; every rank then leaves its loop and the job ends by itself. If rank 0
fails before it has an evaluator, :func:`stop_workers` ends the workers' loops.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.evaluate._base import Evaluator
from nas.evaluate._evaluation import (
    EvaluationFunction,
    evaluate,
    problem_source,
    unreported_result,
)
from nas.evaluate._mpi_protocol import DONE, STOP, TASK, Backoff, Done, Task, describe_ranks
from nas.evaluate._rank_packing import RankPacker
from nas.problem import Problem
from nas.train import Stage, Status, TrainingResult
from nas.train._warm import checked_memory, checkpoint_key
from nas.trial import Config, Trial

logger = logging.getLogger("nas.evaluate.mpi")

#: How often ``close`` repeats which ranks it is still waiting for.
_CLOSE_REMINDER_SECONDS = 60.0


@dataclass
class _Group:
    """An evaluation that started on a group of ranks and has not fully ended."""

    config: Config
    ranks: tuple[int, ...]
    submitted_at: float
    started_at: float
    #: Ranks that have not yet said they are free.
    busy: set[int]
    #: Whether its trial was handed out (its result, or a timeout when it overran).
    reported: bool = False
    overran: bool = False
    #: Why the group's other ranks failed, by rank (they send no result of their own).
    errors: dict[int, str] = field(default_factory=dict)


class MPIEvaluator(Evaluator):
    """Evaluate configs on the worker ranks of an MPI job; use it on rank 0.

    Every other rank of ``comm`` must run :func:`serve` meanwhile.

    Args:
        problem: the :class:`~nas.problem.Problem`, or its reference ``"module:attribute"``
            (see :func:`problem_source` for how workers get it).
        comm: the communicator (default: ``MPI.COMM_WORLD``); this process must be its
            rank 0, and it needs at least one more rank.
        timeout: seconds of training allowed per evaluation, passed to the function
            (the trainer stops between batches at this limit). An evaluation not
            reported ``grace`` seconds after that is recorded as timed out and its ranks
            are quarantined until they answer. None: no limit.
        models_directory: where the group's first rank saves each successful model
            (None: nowhere).
        function: what evaluates a config (default: train it on the problem); called on
            every rank of the group as ``function(problem_source, config, timeout,
            models_directory, comm=group_communicator_or_None)``. Module-level, since
            workers import it by name.
        grace: seconds allowed past ``timeout`` before an evaluation counts as lost.
        max_waiting: how many submitted configs may wait for ranks at most (default:
            as many as there are worker ranks); bounds :attr:`num_free`.
        warm_memory: bytes of trained models each worker rank may keep in memory, so
            that the next segment of a configuration of width 1 goes back to that rank,
            if free, and continues warm (None: 1 GiB, at most a quarter of the node's
            memory over its worker ranks; 0: every segment loads its checkpoint).

    Raises:
        ValueError: with fewer than 2 ranks, or a bad argument (a function that cannot
            be pickled, say); in the latter case the workers are stopped first (see
            :func:`stop_workers`), so that the job still ends.
        RuntimeError: when not on rank 0.

    Example:
        >>> from mpi4py import MPI
        >>> if MPI.COMM_WORLD.rank == 0:
        ...     with MPIEvaluator("problems.digits:problem", timeout=600) as evaluator:
        ...         evaluator.submit(Config(0, (1, 0, 2), {"num_ranks": 2}))
        ...         trials = evaluator.collect()  # [Trial(..., worker="ranks 1-2")]
        ... else:
        ...     serve()
    """

    def __init__(
        self,
        problem: Problem | str,
        comm: Any = None,
        timeout: float | None = None,
        models_directory: Path | None = None,
        function: EvaluationFunction = evaluate,
        grace: float = 30.0,
        max_waiting: int | None = None,
        warm_memory: int | None = None,
    ) -> None:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD if comm is None else comm
        size, rank = comm.Get_size(), comm.Get_rank()
        if size < 2:
            raise ValueError(
                f"the MPI evaluator needs at least 2 ranks (rank 0 drives, the others "
                f"train), but this job has {size}: run under mpirun -np N"
            )
        if rank != 0:
            raise RuntimeError(
                f"MPIEvaluator runs on rank 0, not rank {rank}: the other ranks call "
                "nas.evaluate.serve()"
            )
        try:
            if timeout is not None and not timeout > 0:
                raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
            if not grace >= 0:
                raise ValueError(f"grace must be a number of seconds >= 0, got {grace!r}")
            if warm_memory is not None:
                checked_memory(warm_memory)
            self._function = _pickled(function)
            self.problem_source = problem_source(problem)
            self._packer: RankPacker[int] = RankPacker(range(1, size), max_waiting)
        except Exception:
            # The workers are already waiting in serve(): without this, the job would
            # never end once rank 0 has reported the error.
            stop_workers(comm)
            raise
        self.timeout = timeout
        self.grace = grace
        self.warm_memory = warm_memory
        #: The checkpoints each worker rank keeps warm models of, as it last said.
        self._warm: dict[int, tuple[str, ...]] = {}
        self.models_directory = models_directory
        self.function = function
        self._comm = comm
        self._mpi = MPI
        self._status = MPI.Status()
        self.num_workers = size - 1
        self.max_width = self._packer.max_width
        self._next_id = 0
        self._waiting: dict[int, tuple[Config, float]] = {}  # queued: config, submitted at
        self._groups: dict[int, _Group] = {}
        self._num_unreported = 0  # started and not handed out
        # Evaluations start in order and share one limit, so their deadlines are in order.
        self._deadlines: deque[tuple[float, int]] = deque()
        self._sends: list[Any] = []  # requests of sends not known to be complete
        self._closed = False

    # -- Evaluator interface ---------------------------------------------------------

    def submit(self, config: Config) -> None:
        """Queue ``config`` and start it if ranks are free (see the placement policy).

        Raises:
            ValueError: if it asks for more ranks than :attr:`max_width`.
            RuntimeError: after :meth:`close`, or with ``max_waiting`` configs waiting.
        """
        if self._closed:
            raise RuntimeError("submit() on a closed MPIEvaluator")
        try:
            self._packer.check_width(config.num_ranks)
        except ValueError as error:
            raise ValueError(f"trial {config.trial_id}: {error}") from None
        if self._packer.num_waiting >= self._packer.max_waiting:
            raise RuntimeError(
                f"submit() called with {self._packer.num_waiting} configs already waiting "
                "for ranks; check num_free first"
            )
        key = self._next_id
        self._next_id += 1
        self._waiting[key] = (config, time.time())
        self._packer.enqueue(key, config.num_ranks, self._warm_rank(config))
        self._start_placed()

    def collect(self, timeout: float | None = None) -> list[Trial]:
        """Wait up to ``timeout`` seconds (None: until one finishes; 0: poll) for trials."""
        end = None if timeout is None else time.monotonic() + max(0.0, timeout)
        backoff = Backoff()
        while True:
            trials, arrived = self._progress()
            if trials or self.num_running == 0:
                return trials
            remaining = None if end is None else end - time.monotonic()
            if remaining is not None and remaining <= 0:
                return []
            if arrived:
                backoff.reset()  # a rank of a group freed: the rest of it is likely close
            backoff.sleep(remaining)

    @property
    def num_running(self) -> int:
        """Configs submitted and not yet collected: waiting for ranks, or running."""
        return len(self._waiting) + self._num_unreported

    @property
    def num_free(self) -> int:
        """How many more configs to submit now: 0 while no rank is free (see the policy)."""
        return 0 if self._closed else self._packer.num_free

    def close(self) -> None:
        """Tell every worker rank to leave its loop, so that the job can end.

        Workers that are evaluating see the stop when they finish: MPI cannot interrupt
        them. This waits for them (their answers must be received, or a large result
        would block its sender for ever), then returns; results that arrive meanwhile are
        dropped, and configs still waiting are abandoned.
        """
        if self._closed:
            return
        self._closed = True
        for rank in range(1, self.num_workers + 1):
            self._sends.append(self._comm.isend(None, dest=rank, tag=STOP))
        self._wait_for_busy_ranks()
        self._mpi.Request.Waitall(self._sends)
        self._sends = []

    # -- internals -------------------------------------------------------------------

    def _progress(self) -> tuple[list[Trial], bool]:
        """Take in answers, overruns and configs that cannot run, start what fits.

        Returns the trials finished and whether any message arrived.
        """
        trials, arrived = self._receive()
        trials += self._overrun()
        trials += self._drop_unplaceable()
        self._start_placed()
        self._sends = [request for request in self._sends if not request.Test()]
        return trials, arrived

    def _start_placed(self) -> None:
        for key, ranks in self._packer.place():
            config, submitted_at = self._waiting.pop(key)
            task = Task(
                key,
                ranks,
                config.to_dict(),
                self.problem_source,
                self.timeout,
                self.models_directory,
                self._function,
                self.warm_memory,
            )
            for rank in ranks:
                self._sends.append(self._comm.isend(task, dest=rank, tag=TASK))
            self._groups[key] = _Group(config, ranks, submitted_at, time.time(), set(ranks))
            self._num_unreported += 1
            if self.timeout is not None:
                self._deadlines.append((time.monotonic() + self.timeout + self.grace, key))

    def _receive(self) -> tuple[list[Trial], bool]:
        """Every answer that has arrived: the trials it completes, and whether any came."""
        trials: list[Trial] = []
        arrived = False
        while True:
            message = self._comm.improbe(
                source=self._mpi.ANY_SOURCE, tag=DONE, status=self._status
            )
            if message is None:
                return trials, arrived
            arrived = True
            done = message.recv()
            trial = self._on_done(done)
            if trial is not None:
                trials.append(trial)

    def _on_done(self, done: Done) -> Trial | None:
        group = self._groups.get(done.evaluation_id)
        if group is None or done.rank not in group.busy:
            logger.error(
                "rank %d answered for evaluation %d, which it was not running; ignored",
                done.rank,
                done.evaluation_id,
            )
            return None
        group.busy.discard(done.rank)
        self._packer.release(done.rank)
        if len(group.ranks) == 1:  # a group's ranks do not keep models warm
            self._warm[done.rank] = done.warm
        if done.error is not None and done.rank != group.ranks[0]:
            group.errors[done.rank] = done.error
        trial = None
        if done.result is not None or (not group.busy and not group.reported):
            if group.reported:
                logger.warning(
                    "trial %d: dropping the late result from %s, recorded as timed out",
                    group.config.trial_id,
                    describe_ranks(group.ranks),
                )
            else:
                trial = self._report(group, self._result(group, done))
        if not group.busy:
            if group.overran:
                logger.warning("%s answered at last: back in use", describe_ranks(group.ranks))
            del self._groups[done.evaluation_id]
        return trial

    def _warm_rank(self, config: Config) -> int | None:
        """The rank keeping warm the model ``config`` continues, if one does (width 1)."""
        if config.start_from is None or config.num_ranks != 1:
            return None
        key = checkpoint_key(config.start_from)
        return next((rank for rank, held in self._warm.items() if key in held), None)

    def _result(self, group: _Group, done: Done) -> TrainingResult:
        """The result the group's first rank sent (a failure if it sent none or garbage)."""
        if done.result is None:
            reason = f"{describe_ranks(group.ranks)} finished without a result"
        else:
            try:
                return TrainingResult.from_dict(done.result)
            except Exception as error:
                reason = f"rank {done.rank} sent an unreadable result: {error}"
        return unreported_result(group.config, group.started_at, Status.FAILED, reason)

    def _report(self, group: _Group, result: TrainingResult) -> Trial:
        group.reported = True
        self._num_unreported -= 1
        return Trial(group.config, result, describe_ranks(group.ranks), group.submitted_at)

    def _overrun(self) -> list[Trial]:
        """Trials of evaluations past ``timeout + grace``; their silent ranks quarantined."""
        trials = []
        now = time.monotonic()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, key = self._deadlines.popleft()
            group = self._groups.get(key)
            if group is None:
                continue  # it ended in time
            group.overran = True
            # Even after its result came, a rank still busy (stuck in a collective,
            # say) is not counted on until it answers.
            self._packer.quarantine(group.busy)
            silent = describe_ranks(group.busy)
            logger.warning(
                "trial %d: no answer from %s within %g s; quarantined until they answer",
                group.config.trial_id,
                silent,
                self.timeout + self.grace,
            )
            if group.reported:
                continue
            reason = (
                f"no answer from {silent} within {self.timeout + self.grace:g} s (timeout "
                f"{self.timeout:g} s + grace {self.grace:g} s); MPI cannot stop a rank, so "
                "they get no new work until they answer"
            )
            for rank, error in sorted(group.errors.items()):
                reason += f"; rank {rank} failed: {error}"
            result = unreported_result(group.config, group.started_at, Status.TIMEOUT, reason)
            trials.append(self._report(group, result))
        return trials

    def _drop_unplaceable(self) -> list[Trial]:
        """Failed trials for waiting configs wider than the ranks that still answer."""
        trials = []
        for key in self._packer.drop_unplaceable():
            config, submitted_at = self._waiting.pop(key)
            reason = (
                f"it asks for {config.num_ranks} ranks, but only {self._packer.num_usable} "
                f"of the {self.num_workers} worker ranks can take work: "
                f"{describe_ranks(self._packer.quarantined)} overran and have not answered"
            )
            result = unreported_result(config, time.time(), Status.FAILED, reason, Stage.SETUP)
            trials.append(Trial(config, result, "not placed", submitted_at))
        return trials

    def _wait_for_busy_ranks(self) -> None:
        """Receive the answers of every rank still evaluating (dropping their results)."""
        backoff = Backoff()
        reminder = 0.0  # monotonic time of the next log line
        while True:
            busy = sorted(rank for group in self._groups.values() for rank in group.busy)
            if not busy:
                return
            if time.monotonic() >= reminder:
                logger.info(
                    "closing: waiting for %s to finish their evaluations (MPI cannot stop "
                    "a rank from outside)",
                    describe_ranks(busy),
                )
                reminder = time.monotonic() + _CLOSE_REMINDER_SECONDS
            _, arrived = self._receive()
            if arrived:
                backoff.reset()
            else:
                backoff.sleep()


def stop_workers(comm: Any = None) -> None:
    """From rank 0, end every worker rank's :func:`serve` loop, without an evaluator.

    For a driver that fails before it has an :class:`MPIEvaluator` to close (a problem
    that does not import, say): the workers would otherwise wait for tasks for ever and
    the job would never end. Do not call it while an evaluator is open; close that.
    """
    from mpi4py import MPI

    comm = MPI.COMM_WORLD if comm is None else comm
    requests = [comm.isend(None, dest=rank, tag=STOP) for rank in range(1, comm.Get_size())]
    MPI.Request.Waitall(requests)


def _pickled(function: EvaluationFunction) -> bytes:
    """``function`` pickled by reference, once, for every task sent."""
    try:
        return pickle.dumps(function)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise ValueError(
            f"the evaluation function {function!r} cannot be sent to the worker ranks: it "
            f"must be a module-level function they can import by name ({error})"
        ) from None
