"""ASHA: asynchronous successive halving (Li et al., "A system for massively parallel
hyperparameter tuning", MLSys 2020), a scheduler over any search.

Rungs ``k = 0, 1, ...`` sit at resources (epochs) ``r·η^k`` below ``R``, and at ``R``
(:func:`nas.schedule._rungs.rung_resources`). A configuration *recorded* at rung ``k``
has been trained to that many epochs; its rung score is its best epoch so far.

**Several objectives, constraints** (segments whose ``scores`` hold more than one
objective, or whose ``violation`` is above 0): a rung ranks its members as MO-ASHA
does (Schmucker et al. 2021, NSGA-II variant): constraint violation first (feasible
before infeasible), then non-dominated front, then crowding distance as the tie-break
within a front, then the earlier arrival (:class:`nas.schedule._rungs.Rung`); promotion
and stopping use that rank exactly as they use the score's. A configuration's rung
objectives are, like its rung score, the best so far: each oriented objective the
largest any of its segments reached, its violation the smallest (:func:`best_so_far`).
Measured objectives (a parameter count) and constraints on them are the same in every
segment, so only the trained objective changes, and it only improves: for one
objective this is exactly the rung score. With one objective and no constraint
broken, nothing changes: the rung ranks by score.

Two forms, both in use:

* **promotion** (the default; the paper's Algorithm 2). When asked for work, checking
  rungs from the top one down: promote the best configuration of rung ``k`` that is in
  the rung's top ``⌊n_k / η⌋`` (``n_k``: configurations recorded there so far) and was
  not promoted yet, to rung ``k + 1``; if no rung has one, start a new configuration
  from the search at rung 0. Nothing ever waits for a rung to fill, so every free worker
  gets work at once, and a configuration recorded early can still be promoted much
  later, once enough worse ones have arrived.
* **stopping** (as Ray Tune's and Syne Tune's ASHA, the form with a trial that keeps
  running). When a configuration reaches rung ``k`` it continues at once to rung
  ``k + 1`` if it ranks in the top ``⌈n_k / η⌉`` of what the rung has recorded so far
  (itself included, so the first arrival continues), else it stops for good. Decisions
  are final and immediate, so a rung's first arrivals are judged against little; its
  checkpoints live only while a continuation is queued or running.

The promotion form is the default: it is the algorithm of the paper, whose analysis
(no configuration is stopped on a partial rung; mistakes are corrected by later
promotions) and measured results the benchmarks compare against, and its decisions
do not depend on the order of the first arrivals. The stopping form costs less disk.

Both continue a configuration from its checkpoint (weights and optimizer state; see
:func:`nas.train.train`), never from scratch. A failed evaluation is recorded as the
worst member of its rung and never continued.

**What the search is told.** Every finished segment, as soon as it finishes: the
configuration as the search proposed it, with its rung score (None if it failed), and
its rung objectives and violation (``Observation.scores``, ``violation``). So a
model-based search learns from the first epochs on (ASHA gives most configurations only
``r`` epochs), and a configuration promoted to higher rungs is told again with its
better-trained scores, which weighs good configurations more in an evolutionary
population. Lower rungs' scores are lower than the top rung's for every configuration
alike, so within a search they stay comparable.

**Budget.** ``max_evals`` counts finished segments. With a steady state of ``N`` new
configurations, rung ``k`` receives about ``N / η^k`` segments, so ``max_evals`` segments
are about ``max_evals · (η - 1) / η`` configurations; in epochs a configuration costs
``r`` at rung 0 and each promotion the difference to the next rung's resource.
``max_configurations`` (``--max-configurations``; Ray Tune's ``num_samples``) bounds the
configurations instead: once that many have started, a free worker only gets a
promotion, and the search ends by itself when nothing is left to promote: every rung
has then promoted its final top ``⌊n_k / η⌋`` (64 configurations with ``η = 3``: at
least 21, 7 and 2 promotions; more where a configuration led a rung while it was
small, ASHA's price for never waiting).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nas.schedule._base import Job, LiveCheckpoints, Scheduler, Segment
from nas.schedule._registry import SchedulingContext
from nas.schedule._rungs import Rung, check_budget, check_int, check_params, rung_resources
from nas.search import Observation, Proposal, Search

#: The forms of ASHA, the default first.
MODES = ("promotion", "stopping")


@dataclass
class _Configuration:
    """The scheduler's record of one configuration across its segments."""

    id: int
    proposal: Proposal
    rung: int = -1  # the highest rung recorded
    trial_id: int | None = None  # its segment there: the checkpoint a promotion continues
    score: float | None = None  # its rung score: the best epoch so far
    scores: tuple[float, ...] | None = None  # its rung objectives: each the best so far
    violation: float = 0.0  # its rung violation: the smallest so far
    asked: int = -1  # the highest rung a job was asked for
    failed: bool = False
    stopped: bool = False  # stopping form: a rung said stop


