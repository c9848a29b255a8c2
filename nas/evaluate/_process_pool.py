"""A pool of long-lived worker processes on this machine (the default backend).

Each worker imports TensorFlow once and trains many configs, one at a time. A worker
that dies (a segfault, the out-of-memory killer, ``kill -9``) is noticed through its
process sentinel: its evaluation is recorded as failed with the exit code and a fresh
worker takes its place. An evaluation that overruns its timeout by more than a grace
period (a hang in data loading, say, where the trainer's own timeout cannot act) is
killed the same way and recorded as timed out.

Each worker keeps the models it trained in memory (within ``warm_memory``) and tells
the pool which checkpoints they stand for: a segment continuing one of them goes to
that worker when it is free, and continues warm (see :class:`nas.train.WarmModels`).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing import forkserver, resource_tracker
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from nas._imports import import_tensorflow
from nas._stop import blocked_while_starting, ignore_stop_signals
from nas.evaluate._base import Evaluator
from nas.evaluate._evaluation import (
    WORKER_MODELS,
    EvaluationFunction,
    ProblemSource,
    evaluate,
    freeze_startup_objects,
    keep_warm_models,
    problem_source,
    unreported_result,
    warm_memory_budget,
)
from nas.problem import Problem
from nas.train import Status, TrainingResult
from nas.train._warm import checkpoint_key
from nas.trial import Config, Trial

#: How worker processes can start (multiprocessing's start methods). Never forked from
#: the driver ("fork"): it may have run TensorFlow operations (building the space), and
#: TensorFlow's thread pools do not survive a fork. "forkserver": forked from a server
#: that imported TensorFlow and ran nothing (see _worker_server); "spawn": a fresh
#: interpreter that imports it.
START_METHODS = ("forkserver", "spawn")
_SERVER_IMPORTS = ["nas.evaluate._worker_server"]


@dataclass
class _Worker:
    name: str
    process: Any
    connection: Connection
    config: Config | None = None
    submitted_at: float = 0.0
    started_at: float = 0.0
    num_evaluated: int = 0
    #: The checkpoints whose models it keeps warm, as it last said.
    warm: frozenset[str] = frozenset()


class ProcessPoolEvaluator(Evaluator):
    """Evaluate configs in parallel in worker processes.

    Args:
        problem: the :class:`~nas.problem.Problem`, or its reference ``"module:attribute"``
            (see :func:`problem_source` for how workers get it).
        num_workers: worker processes (default: the number of CPU cores).
        timeout: seconds of training allowed per evaluation; the trainer stops between
            batches at this limit, and the worker is killed ``grace`` seconds later if
            it has not reported by then. None: no limit.
        grace: seconds allowed past ``timeout`` before a worker is killed.
        threads_per_worker: TensorFlow threads per worker (default: cores / workers),
            so that workers do not fight over the cores.
        models_directory: where workers save each successful model (None: nowhere).
        max_evals_per_worker: a worker is replaced by a fresh process after this many
            evaluations, because TensorFlow keeps some memory of every ``fit`` it ran
            (keras-team/keras#17458) and a long search would otherwise grow without end.
        function: what evaluates a config (default: train it on the problem); a
            module-level function, since workers import it by name.
        warm_memory: bytes of trained models each worker may keep in memory to continue
            the next segment of a configuration warm (None: 1 GiB, at most a quarter of
            the machine's memory over the workers; 0: every segment loads its checkpoint).
        start_method: how worker processes start, one of :data:`START_METHODS`. None:
            ``"forkserver"`` where the platform has it (not Windows), else ``"spawn"``.
            Forked from the server, a worker starts in a fraction of a second (the
            server imported TensorFlow once, when the process's first pool started);
            spawned, it imports TensorFlow itself, seconds each time. Either way it
            works in the driver's environment of its start. The fork server is
            multiprocessing's, one per process: processes of your own started with
            ``"forkserver"`` after a pool did also have TensorFlow imported and ignore
            SIGINT and SIGTERM (Python's default start method on Linux, ``"fork"``, is
            not concerned).

    Example:
        >>> with ProcessPoolEvaluator("problems.breast_cancer:problem", num_workers=2) as pool:
        ...     pool.submit(Config(0, (1, 0, 2), {}))
        ...     trials = pool.collect(timeout=60)
    """

    def __init__(
        self,
        problem: Problem | str,
        num_workers: int | None = None,
        timeout: float | None = None,
        grace: float = 30.0,
        threads_per_worker: int | None = None,
        models_directory: Path | None = None,
        max_evals_per_worker: int = 100,
        function: EvaluationFunction = evaluate,
        warm_memory: int | None = None,
        start_method: str | None = None,
    ) -> None:
        cores = os.cpu_count() or 1
        num_workers = cores if num_workers is None else num_workers
        exit_if_importing_main_in_a_worker()
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(f"num_workers must be a positive int, got {num_workers!r}")
        if (
            isinstance(max_evals_per_worker, bool)
            or not isinstance(max_evals_per_worker, int)
            or (max_evals_per_worker < 1)
        ):
            raise ValueError(
                f"max_evals_per_worker must be a positive int, got {max_evals_per_worker!r}"
            )
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        available = [m for m in START_METHODS if m in multiprocessing.get_all_start_methods()]
        if start_method is None:
            start_method = available[0]
        elif start_method not in available:
            raise ValueError(
                f"start_method must be one of {available} on this platform, got "
                f"{start_method!r} (workers are never forked from the driver: TensorFlow "
                "does not survive a fork once it ran)"
            )
        self.start_method = start_method
        self._context = multiprocessing.get_context(start_method)
        self.problem_source = problem_source(problem)
        self.num_workers = num_workers
        self.timeout = timeout
        self.grace = grace
        self.threads_per_worker = threads_per_worker or max(1, cores // num_workers)
        self.models_directory = models_directory
        self.max_evals_per_worker = max_evals_per_worker
        self.function = function
        self.warm_memory = warm_memory_budget(warm_memory, num_workers)
        self._started = 0
        self._workers = [self._start_worker() for _ in range(num_workers)]

    # -- Evaluator interface ---------------------------------------------------------

    def submit(self, config: Config) -> None:
        idle = [worker for worker in self._workers if worker.config is None]
        if not idle:
            raise RuntimeError("submit() called with every worker busy; check num_free first")
        worker = self._warm_worker(config, idle) or idle[0]
        try:
            # The folder travels with each task: a study may point a pool it was given at
            # its own.
            worker.connection.send((config.to_dict(), self.models_directory))
        except (BrokenPipeError, OSError):
            pass  # it died: collect() records the evaluation as failed and replaces it
        worker.config, worker.submitted_at, worker.started_at = config, time.time(), time.time()

    def collect(self, timeout: float | None = None) -> list[Trial]:
        busy = [worker for worker in self._workers if worker.config is not None]
        if not busy:
            return []
        waiting = [w.connection for w in busy] + [w.process.sentinel for w in busy]
        wait(waiting, timeout=self._wait_time(busy, timeout))
        trials = []
        for worker in busy:
            trial = self._check(worker)
            if trial is not None:
                trials.append(trial)
        return trials

    @property
    def num_running(self) -> int:
        return sum(worker.config is not None for worker in self._workers)

    def close(self) -> None:
        for worker in self._workers:
            if worker.config is not None:
                # Its result would be dropped (resume runs it again): no reason to wait
                # for it, and a stopping search has its scheduler's kill coming.
                worker.process.kill()
                continue
            try:
                worker.connection.send(None)  # asks an idle worker to exit cleanly
            except (BrokenPipeError, OSError):
                pass
        deadline = time.time() + 5
        for worker in self._workers:
            worker.process.join(timeout=max(0.0, deadline - time.time()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
        self._workers = []

    # -- internals -------------------------------------------------------------------

    @staticmethod
    def _warm_worker(config: Config, idle: list[_Worker]) -> _Worker | None:
        """The idle worker holding the model ``config`` continues, if one does (a busy
        one is not waited for: the segment goes cold rather than leave a worker idle)."""
        if config.start_from is None:
            return None
        key = checkpoint_key(config.start_from)
        return next((worker for worker in idle if key in worker.warm), None)

    def _start_worker(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        name = f"process-{self._started}"
        process = self._context.Process(
            target=_worker_main,
            args=(
                theirs,
                self.function,
                self.problem_source,
                self.timeout,
                self.threads_per_worker,
                self.warm_memory,
                dict(os.environ),
            ),
            name=f"nas-{name}",
            daemon=True,
        )
        # Stop signals are blocked until the first instruction of the process started
        # ignores them: a signal to the process group while it starts (seconds of
        # imports) must not kill it. That process is the fork server, whose workers
        # inherit its ignoring, or, spawned, the worker itself. The resource tracker,
        # which multiprocessing starts with the first worker, unblocks them after its
        # own start (bpo-33613): it is started first, outside the block.
        if self.start_method == "forkserver":
            start_worker_server()
            # Outside the block: the first start waits for the server's imports.
            process.start()
        else:
            resource_tracker.ensure_running()
            with blocked_while_starting():
                process.start()
        theirs.close()
        self._started += 1
        return _Worker(name, process, ours)

    def _wait_time(self, busy: list[_Worker], timeout: float | None) -> float | None:
        """Wake up in time to kill the first worker that will overrun its deadline."""
        if self.timeout is None:
            return timeout
        first_deadline = min(w.started_at for w in busy) + self.timeout + self.grace
        until_deadline = max(0.0, first_deadline - time.time())
        return until_deadline if timeout is None else min(timeout, until_deadline)

    def _check(self, worker: _Worker) -> Trial | None:
        """The trial of ``worker`` if it finished, died or overran; else None."""
        assert worker.config is not None  # noqa: S101 - only busy workers are checked
        name = worker.name  # a replaced worker gets a new name; the trial keeps this one
        result: TrainingResult | None = None
        if worker.connection.poll():
            try:
                message = worker.connection.recv()
                result = TrainingResult.from_dict(message["result"])
                worker.warm = frozenset(message["warm"])
            except (EOFError, OSError):
                pass  # it died after all: handled below
        if result is None and not worker.process.is_alive():
            if worker.process.exitcode == UNGUARDED_MAIN_EXIT_CODE:
                raise RuntimeError(UNGUARDED_MAIN_MESSAGE)
            reason = f"worker process {worker.name} died ({_exit_reason(worker.process)})"
            result = self._replace(worker, Status.FAILED, reason)
        elif result is None and self._overran(worker):
            reason = (
                f"evaluation overran its timeout of {self.timeout} s by more than "
                f"{self.grace} s; worker process {worker.name} was killed"
            )
            result = self._replace(worker, Status.TIMEOUT, reason)
        if result is None:
            return None
        trial = Trial(worker.config, result, name, worker.submitted_at)
        worker.config = None
        worker.num_evaluated += 1
        if worker.num_evaluated >= self.max_evals_per_worker:
            self._recycle(worker)
        return trial

    def _overran(self, worker: _Worker) -> bool:
        if self.timeout is None:
            return False
        return time.time() > worker.started_at + self.timeout + self.grace

    def _replace(self, worker: _Worker, status: Status, reason: str) -> TrainingResult:
        """Record the lost evaluation and put a fresh process in the dead one's place."""
        assert worker.config is not None  # noqa: S101 - only busy workers are replaced
        result = unreported_result(worker.config, worker.started_at, status, reason)
        if worker.process.is_alive():
            worker.process.kill()
        self._recycle(worker)
        return result

    def _recycle(self, worker: _Worker) -> None:
        """Let the worker's process end (asking it, if it lives) and start a fresh one."""
        if worker.process.is_alive():
            worker.connection.send(None)
        worker.process.join()
        worker.connection.close()
        fresh = self._start_worker()
        worker.name, worker.process, worker.connection = (
            fresh.name,
            fresh.process,
            fresh.connection,
        )
        worker.num_evaluated = 0
        worker.warm = frozenset()


def start_worker_server() -> None:
    """Start the fork server the pool's workers fork from, if it is not running yet.

    It imports TensorFlow (seconds) while this process goes on: a driver that starts it
    before its own slow steps (importing the problem's module, loading the data, building
    a test model) has its first workers sooner. A pool starts it anyway; without a fork
    server on the platform this does nothing.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    multiprocessing.get_context("forkserver").set_forkserver_preload(_SERVER_IMPORTS)
    resource_tracker.ensure_running()  # outside the block, see _start_worker
    with blocked_while_starting():
        forkserver.ensure_running()


#: The exit code of a worker that found a search starting while it imported the main
#: script (see :func:`exit_if_importing_main_in_a_worker`).
UNGUARDED_MAIN_EXIT_CODE = 86
UNGUARDED_MAIN_MESSAGE = (
    "worker processes re-ran your script's top level and started a search of their own: "
    "worker processes start by importing the main script (as multiprocessing's spawn "
    "and forkserver do), so "
    'a script must start the search under `if __name__ == "__main__":` (or use '
    "evaluator='serial')"
)


def exit_if_importing_main_in_a_worker() -> None:
    """End this process at once, quietly, if it is a new worker importing the user's
    main script: a script without an ``if __name__ == "__main__":`` guard would start a
    search in every worker, each failing with a screen of multiprocessing tracebacks.
    The pool recognises the exit code and raises one clear error in the driver."""
    # multiprocessing marks a new process as inheriting while it imports the main
    # script (its own check for this mistake reads the same flag).
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        os._exit(UNGUARDED_MAIN_EXIT_CODE)


def _exit_reason(process: Any) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"exit code {code}"


def _exit_when_the_driver_dies() -> None:
    """End this worker as soon as the driver process is gone, even mid-evaluation.

    A worker notices a dead driver otherwise only at its next send or receive, after
    finishing its evaluation (however long, without a timeout), using a core and its
    memory, and possibly writing a model into a folder that a resumed search now owns.
    A thread waits on the parent's sentinel (closed by the kernel when the parent
    dies, whatever killed it) and ends the process at once, writing nothing.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="nas-watch-driver", daemon=True).start()


def _exit_at_once() -> None:
    """End this worker now, as asked: the interpreter's teardown of TensorFlow takes
    seconds, which the driver's close would wait for (a stopping search has a batch
    scheduler's kill coming); the results went through the pipe, nothing else is kept."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _worker_main(
    connection: Connection,
    function: EvaluationFunction,
    problem_source: ProblemSource,
    timeout: float | None,
    threads: int,
    warm_memory: int = 0,
    environment: dict[str, str] | None = None,
) -> None:
    """The loop of one worker process: receive a config, evaluate it, send the result
    and the checkpoints whose models it keeps warm.

    ``environment`` is the driver's when it started this worker, which a worker forked
    from the fork server takes over from the server's (the driver's when the server
    started, perhaps a search ago). TensorFlow read its log level at the server's import.
    """
    # Ctrl-C and a batch scheduler's SIGTERM are for the driver to handle: it lets
    # running evaluations finish, or kills this process when it closes the pool. They
    # were blocked from this process's start, or ignored by the fork server it was
    # forked from (see _start_worker).
    ignore_stop_signals()
    if environment is not None:
        os.environ.clear()
        os.environ.update(environment)
    _exit_when_the_driver_dies()
    # Imported first, so that no import the work makes (a problem module's) can log
    # TensorFlow's start-up banners; the log level comes with the driver's environment.
    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    if function is evaluate:
        freeze_startup_objects()
    keep_warm_models(warm_memory)
    while True:
        try:
            message = connection.recv()
        except EOFError:  # the driver is gone
            return
        if message is None:
            _exit_at_once()
        config_dict, models_directory = message
        config = Config.from_dict(config_dict)
        result = function(problem_source, config, timeout, models_directory)
        connection.send(
            {
                "trial_id": config.trial_id,
                "result": result.to_dict(),
                "warm": WORKER_MODELS.holding(),
            }
        )
