"""The driver loop: the one place where a search meets an evaluator.

It owns the budget, the journal, resume and the progress display. It keeps every
worker busy: as soon as a trial finishes, the search is told and asked for the next
config, so evaluations of different lengths never wait for each other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nas._stop import StopSignals, stop_signals
from nas.driver._journal import Journal, JournalState
from nas.driver._model_keeper import ModelKeeper
from nas.driver._progress import Progress
from nas.driver._results_table import ResultsTable
from nas.evaluate import Evaluator, unreported_result
from nas.pareto import pareto_ids, rank_order
from nas.problem import Problem
from nas.schedule import FullTraining, Job, Scheduler, Segment
from nas.search import Observation, Search
from nas.space import SearchSpace
from nas.train import Status, TrainingResult
from nas.trial import Config, Trial, trial_seed

logger = logging.getLogger("nas.driver")

#: Seconds an early-stopping search waits for running evaluations (Slurm's default
#: KillWait between SIGTERM and SIGKILL is 30 s: leave time to write and exit).
DEFAULT_STOP_GRACE = 20.0
#: Failed evaluations in a row after which a search stops.
DEFAULT_MAX_CONSECUTIVE_FAILURES = 20
#: The folder of a search's directory where segments save checkpoints to continue.
CHECKPOINTS_FOLDER = "checkpoints"
#: Longest wait for results before checking signals and the deadline again (seconds).
_POLL = 1.0


class Driver:
    """Runs a search to its budget, writing everything to ``directory``.

    Args:
        problem: the problem searched.
        search: the ask/tell search, or a scheduler over one (already told the
            journal's past, on resume); a plain search trains each proposal fully.
        evaluator: where configs are trained.
        directory: the output directory (journal, results.csv).
        max_evals: the number of finished evaluations to reach (failed ones count).
        timeout: wall-clock seconds after which no new evaluation is started; running
            evaluations get ``stop_grace`` more seconds, then are left for ``--resume``.
        seed: the search seed, from which each trial's training seed derives.
        history: what the journal already holds (on resume).
        keep_models: how many of the best trained models to keep in ``directory/models``
            (the evaluator must save them there).
        progress: show the progress on stderr: a bar on a terminal, else a line now
            and then (see :class:`~nas.driver._progress.Progress`).
        stop_grace: seconds to wait for running evaluations once the search stops early
            (timeout, SIGINT/SIGTERM, too many failures); what is still running then is
            re-run by ``--resume``.
        max_consecutive_failures: stop after this many failed evaluations in a row (a
            problem that cannot train should not burn the budget); 0 never stops.
        callbacks: called with each finished trial once the journal and results.csv
            hold it.

    Attributes:
        stop_reason: why :meth:`run` returned before the budget, None if it did not.
        gave_up: whether it stopped because too many evaluations failed in a row (an
            error of the problem, where the other early stops are requests).
    """

    def __init__(
        self,
        problem: Problem,
        search: Search | Scheduler,
        evaluator: Evaluator,
        directory: Path,
        max_evals: int,
        settings: dict[str, Any],
        timeout: float | None = None,
        seed: int | None = None,
        history: JournalState | None = None,
        keep_models: int = 0,
        progress: bool = True,
        stop_grace: float = DEFAULT_STOP_GRACE,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        callbacks: Sequence[Callable[[Trial], Any]] = (),
    ) -> None:
        self.problem = problem
        self.callbacks = list(callbacks)
        self.space: SearchSpace = problem.build_space()
        self.scheduler = search if isinstance(search, Scheduler) else FullTraining(search)
        self.evaluator = evaluator
        self.directory = Path(directory)
        #: Whether evaluations write TensorBoard logs (``settings["tensorboard"]``).
        self.tensorboard = bool(settings.get("tensorboard", False))
        self.max_evals = max_evals
        self.timeout = timeout
        self.seed = seed
        history = history or JournalState()
        self.trials: list[Trial] = list(history.finished)
        self._by_id = {trial.config.trial_id: trial for trial in self.trials}
        # Re-run each exactly once, with checkpoint paths in this folder (it may have
        # been moved or copied since the journal recorded them).
        self._pending: list[Config] = [self._relocated(c) for c in history.unfinished]
        self._next_trial_id = history.next_trial_id
        self._progress = progress
        self.stop_grace = stop_grace
        self.max_consecutive_failures = max_consecutive_failures
        self.stop_reason: str | None = None
        self.gave_up = False
        self._consecutive_failures = 0
        self._last_error: str | None = None
        # Checkpoints saved and not deleted yet, by trial id.
        self._saved_checkpoints: set[int] = {
            t.config.trial_id for t in self.trials if t.config.checkpoint_path
        }
        # The checkpoint each unfinished evaluation continues, by its trial id, and how
        # many continue each: kept until they have finished, whatever the scheduler says
        # (they are re-run on resume).
        self._continuing: dict[int, int] = {}
        self._continued: dict[int, int] = {}
        for config in self._pending:
            self._hold(config)
        # Those an earlier session left that no job can continue now are deleted once,
        # here; afterwards only those whose status may have changed are looked at.
        self.scheduler.released_checkpoints()  # what replaying released: all are swept
        self._delete_unused(list(self._saved_checkpoints))
        self.journal = Journal(directory)
        self.journal.start(settings)
        # A note lost to a kill right after its finish is made again by the scheduler,
        # which was told the journal's trials again.
        self.table = ResultsTable(
            directory,
            problem.hyperparameters.names,
            self.trials,
            [self._hash(t) for t in self.trials],
            [history.notes.get(t.config.trial_id) or self._notes(t) for t in self.trials],
            {o.name: o.direction for o in problem.objectives} if ranks_by_front(problem) else None,
            problem.measures,
        )
        self.keeper = ModelKeeper(directory, keep_models, by_front=ranks_by_front(problem))
        past = [observation(trial, problem) for trial in self.trials]
        self.keeper.update(zip(self.trials, past))
        self._best_score: float | None = None
        self._num_failed = 0
        self._account(past)

    def run(self) -> list[Trial]:
        """Run until ``max_evals`` trials have finished or the search stops early.

        Returns all trials. An early stop (see :attr:`stop_reason`) leaves the journal
        ready for ``--resume``: evaluations that had not finished are re-run then.
        """
        deadline = math.inf if self.timeout is None else time.monotonic() + self.timeout
        bar = Progress(self.max_evals, len(self.trials), enabled=self._progress)
        try:
            # The study's handlers (nas-search's, from its first line) when it has them:
            # a signal received while the search started stops it before any proposal.
            with stop_signals() as signals:
                while len(self.trials) < self.max_evals:
                    self.stop_reason = self._reason_to_stop(deadline, signals)
                    if self.stop_reason is None and self._fill_free_workers(bar):
                        continue  # some could not be built: recorded, ask again at once
                    if self.evaluator.num_running == 0:
                        break
                    if self.stop_reason is not None:
                        self._finish_running(signals, bar)
                        break
                    # Bounded waits, so that a signal or the deadline is noticed soon.
                    wait = min(_POLL, max(0.0, deadline - time.monotonic()))
                    self._record(self.evaluator.collect(timeout=wait), bar)
        except BaseException:
            # Closing rewrites results.csv, which fails again on a full disk: the error
            # that stopped the run is the one to report.
            with contextlib.suppress(OSError):
                self._close(bar)
            raise
        self._close(bar)
        if self.stop_reason is not None:
            logger.warning("search stopped: %s", self.stop_reason)
        return self.trials

    def _close(self, bar: Progress) -> None:
        bar.close()
        self.journal.close()
        self.table.close()

    @property
    def num_unfinished(self) -> int:
        """Evaluations submitted or re-queued that have no result (re-run on resume)."""
        return self.evaluator.num_running + len(self._pending)

    def _reason_to_stop(self, deadline: float, signals: StopSignals) -> str | None:
        if signals.count:
            return f"received {signals.received[0]}"
        if time.monotonic() >= deadline:
            return f"timeout of {self.timeout:g} s reached"
        limit = self.max_consecutive_failures
        if limit and self._consecutive_failures >= limit:
            self.gave_up = True
            return (
                f"{self._consecutive_failures} evaluations in a row failed "
                f"(the last: {self._last_error})"
            )
        return None

    def _finish_running(self, signals: StopSignals, bar: Progress) -> None:
        """Wait up to ``stop_grace`` seconds for running evaluations; a signal (a second
        one, if a signal was the reason to stop) ends the wait at once."""
        signals_to_end_wait = 2 if signals.count else 1
        logger.warning(
            "%s: starting no new evaluation; waiting up to %g s for %d running",
            self.stop_reason,
            self.stop_grace,
            self.evaluator.num_running,
        )
        end = time.monotonic() + self.stop_grace
        while self.evaluator.num_running and signals.count < signals_to_end_wait:
            left = end - time.monotonic()
            if left <= 0:
                break
            self._record(self.evaluator.collect(timeout=min(_POLL, left)), bar)

    def _fill_free_workers(self, bar: Progress | None = None) -> int:
        """Submit configs to the free workers; how many were recorded as invalid."""
        room = self.max_evals - len(self.trials) - self.evaluator.num_running
        free = min(self.evaluator.num_free, room)
        if free <= 0:
            return 0
        configs = [self._pending.pop(0) for _ in range(min(free, len(self._pending)))]
        if len(configs) < free:
            # One ask for all free workers, so that model-based searches can spread them.
            configs += [self._config(job) for job in self.scheduler.ask(free - len(configs))]
        if not configs:
            return 0
        self.journal.submit(configs, self.scheduler.get_state())
        invalid = []
        for config in configs:
            reason = self._why_invalid(config)
            if reason is not None:  # cannot be built: recorded, never sent to a worker
                invalid.append(invalid_trial(config, reason))
                continue
            self.evaluator.submit(config)
            self._hold(config)
        self._record(invalid, bar)
        return len(invalid)

    def _why_invalid(self, config: Config) -> str | None:
        """Why ``config``'s architecture cannot be built, from the space alone; a
        malformed arch_seq (a search's bug) is recorded the same way, with its error."""
        try:
            return self.space.why_invalid(config.arch_seq)
        except ValueError as error:
            return f"{type(error).__name__}: {error}"

    def _config(self, job: Job) -> Config:
        """The config that runs ``job``: a new trial id, its seed and checkpoint paths."""
        trial_id = self._next_trial_id
        self._next_trial_id += 1
        initial_epoch, start_from = 0, None
        if job.continue_from is not None:
            parent = self._by_id[job.continue_from]
            initial_epoch = parent.config.initial_epoch + parent.result.epochs_trained
            start_from = str(self._checkpoint(job.continue_from))
        return Config(
            trial_id,
            job.arch_seq,
            dict(job.hyperparameters),
            trial_seed(self.seed, trial_id),
            epochs=job.epochs,
            initial_epoch=initial_epoch,
            start_from=start_from,
            parent=job.continue_from,
            checkpoint_path=str(self._checkpoint(trial_id)) if job.checkpoint else None,
            info=dict(job.info),
            directory=str(self.directory),
            tensorboard=self.tensorboard,
        )

    def _relocated(self, config: Config) -> Config:
        """``config`` with its checkpoint paths in this folder: they are a function of
        the trial ids, so a search folder can be moved between sessions."""
        return dataclasses.replace(
            config,
            start_from=None if config.parent is None else str(self._checkpoint(config.parent)),
            checkpoint_path=str(self._checkpoint(config.trial_id))
            if config.checkpoint_path
            else None,
            # This session's folder and TensorBoard setting (changeable on resume).
            directory=str(self.directory),
            tensorboard=self.tensorboard,
        )

    def _checkpoint(self, trial_id: int) -> Path:
        return self.directory / CHECKPOINTS_FOLDER / f"trial_{trial_id}.keras"

    def _hold(self, config: Config) -> None:
        """Keep the checkpoint ``config`` continues until it has finished (idempotent:
        a re-run pending config is submitted again)."""
        if config.parent is not None and config.trial_id not in self._continuing:
            self._continuing[config.trial_id] = config.parent
            self._continued[config.parent] = self._continued.get(config.parent, 0) + 1

    def _release_checkpoints(self, finished: Sequence[Trial]) -> None:
        """Delete the checkpoints no later job can continue (they take disk space).

        Only those whose status may have changed since the last batch are candidates:
        the ones the finished trials saved or continued, and those the scheduler
        released (see :meth:`Scheduler.released_checkpoints`). Every other saved
        checkpoint was live or held by a running job then and still is, so the cost of
        a result does not grow with the checkpoints saved over the run.
        """
        candidates = []
        for trial in finished:
            config = trial.config
            parent = self._continuing.pop(config.trial_id, None)
            if parent is not None:
                self._continued[parent] -= 1
                if not self._continued[parent]:
                    del self._continued[parent]
                candidates.append(parent)
            if config.checkpoint_path:
                self._saved_checkpoints.add(config.trial_id)
                candidates.append(config.trial_id)
        candidates += self.scheduler.released_checkpoints()
        self._delete_unused(candidates)

    def _delete_unused(self, candidates: Sequence[int]) -> None:
        """Delete the saved checkpoints among ``candidates`` that neither the scheduler
        nor a running job needs."""
        live = self.scheduler.live_checkpoints()
        for trial_id in sorted(set(candidates)):
            if (
                trial_id in self._saved_checkpoints
                and trial_id not in live
                and trial_id not in self._continued
            ):
                self._checkpoint(trial_id).unlink(missing_ok=True)
                self._saved_checkpoints.discard(trial_id)

    def _record(self, finished: Sequence[Trial], bar: Progress | None = None) -> None:
        if not finished:
            return
        for trial in finished:
            self.journal.finish(trial)
            if trial.result.ok:
                self._consecutive_failures = 0
            else:
                self._consecutive_failures += 1
                self._last_error = trial.result.error
        self.trials.extend(finished)
        self._by_id.update((trial.config.trial_id, trial) for trial in finished)
        observations = [observation(trial, self.problem) for trial in finished]
        self._account(observations)
        self.keeper.update(zip(finished, observations))
        self.scheduler.tell([segment(trial, self.problem) for trial in finished])
        # After tell, so that each row carries what the scheduler decided about it (an
        # early stop is decided once a segment has finished; no later job records it).
        notes = [self._notes(trial) for trial in finished]
        for trial, note in zip(finished, notes):
            if note:
                self.journal.note(trial.config.trial_id, note)
        self.table.append(finished, [self._hash(trial) for trial in finished], notes)
        self._release_checkpoints(finished)
        for trial in finished:
            for callback in self.callbacks:
                callback(trial)
        if bar is not None:
            bar.update(len(finished), self._summary())

    def _account(self, observations: Sequence[Observation]) -> None:
        """Running totals for the progress display (kept incrementally: 10,000s of trials)."""
        for item in observations:
            if item.score is None:
                self._num_failed += 1
            elif self._best_score is None or item.score > self._best_score:
                self._best_score = item.score

    def _notes(self, trial: Trial) -> dict[str, Any]:
        return dict(self.scheduler.notes(trial.config.trial_id))

    def _hash(self, trial: Trial) -> str:
        try:
            return self.space.arch_hash(trial.config.arch_seq)
        except ValueError:  # an architecture the space cannot resolve is still recorded
            return ""

    def _summary(self) -> str:
        best = "-"
        if self._best_score is not None:  # scores are maximised: undo the sign for "min"
            value = self._best_score if self.problem.direction == "max" else -self._best_score
            best = f"{value:.4g}"
        return f"best {self.problem.objective} {best}, {self._num_failed} failed"


def invalid_trial(config: Config, reason: str) -> Trial:
    """The record of a config whose architecture cannot be built (see Status.INVALID)."""
    now = time.time()
    result = unreported_result(config, now, Status.INVALID, reason, stage=None)
    return Trial(config, result, "not run", now)


def observation(trial: Trial, problem: Problem) -> Observation:
    """What the search learns from a trial: scores to maximise, None if it failed (a
    multi-objective problem's: every objective's, and the constraint violation)."""
    arch_seq, hyperparameters = trial.config.arch_seq, dict(trial.config.hyperparameters)
    scores = oriented_scores(trial.result, problem)
    if scores is None:
        return Observation(arch_seq, hyperparameters, None)
    score = problem_score(trial.result, problem)
    return Observation(arch_seq, hyperparameters, score, scores, trial.result.violation)


def problem_score(result: TrainingResult, problem: Problem) -> float:
    """The oriented value of the problem's first history objective (ok results only)."""
    return result.objective if problem.direction == "max" else -result.objective  # type: ignore[operator]


def oriented_scores(result: TrainingResult, problem: Problem) -> tuple[float, ...] | None:
    """Every objective of a successful result, oriented so that larger is better; None
    when it failed or one of them is missing or not finite."""
    if not result.ok or result.objective is None or not math.isfinite(result.objective):
        return None
    if len(problem.objectives) == 1:
        return (problem_score(result, problem),)
    values = [result.objectives.get(item.name) for item in problem.objectives]
    if any(value is None or not math.isfinite(value) for value in values):
        return None
    return tuple(item.oriented(value) for item, value in zip(problem.objectives, values))  # type: ignore[arg-type]


def segment(trial: Trial, problem: Problem) -> Segment:
    """What a scheduler learns from a trial: its job and oriented scores."""
    config, result = trial.config, trial.result
    sign = 1.0 if problem.direction == "max" else -1.0
    curve = tuple(
        None if value is None or not math.isfinite(value) else sign * value
        for value in result.learning_curve.get(problem.objective, [])
    )
    seen = observation(trial, problem)
    return Segment(
        config.trial_id,
        job_of(config),
        config.initial_epoch,
        result.epochs_trained,
        seen.score,
        curve,
        seen.scores,
        seen.violation,
    )


def job_of(config: Config) -> Job:
    """The job a config runs (the inverse of the driver's job -> config)."""
    return Job(
        config.arch_seq,
        dict(config.hyperparameters),
        config.epochs,
        config.parent,
        config.checkpoint_path is not None,
        dict(config.info),
    )


def ranks_by_front(problem: Problem) -> bool:
    """Whether trials of ``problem`` are ranked by Pareto front and constraint violation
    (several objectives, or constraints) rather than by one score."""
    return len(problem.objectives) > 1 or bool(problem.constraints)


def best_trials(trials: Sequence[Trial], problem: Problem, k: int) -> list[Trial]:
    """The ``k`` best successful trials, best first (ties: the lower trial id first).

    Ties go to the lower trial id whatever order ``trials`` come in (finish order, from
    the journal), the order the model keeper uses, so the models exported are the kept
    ones. With several objectives or constraints, best means first in
    :func:`nas.pareto.rank_order`: least constraint violation, then the Pareto front,
    then crowding distance (spread-out trials first).
    """
    seen = sorted(
        ((observation(trial, problem), trial) for trial in trials),
        key=lambda item: item[1].config.trial_id,
    )
    seen = [item for item in seen if not item[0].failed]
    if ranks_by_front(problem) and seen:
        points = -np.array([item[0].scores for item in seen], dtype=float)
        order = rank_order(points, [item[0].violation for item in seen])
        return [seen[index][1] for index in order[:k]]
    # sorted() is stable: of equal scores the lower trial id stays first.
    return [trial for _, trial in sorted(seen, key=lambda item: -item[0].score)[:k]]  # type: ignore[operator]


def front_trials(trials: Sequence[Trial], problem: Problem) -> list[Trial]:
    """The trials on the Pareto front of ``problem``'s objectives, in trial order."""
    front = front_ids(trials, {item.name: item.direction for item in problem.objectives})
    ordered = sorted(trials, key=lambda trial: trial.config.trial_id)
    return [trial for trial in ordered if trial.config.trial_id in front]


def front_ids(trials: Sequence[Trial], objectives: Mapping[str, str]) -> set[int]:
    """The ids of the trials on the Pareto front of ``objectives`` (name -> direction):
    ok, meeting every constraint, and dominated by no other such trial."""
    ok = [trial for trial in trials if trial.result.ok]
    return pareto_ids(
        [trial.config.trial_id for trial in ok],
        [trial.result.values_of(list(objectives)) for trial in ok],
        list(objectives.values()),
        [trial.result.violation for trial in ok],
    )