class ASHA(Scheduler):
    """Asynchronous successive halving over ``search``.

    Args:
        search: proposes the configurations started at rung 0.
        min_epochs: ``r``, the epochs of the first rung.
        max_epochs: ``R``, the epochs of the last rung (a full training).
        reduction_factor: ``η``: a rung keeps its top ``1/η``.
        mode: ``"promotion"`` (the default) or ``"stopping"`` (see the module).
        max_configurations: start at most this many configurations (None: no limit;
            see the module's "Budget").

    Jobs carry in ``Job.info``: ``scheduler``, ``mode``, ``config`` (the scheduler's id
    of the configuration, the same for all its segments), ``rung``, ``resource`` (the
    epochs it trains to) and ``start`` (``"new"``, ``"promoted"`` or ``"continued"``,
    with ``start_reason``: its rank at the rung below). What a rung decided about a
    finished segment is in :meth:`notes`.

    Example:
        >>> from nas.search import RandomSearch
        >>> asha = ASHA(RandomSearch([3, 3], seed=0), min_epochs=1, max_epochs=27)
        >>> asha.resources
        [1, 3, 9, 27]
        >>> [job.info["rung"] for job in asha.ask(2)]
        [0, 0]
    """

    name = "asha"

    def __init__(
        self,
        search: Search,
        min_epochs: int,
        max_epochs: int,
        reduction_factor: int = 3,
        mode: str = "promotion",
        max_configurations: int | None = None,
    ) -> None:
        super().__init__(search)
        check_budget(min_epochs, max_epochs, reduction_factor)
        if mode not in MODES:
            raise ValueError(f"mode (--asha-mode) must be one of {list(MODES)}, got {mode!r}")
        if max_configurations is not None:
            check_int("max_configurations", max_configurations, 1, "--max-configurations")
        self.reduction_factor = reduction_factor
        self.mode = mode
        self.max_configurations = max_configurations
        #: The epochs of each rung, bottom first.
        self.resources = rung_resources(min_epochs, max_epochs, reduction_factor)
        self.rungs = [Rung() for _ in self.resources]
        self._configs: dict[int, _Configuration] = {}
        self._next_id = 0
        # Stopping form: configurations to continue, in the order decided -> the decision.
        self._continuations: dict[int, dict[str, Any]] = {}
        # Per configuration, the checkpoint a later job may continue: the driver asks
        # after every result.
        self._checkpoints = LiveCheckpoints()
        # What was decided about the segments of the last tell (kept that long only).
        self._notes: dict[int, dict[str, Any]] = {}

    @property
    def top_rung(self) -> int:
        return len(self.resources) - 1

    @property
    def num_configurations(self) -> int:
        """Configurations started so far."""
        return len(self._configs)

    # -- the scheduler interface -------------------------------------------------------

    def ask(self, n: int) -> list[Job]:
        """Continuations first (promotions from the top rung down, or queued
        continuations in the stopping form), then new configurations from the search
        (fewer when the search has no more, or ``max_configurations`` have started)."""
        jobs: list[Job] = []
        while len(jobs) < n:
            continuation = self._next_continuation()
            if continuation is None:
                break
            config, decision = continuation
            jobs.append(self._job(config, config.rung + 1, decision))
        room = n - len(jobs)
        if self.max_configurations is not None:
            room = min(room, self.max_configurations - self._next_id)
        if room > 0:
            for proposal in self.search.ask(room):
                config = _Configuration(self._next_id, proposal)
                self._next_id += 1
                self._configs[config.id] = config
                jobs.append(self._job(config, 0, {"start": "new"}))
        return jobs

    def tell(self, segments: Sequence[Segment]) -> None:
        """Record each segment at its rung, decide (stopping form), tell the search."""
        self._notes = {}
        observations = []
        for segment in segments:
            config = self._record(segment)
            proposal = config.proposal
            observations.append(
                Observation(
                    proposal.arch_seq,
                    dict(proposal.hyperparameters),
                    config.score,
                    config.scores,
                    config.violation,
                )
            )
        self.search.tell(observations)

    def running(self, jobs: Sequence[Job]) -> None:
        """On resume: the jobs re-run count as asked (promoted, dequeued); the search
        is told of the new configurations among them."""
        new = []
        for job in jobs:
            config, rung = self._config_of(job)
            self._started(config, rung)
            if rung == 0:
                new.append(config.proposal)
        self.search.running(new)

    def notes(self, trial_id: int) -> dict[str, Any]:
        """What a finished segment's rung decided: ``decision`` (``"complete"``,
        ``"failed"``, ``"candidate"`` in the promotion form, ``"continue"`` or
        ``"stop"`` in the stopping form), ``reason``, ``rung_rank`` and ``rung_size``."""
        return dict(self._notes.get(trial_id, {}))

    def live_checkpoints(self) -> set[int]:
        """The last checkpoint of every configuration that may still continue: in the
        promotion form, every one not failed and below the top rung (any can be promoted
        later); in the stopping form, those queued or running.

        The set is the scheduler's own, returned without a copy (thousands of trials):
        read it, do not change it."""
        return self._checkpoints.trials

    def released_checkpoints(self) -> list[int]:
        """The checkpoints that left :meth:`live_checkpoints` since the last call, as
        recorded when they did (no comparison of sets)."""
        return self._checkpoints.drain()

    def get_state(self) -> dict[str, Any]:
        # Everything else is rebuilt by telling the finished segments again and
        # declaring the re-run ones running (their info names configuration and rung).
        return {"search": self.search.get_state(), "next_config": self._next_id}

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        self._next_id = int(state["next_config"])

    # -- decisions ---------------------------------------------------------------------

    def _next_continuation(self) -> tuple[_Configuration, dict[str, Any]] | None:
        if self.mode == "stopping":
            if not self._continuations:
                return None
            config_id = next(iter(self._continuations))
            return self._configs[config_id], self._continuations.pop(config_id)
        for rung_index in range(self.top_rung - 1, -1, -1):
            rung = self.rungs[rung_index]
            config_id = rung.best_promotable(self.reduction_factor)
            if config_id is not None:
                where = f"rank {rung.rank(config_id)} of {len(rung)} at rung {rung_index}"
                rung.promote(config_id)
                return self._configs[config_id], {"start": "promoted", "start_reason": where}
        return None

    def _record(self, segment: Segment) -> _Configuration:
        config, rung_index = self._config_of(segment.job)
        self._started(config, rung_index)
        failed = segment.failed or config.failed
        config.rung, config.trial_id, config.failed = rung_index, segment.trial_id, failed
        if failed:
            config.score, config.scores, config.violation = None, None, 0.0
        else:
            if config.score is None or segment.score > config.score:  # type: ignore[operator]
                config.score = segment.score
            config.scores, config.violation = best_so_far(config.scores, config.violation, segment)
        final = failed or rung_index == self.top_rung
        rung = self.rungs[rung_index]
        rank = rung.add(
            config.id,
            config.score,
            promotable=self.mode == "promotion" and not final,
            scores=config.scores,
            violation=config.violation,
        )
        size, eta = len(rung), self.reduction_factor
        where = f"rank {rank} of {size} at rung {rung_index}"
        if failed:
            decision, reason = "failed", "a failed evaluation is never continued"
        elif final:
            decision, reason = "complete", f"trained to max_epochs = {self.resources[-1]}"
        elif self.mode == "promotion":
            decision = "candidate"
            reason = f"{where}: promoted once in the top floor(n/{eta}) of its rung"
        elif rank <= math.ceil(size / eta):
            decision, reason = "continue", f"{where}: in the top ceil({size}/{eta})"
            self._continuations[config.id] = {"start": "continued", "start_reason": where}
        else:
            decision, reason = "stop", f"{where}: not in the top ceil({size}/{eta})"
            config.stopped = True
        if decision in ("candidate", "continue"):
            self._checkpoints.keep(config.id, segment.trial_id)
        else:
            self._checkpoints.release(config.id)
        self._notes[segment.trial_id] = {
            "decision": decision,
            "reason": reason,
            "rung_rank": rank,
            "rung_size": size,
        }
        return config

    def _started(self, config: _Configuration, rung_index: int) -> None:
        """``config`` was asked for ``rung_index`` (in this session or before a resume)."""
        config.asked = max(config.asked, rung_index)
        if rung_index > 0:
            self.rungs[rung_index - 1].promote(config.id)
            # A queued continuation is always to the rung above the configuration's.
            if config.id in self._continuations and config.rung == rung_index - 1:
                del self._continuations[config.id]

    # -- jobs --------------------------------------------------------------------------

    def _job(self, config: _Configuration, rung_index: int, decision: dict[str, Any]) -> Job:
        config.asked = rung_index
        info = {
            "scheduler": self.name,
            "mode": self.mode,
            "config": config.id,
            "rung": rung_index,
            "resource": self.resources[rung_index],
            **decision,
            **self._extra_info(config, rung_index),
        }
        return Job(
            config.proposal.arch_seq,
            self._hyperparameters(config, rung_index),
            epochs=self.resources[rung_index],
            continue_from=config.trial_id if rung_index > 0 else None,
            checkpoint=rung_index < self.top_rung,
            info=info,
        )

    def _config_of(self, job: Job) -> tuple[_Configuration, int]:
        """The configuration and rung a job of this scheduler ran (adopting it on
        resume)."""
        info = job.info
        if info.get("scheduler") != self.name or "config" not in info or "rung" not in info:
            raise ValueError(
                f"a segment not scheduled by {self.name} (its info is {dict(info)!r}): "
                "a search is resumed with the scheduler it started with"
            )
        config_id, rung_index = int(info["config"]), int(info["rung"])
        config = self._configs.get(config_id)
        if config is None:
            config = _Configuration(config_id, self._proposal_of(job))
            self._configs[config_id] = config
            self._next_id = max(self._next_id, config_id + 1)
        return config, rung_index

    # Hooks of schedulers that change the hyperparameters per rung (RASDA's width).

    def _hyperparameters(self, config: _Configuration, rung_index: int) -> dict[str, Any]:
        return dict(config.proposal.hyperparameters)

    def _extra_info(self, config: _Configuration, rung_index: int) -> dict[str, Any]:
        return {}

    def _proposal_of(self, job: Job) -> Proposal:
        """The search's proposal behind a job (inverse of :meth:`_hyperparameters`)."""
        return Proposal(tuple(job.arch_seq), dict(job.hyperparameters))


