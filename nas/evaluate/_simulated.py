"""A simulated cluster: the real driver, searches and schedulers on a simulated clock.

:class:`SimulatedEvaluator` is an :class:`~nas.evaluate.Evaluator` like the others, so
``run_search(..., evaluator="simulated")`` (``nas-search --evaluator simulated``) runs
the same driver loop, search and scheduler code as a real search; only the training is
replaced, by the synthetic learning curves and epoch times of
:class:`~nas.evaluate._synthetic_training.SyntheticTraining`. A search on 4,096
simulated ranks that would take days of cluster time finishes in seconds.

How it simulates
----------------
* **Ranks and placement.** ``num_ranks`` simulated worker ranks (numbered 1..N, as the
  MPI evaluator's worker ranks are under ``mpirun -np N+1``). Configs are placed by the
  MPI evaluator's own :class:`~nas.evaluate._rank_packing.RankPacker`: FIFO, first fit
  with backfilling, the guard against starvation, the lowest-numbered free ranks, and
  the same ``max_width`` and back-pressure (:attr:`num_free`).
* **The clock.** :attr:`now` starts at 0 and only moves in :meth:`collect`, which jumps
  to the next time an evaluation finishes and returns every trial that finishes then.
  It never sleeps: the driver's real-time ``timeout`` argument is ignored (there is
  always a next finish while anything runs, so collecting never has to wait).
* **Durations.** An evaluation of a config of width ``w`` that trains epochs
  ``initial_epoch + 1 .. epochs`` lasts ``startup_time`` + (checkpoint load and
  regrouping, when it continues a checkpoint) + ``epochs x t(w)`` + (a checkpoint save,
  when asked to keep one); ``t(w)`` and the costs are the model's.
* **Results.** Status ``ok`` with the synthetic learning curve of the objective, the
  objective (the segment's best epoch), ``epochs_trained``, ``num_ranks``,
  ``global_batch_size``, ``build_time`` (the overheads) and ``training_time``, and
  ``started_at`` / ``finished_at`` in simulated seconds. With ``timeout``, an evaluation
  longer than that many simulated seconds ends at it with status ``timeout`` and the
  epochs completed by then. Nothing is written to disk: no model, no checkpoint.
* **Continued segments** (``Config.parent``) continue their parent's curve: same noise,
  same progress, even if the scheduler changed ``num_ranks`` or another hyperparameter.
  The progress of every segment is the simulation's checkpoint, kept in memory: a
  resumed search gives it the journal's finished trials (:meth:`restore`), which it
  re-simulates at the widths they ran at. A parent it knows nothing of counts as
  trained at the segment's own width and hyperparameters.
* **Accounting.** :meth:`busy_rank_seconds` and :meth:`utilisation`: the fraction of
  the ranks' time occupied by evaluations (overheads included), exactly, from the
  intervals each evaluation held its ranks.
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nas.evaluate._base import Evaluator
from nas.evaluate._mpi_protocol import describe_ranks
from nas.evaluate._rank_packing import RankPacker
from nas.evaluate._synthetic_training import SegmentCurve, SyntheticTraining, training_value
from nas.train import Status, TrainingResult
from nas.trial import Config, Trial


@dataclass(frozen=True)
class _Lineage:
    """What a continued segment needs from the segment it continues."""

    key: str
    progress: float
    width: int


@dataclass(frozen=True)
class _Run:
    """A placed evaluation: its trial is ready and handed out when the clock reaches it."""

    trial: Trial
    ranks: tuple[int, ...]
    started_at: float
    finishes_at: float


class SimulatedEvaluator(Evaluator):
    """Runs configs on simulated ranks with a simulated clock (see the module docstring).

    Args:
        num_ranks: simulated worker ranks (``--workers`` of ``nas-search``).
        model: the synthetic training (curves, epoch times, efficiency, overheads);
            default: :class:`SyntheticTraining` with its defaults.
        timeout: simulated seconds allowed per evaluation (None: no limit).
        horizon: simulated seconds after which no new evaluation starts (a job's wall
            time): :attr:`num_free` is 0 from then on, so the driver lets the running
            ones finish and returns. None: no limit.
        max_waiting: how many submitted configs may wait for ranks at most (default: as
            many as there are ranks), as in the MPI evaluator.

    Example:
        >>> evaluator = SimulatedEvaluator(8, SyntheticTraining(epoch_time=60.0))
        >>> evaluator.submit(Config(0, (1, 0, 2), {"epochs": 3, "num_ranks": 2}))
        >>> [trial] = evaluator.collect()
        >>> evaluator.now == trial.result.finished_at
        True
    """

    trains = False  # synthetic curves: no data, no model

    def __init__(
        self,
        num_ranks: int,
        model: SyntheticTraining | None = None,
        *,
        timeout: float | None = None,
        horizon: float | None = None,
        max_waiting: int | None = None,
    ) -> None:
        if isinstance(num_ranks, bool) or not isinstance(num_ranks, int) or num_ranks < 1:
            raise ValueError(f"num_ranks must be a positive int, got {num_ranks!r}")
        for name, value in (("timeout", timeout), ("horizon", horizon)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        self.model = SyntheticTraining() if model is None else model
        self.timeout = timeout
        self.horizon = horizon
        self.num_workers = num_ranks
        self._packer: RankPacker[int] = RankPacker(range(1, num_ranks + 1), max_waiting)
        self.max_width = self._packer.max_width
        self._now = 0.0
        self._next_key = 0
        self._waiting: dict[int, tuple[Config, float]] = {}
        self._runs: dict[int, _Run] = {}
        self._finishing: list[tuple[float, int]] = []  # heap of (finishes_at, key)
        self._lineage: dict[int, _Lineage] = {}  # by trial id
        self._intervals: list[tuple[float, float, int]] = []  # (start, end, width)

    @classmethod
    def for_problem(cls, problem: Any, num_ranks: int, **kwargs: Any) -> SimulatedEvaluator:
        """An evaluator whose curves are of ``problem``'s objective and direction.

        ``kwargs`` go to :class:`SyntheticTraining` (``seed``, ``epoch_time``,
        ``efficiency``, ...), except ``timeout``, ``horizon`` and ``max_waiting``.
        """
        own = {k: kwargs.pop(k) for k in ("timeout", "horizon", "max_waiting") if k in kwargs}
        model = SyntheticTraining(
            objective=problem.objective, direction=problem.direction, **kwargs
        )
        return cls(num_ranks, model, **own)

    # -- Evaluator interface ---------------------------------------------------------

    def restore(self, finished: Sequence[Trial]) -> None:
        """Re-simulate the journal's finished trials (parents before the segments that
        continue them), so that their checkpoints hold the progress they reached at the
        widths they ran at."""
        for trial in sorted(finished, key=lambda t: t.config.trial_id):
            config, result = trial.config, trial.result
            if result.ok:
                parent = self._lineage.get(config.parent) if config.parent is not None else None
                hyperparameters = dict(config.hyperparameters)
                self._train(
                    config, hyperparameters, parent, result.num_ranks, result.epochs_trained
                )

    def submit(self, config: Config) -> None:
        """Queue ``config`` at the current simulated time and start it if ranks are free.

        Raises:
            ValueError: if it asks for more ranks than :attr:`max_width`.
        """
        try:
            self._packer.check_width(config.num_ranks)
        except ValueError as error:
            raise ValueError(f"trial {config.trial_id}: {error}") from None
        key = self._next_key
        self._next_key += 1
        self._waiting[key] = (config, self._now)
        self._packer.enqueue(key, config.num_ranks)
        self._start_placed()

    def collect(self, timeout: float | None = None) -> list[Trial]:
        """Advance the clock to the next finish; the trials that finish then.

        ``timeout`` (real seconds) is ignored: the clock is simulated. Returns [] only
        when nothing runs.
        """
        if not self._finishing:
            return []
        self._now = self._finishing[0][0]
        finished: list[Trial] = []
        while self._finishing and self._finishing[0][0] == self._now:
            _, key = heapq.heappop(self._finishing)
            run = self._runs.pop(key)
            for rank in run.ranks:
                self._packer.release(rank)
            finished.append(run.trial)
        self._start_placed()
        return finished

    @property
    def num_running(self) -> int:
        """Configs submitted and not yet collected: waiting for ranks, or running."""
        return len(self._waiting) + len(self._runs)

    @property
    def num_free(self) -> int:
        """How many more configs to submit now (the MPI evaluator's back-pressure); 0
        once the clock has passed ``horizon``."""
        if self.horizon is not None and self._now >= self.horizon:
            return 0
        return self._packer.num_free

    # -- the simulated cluster -------------------------------------------------------

    @property
    def now(self) -> float:
        """The simulated time, in seconds since the evaluator was made."""
        return self._now

    def busy_rank_seconds(self, until: float | None = None) -> float:
        """Rank-seconds that evaluations held ranks for, from time 0 to ``until``
        (default: :attr:`now`)."""
        until = self._now if until is None else until
        return sum(
            width * (min(end, until) - start)
            for start, end, width in self._intervals
            if start < until
        )

    def utilisation(self, until: float | None = None) -> float:
        """The fraction of the ranks' time from 0 to ``until`` (default: :attr:`now`)
        that evaluations held them; overheads (start-up, checkpoints) count as held."""
        until = self._now if until is None else until
        if until <= 0:
            return 0.0
        return self.busy_rank_seconds(until) / (self.num_workers * until)

    # -- internals -------------------------------------------------------------------

    def _start_placed(self) -> None:
        for key, ranks in self._packer.place():
            config, submitted_at = self._waiting.pop(key)
            run = self._run(config, ranks, submitted_at)
            self._runs[key] = run
            heapq.heappush(self._finishing, (run.finishes_at, key))
            self._intervals.append((run.started_at, run.finishes_at, len(ranks)))

    def _run(self, config: Config, ranks: tuple[int, ...], submitted_at: float) -> _Run:
        """Simulate ``config`` starting now on ``ranks``: its finish time and trial."""
        model, width = self.model, len(ranks)
        hyperparameters = dict(config.hyperparameters)
        parent = self._lineage.get(config.parent) if config.parent is not None else None
        overhead = self._overhead(config, parent, width)
        last_epoch = _last_epoch(config, hyperparameters)
        epoch_seconds = model.epoch_seconds(config.arch_seq, width)
        epochs = max(0, last_epoch - config.initial_epoch)
        status, error = Status.OK, None
        if self.timeout is not None and overhead + epochs * epoch_seconds > self.timeout:
            completed = math.floor(max(0.0, self.timeout - overhead) / epoch_seconds)
            epochs = min(epochs, completed)
            status = Status.TIMEOUT
            error = f"stopped at the limit of {self.timeout:g} simulated seconds"
            duration = self.timeout
        else:
            duration = overhead + epochs * epoch_seconds
        segment = self._train(config, hyperparameters, parent, width, epochs)
        started_at, finishes_at = self._now, self._now + duration
        result = TrainingResult(
            status=status,
            objective=model.best(segment.values),
            learning_curve={model.objective: list(segment.values)},
            num_parameters=None,
            epochs_trained=epochs,
            build_time=overhead,
            training_time=duration - overhead,
            started_at=started_at,
            finished_at=finishes_at,
            error=error,
            error_stage=None,
            hyperparameters=hyperparameters,
            arch_seq=list(config.arch_seq),
            seed=config.seed,
            num_ranks=width,
            global_batch_size=int(training_value(hyperparameters, "batch_size")) * width,
            data_parallel="simulated" if width > 1 else None,
        )
        trial = Trial(config, result, describe_ranks(ranks), submitted_at)
        return _Run(trial, ranks, started_at, finishes_at)

    def _train(
        self,
        config: Config,
        hyperparameters: dict[str, Any],
        parent: _Lineage | None,
        width: int,
        epochs: int,
    ) -> SegmentCurve:
        """The curve of ``epochs`` epochs of ``config`` on ``width`` ranks, continuing
        ``parent``'s; remembered as the trial's checkpoint."""
        model = self.model
        key = model.identity(config.arch_seq, hyperparameters) if parent is None else parent.key
        segment = model.train(
            config.arch_seq,
            hyperparameters,
            config.initial_epoch,
            config.initial_epoch + epochs,
            width=width,
            progress=None if parent is None else parent.progress,
            key=key,
        )
        self._lineage[config.trial_id] = _Lineage(key, segment.progress, width)
        return segment

    def _overhead(self, config: Config, parent: _Lineage | None, width: int) -> float:
        """Seconds besides the epochs: start-up, checkpoints, regrouping on a new width."""
        model = self.model
        overhead = model.startup_time
        if config.start_from is not None or parent is not None:
            overhead += model.checkpoint_time
            if parent is not None and parent.width != width:
                overhead += model.regroup_time
        if config.checkpoint_path is not None:
            overhead += model.checkpoint_time
        return overhead


def default_num_ranks() -> int:
    """Simulated ranks when ``--workers`` is not given: one per CPU core, as the pool."""
    return os.cpu_count() or 1


def _last_epoch(config: Config, hyperparameters: Mapping[str, Any]) -> int:
    """The epoch a config trains until: its ``epochs``, else the hyperparameter's."""
    if config.epochs is not None:
        return config.epochs
    return int(training_value(hyperparameters, "epochs"))
