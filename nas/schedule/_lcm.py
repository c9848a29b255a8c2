"""Learning-curve matching (LCM): stop trainings whose curve resembles poor complete ones.

From the MagmaDNN/OpenDIEL work on hyperparameter optimisation. Two stages:

* **Accumulation.** The first ``accumulate`` configurations train fully; their objective
  at the checkpoint epochs and their final performance are recorded. Nothing is stopped.
* **Checking.** Later configurations train in segments that end at the checkpoints.
  After each, the running curve (its values at the checkpoints so far) is matched to the
  recorded ones by Euclidean distance; the nearest one's final performance is the
  prediction, and the run stops if it is worse than the ``percentile`` of the recorded
  finals (ranked from worst to best). Runs that train to the end are recorded too, so
  the library grows; the percentile also counts the predicted finals of stopped runs,
  so that it stays a percentile of the configurations judged, not of the survivors
  (see :class:`~nas.schedule._curve_library.CurveLibrary`).

One refinement of the published rule: the final performance is the best epoch of a
training (what the trainer reports and searches are told), so a run's final cannot be
below the best value it has already reached; the prediction is floored there, and a run
that has already reached the percentile is never stopped.

The scheduler wraps any search: the search proposes, and is told one score per
configuration when its run ends (see :class:`LearningCurveMatching`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from nas.schedule._base import Job, LiveCheckpoints, Scheduler, Segment
from nas.schedule._curve_library import CurveLibrary, Prediction, RecordedCurve
from nas.schedule._registry import SchedulingContext
from nas.search import Observation, Search

#: Complete trainings recorded before any run may stop: enough for a 10% resolution of
#: the percentile and a library where the nearest curve is not a lottery, at the cost of
#: 10 full trainings (a few percent of a usual search of a few hundred).
DEFAULT_ACCUMULATE = 10
#: Stop runs predicted to end in the worse half of the recorded finals: the cut of the
#: median stopping rule (Golovin et al. 2017, Google Vizier), which LCM refines by
#: predicting from the nearest whole curve instead of comparing running averages.
DEFAULT_PERCENTILE = 50.0
#: The keywords of :func:`make_lcm` (the ``--lcm-*`` flags without their prefix).
PARAMETERS = ("accumulate", "checkpoints", "percentile")

#: Job.info keys: how the configuration trains, and the first segment's trial id.
MODE, RUN = "lcm_mode", "lcm_run"
FULL, SEGMENTED = "full", "segmented"


def default_checkpoints(max_epochs: int) -> list[int]:
    """Checks at a quarter, half and three quarters of the training (rounded, distinct).

    Evenly spread, so that the matched vector grows by the same stretch of curve at each
    check; the first at a quarter, where curves have usually separated from their common
    start; three checks, so that each run costs at most four segments (every segment
    saves and reloads the model and optimizer state).

    >>> default_checkpoints(20), default_checkpoints(10), default_checkpoints(2)
    ([5, 10, 15], [3, 5, 8], [1])
    """
    points = {math.floor(max_epochs * quarter / 4 + 0.5) for quarter in (1, 2, 3)}
    return sorted(point for point in points if 1 <= point < max_epochs)


@dataclass
class _Run:
    """A configuration being trained, segment after segment."""

    run_id: int
    arch_seq: tuple[int, ...]
    hyperparameters: Mapping[str, Any]
    mode: str
    tip: int  # the trial id of its latest segment, whose checkpoint the next continues
    curve: list[float | None] = field(default_factory=list)

    @property
    def best(self) -> float | None:
        values = [value for value in self.curve if value is not None]
        return max(values) if values else None


class LearningCurveMatching(Scheduler):
    """Learning-curve-matching early stopping over any search.

    Args:
        search: proposes the configurations.
        max_epochs: the epoch a complete training ends at (every configuration trains
            to it unless stopped: a searched ``epochs`` hyperparameter is overridden).
        checkpoints: epochs (1 to ``max_epochs - 1``) where running curves are matched;
            default :func:`default_checkpoints`.
        accumulate: complete trainings to record before any run may stop.
        percentile: stop a run whose predicted final is worse than this percentile
            (0-100] of the recorded finals ranked from worst to best: 50 stops runs
            predicted in the worse half, 25 in the worst quarter. The recorded finals
            are those of complete trainings and the predicted finals of stopped runs.
        direction: the problem's direction, only to report values in its units.

    The prediction is the nearest recorded curve's final, floored at the best value the
    run has already reached (its final is a best epoch: it cannot be lower); a run stops
    when that is worse than the percentile.

    What the search is told, once per configuration, when its run ends: a complete
    training's final performance (its best epoch, as without a scheduler); for a stopped
    run, its (floored) predicted final; None if it failed.
    Telling predictions keeps stopped runs on the scale of complete ones, which a
    model-based search (AgEBO, AMBS) fits; telling the partial value would rank every
    stopped run below complete runs it may have matched.

    :meth:`notes` says, for each finished segment, what was decided and why
    (``lcm_decision``: ``continue``, ``stop``, ``complete``, ``ended`` by the problem's
    own early stopping, or ``failed``; ``lcm_reason`` in words; at a check,
    ``lcm_predicted`` (the nearest curve's final), ``lcm_best`` (reached so far),
    ``lcm_threshold``, ``lcm_nearest`` (its run) and ``lcm_distance``; on a stop,
    ``lcm_told``, the value the search is told), in the problem's units; the driver
    writes them to the journal and the ``info`` column of ``results.csv``.

    Example:
        >>> scheduler = LearningCurveMatching(RandomSearch([3, 2], seed=0), max_epochs=20)
        >>> scheduler.checkpoints, scheduler.accumulate, scheduler.percentile
        ([5, 10, 15], 10, 50.0)
    """

    #: It predicts one learning curve's final value: one objective only.
    ranks_by_front = False

    def __init__(
        self,
        search: Search,
        max_epochs: int,
        *,
        checkpoints: Sequence[int] | None = None,
        accumulate: int = DEFAULT_ACCUMULATE,
        percentile: float = DEFAULT_PERCENTILE,
        direction: str = "max",
    ) -> None:
        super().__init__(search)
        self.max_epochs = _checked_max_epochs(max_epochs)
        self.checkpoints = _checked_checkpoints(checkpoints, self.max_epochs)
        self.accumulate = _checked_accumulate(accumulate)
        self.percentile = _checked_percentile(percentile)
        if direction not in ("max", "min"):
            raise ValueError(f"lcm: direction must be 'max' or 'min', got {direction!r}")
        self._sign = 1.0 if direction == "max" else -1.0
        self.library = CurveLibrary(self.percentile)
        # Runs waiting for their next segment, by the trial id to continue (in the order
        # they were told: a waiting run resumes before any new configuration starts).
        self._waiting: dict[int, _Run] = {}
        # Runs whose next segment was asked and has not been told, by the trial id it
        # continues: their checkpoints must stay until the segment has loaded them.
        self._continuing: dict[int, _Run] = {}
        # The keys of both, by run (a run moves from one to the other, keeping its key),
        # kept as they change: the driver asks after every result, and thousands of runs
        # may wait on thousands of ranks.
        self._checkpoints = LiveCheckpoints()
        self._full_asked = 0  # fresh full trainings asked (a total, kept for resume)
        self._full_told = 0  # and told (rebuilt when a resume tells the segments again)
        self._notes: dict[int, dict[str, Any]] = {}

    @property
    def accumulating(self) -> bool:
        """Whether fewer than ``accumulate`` complete trainings are recorded."""
        return len(self.library) < self.accumulate

    def ask(self, n: int) -> list[Job]:
        jobs = []
        for tip in list(islice(self._waiting, n)):
            run = self._waiting.pop(tip)
            self._continuing[tip] = run
            jobs.append(self._next_segment(run))
        if len(jobs) < n:
            jobs += [self._first_segment(p) for p in self.search.ask(n - len(jobs))]
        return jobs

    def tell(self, segments: Sequence[Segment]) -> None:
        for segment in segments:
            run = self._run_of(segment)
            self._notes[segment.trial_id] = {RUN: run.run_id, **self._decide(run, segment)}

    def notes(self, trial_id: int) -> Mapping[str, Any]:
        return self._notes.get(trial_id, {})

    def live_checkpoints(self) -> set[int]:
        """The checkpoints of runs waiting for their next segment or running it.

        The set is the scheduler's own, returned without a copy: read it, do not change
        it."""
        return self._checkpoints.trials

    def released_checkpoints(self) -> list[int]:
        return self._checkpoints.drain()

    def get_state(self) -> dict[str, Any]:
        # The rest is rebuilt by telling the finished segments again: asks are the only
        # events a replay cannot see. The state is taken right after an ask, so segments
        # told after it only end runs that were asked before it.
        return {
            "search": self.search.get_state(),
            "full_asked": self._full_asked,
            "continuing": sorted(self._continuing),
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.search.set_state(state["search"])
        self._full_asked = int(state["full_asked"])
        for tip in state["continuing"]:
            # A continuation that finished after the state was saved was told again and
            # has left the waiting runs; one still unfinished is re-run by the driver.
            if tip in self._waiting:
                self._continuing[tip] = self._waiting.pop(tip)

    # -- jobs ----------------------------------------------------------------------------

    def _first_segment(self, proposal: Any) -> Job:
        arch_seq, hyperparameters = tuple(proposal.arch_seq), dict(proposal.hyperparameters)
        # Accumulation trains in one segment: the checkpoint values are read off its
        # curve, and a full training needs no saved model.
        if len(self.library) + self._full_asked - self._full_told < self.accumulate:
            self._full_asked += 1
            return Job(arch_seq, hyperparameters, self.max_epochs, info={MODE: FULL})
        first = self.checkpoints[0]
        return Job(arch_seq, hyperparameters, first, None, True, {MODE: SEGMENTED})

    def _next_segment(self, run: _Run) -> Job:
        reached = len(run.curve)
        end = next((c for c in self.checkpoints if c > reached), self.max_epochs)
        return Job(
            run.arch_seq,
            dict(run.hyperparameters),
            end,
            run.tip,
            end < self.max_epochs,
            {MODE: SEGMENTED, RUN: run.run_id},
        )

    # -- decisions -----------------------------------------------------------------------

    def _run_of(self, segment: Segment) -> _Run:
        job = segment.job
        if job.continue_from is None:
            mode = job.info.get(MODE, FULL)
            self._full_told += int(mode == FULL)
            return _Run(
                segment.trial_id, job.arch_seq, job.hyperparameters, mode, segment.trial_id
            )
        # Told again on resume, a continuation finds its run still waiting.
        run = self._continuing.pop(job.continue_from, None) or self._waiting.pop(
            job.continue_from, None
        )
        if run is None:
            raise ValueError(
                f"lcm: trial {segment.trial_id} continues trial {job.continue_from}, "
                "which no run of this scheduler is waiting on"
            )
        self._checkpoints.release(run.run_id)
        run.tip = segment.trial_id
        return run

    def _decide(self, run: _Run, segment: Segment) -> dict[str, Any]:
        stage = "accumulate" if self.accumulating else "check"
        if not segment.failed:
            # One value per epoch trained (None where it was not finite), whatever the
            # curve holds, so that epochs index it.
            curve = list(segment.curve[: segment.epochs_trained])
            run.curve += curve + [None] * (segment.epochs_trained - len(curve))
        best = run.best
        if segment.failed or best is None:
            self._end(run, None)
            return {
                "lcm_decision": "failed",
                "lcm_stage": stage,
                "lcm_reason": "the segment failed (see its error); the search is told None",
            }
        reached = len(run.curve)
        if reached >= self.max_epochs or reached < (segment.job.epochs or self.max_epochs):
            return self._complete(run, stage, best)
        notes: dict[str, Any] = {"lcm_stage": stage, "lcm_epoch": reached}
        if self.accumulating:
            reason = f"accumulating: {len(self.library)} of {self.accumulate} complete trainings"
            return self._continue(run, notes, reason)
        values = [value for value in self._checkpoint_values(run) if value is not None]
        if len(values) < len(self._checkpoint_values(run)):
            reason = f"no finite objective at a checkpoint up to epoch {reached}"
            return self._stop(run, {**notes, "lcm_told": self._units(best)}, reason)
        prediction = self.library.predict(values)
        if prediction is None:
            return self._continue(run, notes, f"no recorded curve reaches epoch {reached}")
        # The final performance is a best epoch: never below what the run has reached.
        estimate = max(prediction.final, best)
        notes.update(self._prediction_notes(prediction, best))
        reason = self._because(prediction, estimate, reached)
        if estimate < prediction.threshold:
            return self._stop(run, {**notes, "lcm_told": self._units(estimate)}, reason)
        return self._continue(run, notes, reason)

    def _complete(self, run: _Run, stage: str, final: float) -> dict[str, Any]:
        self.library.add(RecordedCurve(run.run_id, self._recorded_values(run), final))
        self._end(run, final)
        reached = len(run.curve)
        how = "trained to the last epoch"
        if reached < self.max_epochs:
            how = f"ended at epoch {reached} by the problem's own early stopping (patience)"
        return {
            "lcm_decision": "complete" if reached >= self.max_epochs else "ended",
            "lcm_stage": stage,
            "lcm_epoch": reached,
            "lcm_final": self._units(final),
            "lcm_reason": f"{how}; recorded as complete training {len(self.library)}",
        }

    def _continue(self, run: _Run, notes: dict[str, Any], reason: str) -> dict[str, Any]:
        self._waiting[run.tip] = run
        self._checkpoints.keep(run.run_id, run.tip)
        return {**notes, "lcm_decision": "continue", "lcm_reason": reason}

    def _stop(self, run: _Run, notes: dict[str, Any], reason: str) -> dict[str, Any]:
        told = self._sign * notes["lcm_told"]
        self.library.add_estimate(told)
        self._end(run, told)
        return {**notes, "lcm_decision": "stop", "lcm_reason": reason}

    def _end(self, run: _Run, score: float | None) -> None:
        self.search.tell([Observation(run.arch_seq, dict(run.hyperparameters), score)])

    def _because(self, prediction: Prediction, estimate: float, epoch: int) -> str:
        # "Worse" and "percentile" rank from worst to best, in either direction: the
        # 25th percentile of a loss is the value that 25% of the finals are worse than.
        verb = "is worse than" if estimate < prediction.threshold else "is not worse than"
        nearest = f"run {prediction.nearest}'s, the nearest curve at distance "
        nearest += f"{prediction.distance:.3g}"
        if estimate > prediction.final:
            nearest = (
                f"what it has already reached; the nearest curve, {nearest}, ends at "
                f"{self._units(prediction.final):.6g}"
            )
        return (
            f"at epoch {epoch}, the predicted final {self._units(estimate):.6g} ({nearest}) "
            f"{verb} {self._units(prediction.threshold):.6g}, the {self.percentile:g}th "
            f"percentile of {prediction.num_recorded} finals ranked from worst to best "
            f"({prediction.num_recorded - prediction.num_estimated} complete trainings, "
            f"{prediction.num_estimated} predicted for stopped runs)"
        )

    def _prediction_notes(self, prediction: Prediction, best: float) -> dict[str, Any]:
        return {
            "lcm_predicted": self._units(prediction.final),
            "lcm_best": self._units(best),
            "lcm_threshold": self._units(prediction.threshold),
            "lcm_nearest": prediction.nearest,
            "lcm_distance": prediction.distance,
        }

    def _checkpoint_values(self, run: _Run) -> list[float | None]:
        return [run.curve[c - 1] for c in self.checkpoints if c <= len(run.curve)]

    def _recorded_values(self, run: _Run) -> tuple[float, ...]:
        values = []
        for value in self._checkpoint_values(run):
            if value is None:  # matching needs a prefix of finite values
                break
            values.append(value)
        return tuple(values)

    def _units(self, score: float) -> float:
        """A score (larger is better) in the problem's units."""
        return self._sign * score


def make_lcm(search: Search, context: SchedulingContext, **params: Any) -> LearningCurveMatching:
    """Learning-curve matching over ``search`` (``--early-stopping lcm``).

    Args:
        search: the search that proposes.
        context: the run; complete trainings last ``context.max_epochs`` epochs.
        **params: ``accumulate``, ``checkpoints``, ``percentile`` (see
            :class:`LearningCurveMatching`).

    Raises:
        ValueError: for an unknown parameter (naming the valid ones) or a bad value.
    """
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise ValueError(
            f"lcm: unknown parameter(s) {', '.join(unknown)}; "
            f"valid ones are {', '.join(PARAMETERS)}"
        )
    return LearningCurveMatching(search, context.max_epochs, direction=context.direction, **params)


# -- validation ------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _checked_max_epochs(max_epochs: Any) -> int:
    if not _is_int(max_epochs) or max_epochs < 2:
        raise ValueError(
            f"lcm: complete trainings must last at least 2 epochs to be stopped early, but "
            f"the problem trains {max_epochs!r}; raise its 'epochs' hyperparameter"
        )
    return int(max_epochs)


def _checked_checkpoints(checkpoints: Sequence[int] | None, max_epochs: int) -> list[int]:
    if checkpoints is None:
        return default_checkpoints(max_epochs)
    if isinstance(checkpoints, (str, bytes)) or not isinstance(checkpoints, Sequence):
        raise ValueError(f"lcm: checkpoints must be a list of epochs, got {checkpoints!r}")
    if not checkpoints:
        raise ValueError("lcm: checkpoints must name at least one epoch")
    bad = [c for c in checkpoints if not _is_int(c) or not 1 <= c < max_epochs]
    if bad:
        raise ValueError(
            f"lcm: checkpoints must be epochs from 1 to {max_epochs - 1} (complete trainings "
            f"last {max_epochs}), got {list(checkpoints)}"
        )
    if len(set(checkpoints)) != len(checkpoints):
        raise ValueError(f"lcm: checkpoints must be distinct, got {list(checkpoints)}")
    return sorted(int(c) for c in checkpoints)


def _checked_accumulate(accumulate: Any) -> int:
    if not _is_int(accumulate) or accumulate < 2:
        raise ValueError(
            "lcm: accumulate must be an int >= 2 (complete trainings to record before "
            f"stopping any; one final has no percentile to rank against), got {accumulate!r}"
        )
    return int(accumulate)


def _checked_percentile(percentile: Any) -> float:
    number = isinstance(percentile, (int, float)) and not isinstance(percentile, bool)
    if not number or not 0 < percentile <= 100:
        raise ValueError(
            f"lcm: percentile must be a number in (0, 100] (0 would never stop a run), "
            f"got {percentile!r}"
        )
    return float(percentile)
