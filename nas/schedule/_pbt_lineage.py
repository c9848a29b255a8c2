"""The lineage of a population-based training: each member's history, from a journal.

Every segment the ``pbt`` scheduler runs carries, in its config's ``info["pbt"]``, its
member, step and what happened before it (continued, copied another member, restarted)
with the learning rate before and after. :func:`lineage` groups the finished trials of
a search by member, in order, so that a person (or a plot) can follow them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nas.schedule._pbt import INFO_KEY

if TYPE_CHECKING:
    from nas.trial import Trial


@dataclass(frozen=True)
class LineageStep:
    """One segment of a member's training.

    Attributes:
        trial_id: the segment's trial.
        member: the population member.
        step: the member's segment count, from 0.
        action: ``start`` (a new member), ``continue`` (its own checkpoint, same learning
            rate), ``exploit`` (a copy of another member's checkpoint, explored) or
            ``restart`` (a new proposal of the search, after a failure).
        start_epoch: the epoch the segment started at (the copied one, for a copy).
        end_epoch: the epoch it reached.
        learning_rate: the learning rate it trained with.
        status: ``ok``, ``failed`` or ``timeout``.
        objective: the segment's objective (its best epoch), None if it failed.
        curve: the objective after each epoch of the segment (empty without an objective
            name; None for a NaN).
        previous_learning_rate: the member's learning rate before this step (None at
            its start).
        copied_member, copied_trial, copied_epoch, copied_learning_rate: for ``exploit``,
            the member copied, the trial whose checkpoint was continued, the epoch it had
            reached and its learning rate (before exploring).
        explore: for ``exploit``, ``perturb`` (multiplied by ``factor``) or ``resample``.
        factor: the factor of a perturbation.
        reason: why the member exploited or restarted (``bottom quantile``, ``failed``).
    """

    trial_id: int
    member: int
    step: int
    action: str
    start_epoch: int
    end_epoch: int
    learning_rate: float
    status: str
    objective: float | None
    curve: tuple[float | None, ...] = ()
    previous_learning_rate: float | None = None
    copied_member: int | None = None
    copied_trial: int | None = None
    copied_epoch: int | None = None
    copied_learning_rate: float | None = None
    explore: str | None = None
    factor: float | None = None
    reason: str | None = None

    def describe(self) -> str:
        """One line: what the member did at this step and how it went."""
        if self.action == "exploit":
            how = f"x{self.factor:g}" if self.explore == "perturb" else "resampled"
            what = (
                f"copied member {self.copied_member} (trial {self.copied_trial}, epoch "
                f"{self.copied_epoch}, lr {self.copied_learning_rate:.3g}) {how}"
            )
        else:
            what = self.action
        outcome = self.status if self.objective is None else f"{self.objective:.4g}"
        return (
            f"member {self.member} step {self.step} (trial {self.trial_id}): {what}; "
            f"lr {self.learning_rate:.3g}, epochs {self.start_epoch}-{self.end_epoch}: {outcome}"
        )


def lineage(trials: Iterable[Trial], objective: str | None = None) -> dict[int, list[LineageStep]]:
    """Each member's segments in order, from the finished trials of a ``pbt`` search.

    Args:
        trials: finished trials (``read_journal(directory).finished``, or
            ``run_search(...).trials``); trials not scheduled by ``pbt`` are skipped.
        objective: the metric of the learning curves to keep in each step's ``curve``
            (the problem's ``objective``); None keeps none.

    Returns:
        ``{member: [LineageStep, ...]}``, members in order, steps by step.

    Example:
        >>> history = lineage(read_journal("runs/pbt").finished, "val_accuracy")
        >>> for step in history[0]:
        ...     print(step.describe())
    """
    members: dict[int, list[LineageStep]] = {}
    for trial in trials:
        info = trial.config.info.get(INFO_KEY)
        if info is None:
            continue
        config, result = trial.config, trial.result
        curve = tuple(result.learning_curve.get(objective, [])) if objective else ()
        step = LineageStep(
            trial_id=config.trial_id,
            member=int(info["member"]),
            step=int(info["step"]),
            action=str(info["action"]),
            start_epoch=config.initial_epoch,
            end_epoch=config.initial_epoch + result.epochs_trained,
            learning_rate=float(info["learning_rate"]),
            status=result.status.value,
            objective=result.objective if result.ok else None,
            curve=curve,
            previous_learning_rate=info.get("previous_learning_rate"),
            copied_member=info.get("copied_member"),
            copied_trial=info.get("copied_trial"),
            copied_epoch=info.get("copied_epoch"),
            copied_learning_rate=info.get("copied_learning_rate"),
            explore=info.get("explore"),
            factor=info.get("factor"),
            reason=info.get("reason"),
        )
        members.setdefault(step.member, []).append(step)
    return {member: sorted(members[member], key=lambda s: s.step) for member in sorted(members)}
