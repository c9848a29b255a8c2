"""Plots of a search, read from its journal: progress and worker utilisation (and, for
a population-based training, the lineage of its members).

Each plot is a PNG a person can look at: matplotlib with the non-interactive Agg
backend, so it works on a cluster login node with no display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nas.driver import read_journal, recorded_objective  # noqa: E402
from nas.plot._pbt_lineage import plot_pbt_lineage  # noqa: E402
from nas.trial import Trial  # noqa: E402

PLOTS = ("objective", "utilisation")


def plot_search(directory: str | Path, out: str | Path | None = None) -> list[Path]:
    """Draw every plot of the search in ``directory``; return the PNG paths.

    A search with ``--scheduler pbt`` also gets ``pbt_lineage.png``
    (:func:`plot_pbt_lineage`).

    Args:
        directory: a search's output folder (with ``journal.jsonl``).
        out: where to write the PNG files (default: ``directory``).

    Example:
        >>> plot_search("runs/covertype")
        [PosixPath('runs/covertype/objective.png'), PosixPath('runs/covertype/utilisation.png')]
    """
    directory = Path(directory)
    state = read_journal(directory)
    if state.settings is None:
        raise ValueError(f"{directory} holds no search (no journal.jsonl)")
    if not state.finished:
        raise ValueError(f"the search in {directory} has no finished evaluation to plot yet")
    objective, direction = recorded_objective(state.settings)
    out = Path(out) if out is not None else directory
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        plot_objective(state.finished, direction, out / "objective.png", objective),
        plot_utilisation(state.finished, out / "utilisation.png"),
    ]
    if state.settings.get("scheduler") == "pbt":
        lineage_path = out / "pbt_lineage.png"
        paths.append(plot_pbt_lineage(state.finished, lineage_path, objective))
    return paths


def plot_objective(
    trials: Sequence[Trial], direction: str, path: Path, objective_name: str = "objective"
) -> Path:
    """Objective against evaluations and against time, with the best-so-far line.

    ``objective_name`` (the problem's objective, e.g. ``val_accuracy``) labels the axis.
    """
    start = min(trial.submitted_at for trial in trials)
    ordered = sorted(trials, key=lambda trial: trial.result.finished_at)
    objective = np.array([_value(trial) for trial in ordered], dtype=float)
    minutes = np.array([(trial.result.finished_at - start) / 60 for trial in ordered])
    failed = np.isnan(objective)
    best = (np.fmax if direction == "max" else np.fmin).accumulate(objective)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True, constrained_layout=True)
    for axis, x, label in (
        (axes[0], np.arange(1, len(ordered) + 1), "evaluations"),
        (axes[1], minutes, "minutes since start"),
    ):
        axis.scatter(x[~failed], objective[~failed], s=12, alpha=0.6, label="evaluation")
        axis.step(x, best, where="post", color="C3", label=f"best so far ({direction})")
        if failed.any():
            low = np.nanmin(objective) if (~failed).any() else 0.0
            axis.scatter(
                x[failed],
                np.full(failed.sum(), low),
                marker="x",
                color="grey",
                label=f"failed ({failed.sum()})",
            )
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(f"{objective_name} ({direction}imised)")
    axes[0].legend(loc="lower right" if direction == "max" else "upper right")
    figure.suptitle(f"Search progress: {len(ordered)} evaluations")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_utilisation(trials: Sequence[Trial], path: Path) -> Path:
    """A Gantt chart of evaluations per worker, with the fraction of time busy."""
    start = min(trial.submitted_at for trial in trials)
    workers = sorted({trial.worker for trial in trials})
    rows = {worker: index for index, worker in enumerate(workers)}
    end = max(trial.result.finished_at for trial in trials)
    figure, axis = plt.subplots(figsize=(11, 1.2 + 0.45 * len(workers)), constrained_layout=True)
    busy = 0.0
    for trial in trials:
        begin, length = (
            trial.result.started_at - start,
            trial.result.finished_at - trial.result.started_at,
        )
        busy += length
        color = "C0" if trial.result.ok else "C3"
        axis.broken_barh(
            [(begin / 60, length / 60)],
            (rows[trial.worker] - 0.4, 0.8),
            facecolors=color,
            edgecolors="white",
            linewidth=0.5,
        )
    utilisation = busy / max(len(workers) * (end - start), 1e-9)
    axis.set_yticks(range(len(workers)), workers)
    axis.set_xlabel("minutes since start")
    axis.set_title(f"Worker utilisation: {utilisation:.0%} busy (red: failed evaluations)")
    axis.grid(axis="x", alpha=0.3)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _value(trial: Trial) -> float:
    objective = trial.result.objective
    return float("nan") if objective is None or not trial.result.ok else objective