def best_so_far(
    scores: tuple[float, ...] | None, violation: float, segment: Segment
) -> tuple[tuple[float, ...], float]:
    """A configuration's objectives and violation after ``segment`` (which did not fail),
    from those before it (``scores`` None: its first segment): each oriented objective
    the largest so far, the violation the smallest so far.

    For one objective this is the best epoch so far, the rung score. A segment with a
    different number of objectives than the earlier ones replaces them.

    Example:
        >>> from nas.schedule import Job
        >>> later = Segment(7, Job((), {}), 1, 2, 0.8, scores=(0.8, -5.0), violation=0.0)
        >>> best_so_far((0.9, -5.0), 0.5, later)
        ((0.9, -5.0), 0.0)
    """
    new = tuple(segment.scores) if segment.scores is not None else (segment.score,)
    if scores is None or len(scores) != len(new):
        return new, segment.violation  # type: ignore[return-value]
    best = tuple(max(old, value) for old, value in zip(scores, new))
    return best, min(violation, segment.violation)  # type: ignore[return-value]


#: ``make_asha``'s parameters and defaults (None: from the scheduling context).
ASHA_PARAMETERS: dict[str, Any] = {
    "min_epochs": 1,
    "max_epochs": None,
    "reduction_factor": 3,
    "mode": "promotion",
    "max_configurations": None,
}


def make_asha(search: Search, context: SchedulingContext, **params: Any) -> ASHA:
    """ASHA over ``search`` (``nas-search --scheduler asha``).

    Parameters (keywords, from ``--min-epochs``, ``--max-epochs``, ``--reduction-factor``,
    ``--asha-mode``, ``--max-configurations``): ``min_epochs`` (r, 1), ``max_epochs`` (R,
    default: the problem's largest ``epochs``), ``reduction_factor`` (η, 3), ``mode``
    (``"promotion"``), ``max_configurations`` (None: no limit).

    Raises:
        ValueError: for an unknown parameter (listing the valid ones) or a bad value.
    """
    values = check_params("asha", params, ASHA_PARAMETERS)
    if values["max_epochs"] is None:
        values["max_epochs"] = context.max_epochs
    return ASHA(search, **values)
