"""The lineage plot of a population-based training (``--scheduler pbt``).

Two panels over epochs, one colour per member: the learning rate each segment trained
with, and the objective after each epoch. A copy (exploit) is drawn as a dotted line
from the copied member's point, at the epoch it was copied, to the copy's first point,
with a triangle pointing up (the learning rate was multiplied by more than 1), down (by
less) or a diamond (resampled). Failed segments are crosses.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from nas.schedule import LineageStep, lineage
from nas.trial import Trial

_MARKERS = {"perturb_up": "^", "perturb_down": "v", "resample": "D"}


def plot_pbt_lineage(trials: Sequence[Trial], path: str | Path, objective: str) -> Path:
    """Draw each member's learning rate and ``objective`` over epochs, with its copies.

    Args:
        trials: the finished trials of a ``pbt`` search (``read_journal(dir).finished``).
        path: the PNG file to write.
        objective: the problem's objective (the metric of the learning curves).

    Returns:
        ``path``.

    Raises:
        ValueError: when no trial was scheduled by ``pbt``.

    Example:
        >>> state = read_journal("runs/pbt")
        >>> plot_pbt_lineage(state.finished, "runs/pbt/pbt_lineage.png", "val_accuracy")
    """
    members = lineage(trials, objective)
    if not members:
        raise ValueError("no trial was scheduled by pbt: there is no lineage to plot")
    by_trial = {step.trial_id: step for steps in members.values() for step in steps}
    # A figure of its own, not pyplot's: no display needed, a notebook's pyplot untouched.
    figure = Figure(figsize=(11, 7), layout="constrained")
    rate_axis, objective_axis = figure.subplots(2, 1, sharex=True)
    colours = matplotlib.colormaps["tab10" if len(members) <= 10 else "tab20"]
    for index, (member, steps) in enumerate(members.items()):
        colour = colours(index % colours.N)
        for number, step in enumerate(steps):
            label = f"member {member}" if number == 0 else None
            _draw_step(rate_axis, objective_axis, step, colour, label)
            source = by_trial.get(step.copied_trial) if step.copied_trial is not None else None
            if step.action == "exploit" and source is not None:
                _draw_copy(rate_axis, objective_axis, source, step, colour)
    rate_axis.set_yscale("log")
    rate_axis.set_ylabel("learning rate")
    objective_axis.set_ylabel(objective)
    objective_axis.set_xlabel("epoch")
    for axis in (rate_axis, objective_axis):
        axis.grid(alpha=0.3)
    rate_axis.legend(loc="best", fontsize="small", ncol=min(4, len(members)))
    copies = sum(step.action == "exploit" for steps in members.values() for step in steps)
    rate_axis.set_title(
        f"Population-based training: {len(members)} members, {len(by_trial)} segments, "
        f"{copies} copies (dotted: copied from; ^ v: perturbed up, down; D: resampled)"
    )
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path


def _draw_step(rate_axis, objective_axis, step: LineageStep, colour, label: str | None) -> None:
    if step.objective is None:  # failed: no curve, no checkpoint
        rate_axis.scatter(
            [step.end_epoch or step.start_epoch + 0.5],
            [step.learning_rate],
            marker="x",
            color=colour,
        )
        return
    rate_axis.hlines(
        step.learning_rate,
        step.start_epoch,
        step.end_epoch,
        colors=[colour],
        linewidth=2,
        label=label,
    )
    epochs, values = _curve(step)
    objective_axis.plot(epochs, values, color=colour, marker=".", linewidth=1.2)


def _draw_copy(rate_axis, objective_axis, source: LineageStep, copy: LineageStep, colour) -> None:
    epoch = copy.start_epoch
    if copy.explore == "resample":
        marker = _MARKERS["resample"]
    else:
        up = copy.factor is not None and copy.factor > 1
        marker = _MARKERS["perturb_up" if up else "perturb_down"]
    rate_axis.plot([epoch, epoch], [source.learning_rate, copy.learning_rate], ":", color=colour)
    rate_axis.scatter([epoch], [copy.learning_rate], marker=marker, color=colour, zorder=3)
    if source.objective is None or copy.objective is None:
        return
    source_epochs, source_values = _curve(source)
    copy_epochs, copy_values = _curve(copy)
    if source_epochs and copy_epochs:
        objective_axis.plot(
            [source_epochs[-1], copy_epochs[0]],
            [source_values[-1], copy_values[0]],
            ":",
            color=colour,
        )
        objective_axis.scatter(
            [copy_epochs[0]], [copy_values[0]], marker=marker, color=colour, zorder=3
        )


def _curve(step: LineageStep) -> tuple[list[int], list[float]]:
    """The segment's objective per epoch (its final value alone without a curve)."""
    points = [
        (step.start_epoch + offset + 1, value)
        for offset, value in enumerate(step.curve)
        if value is not None
    ]
    if not points and step.objective is not None:
        points = [(step.end_epoch, step.objective)]
    return [epoch for epoch, _ in points], [value for _, value in points]
