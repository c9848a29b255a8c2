"""Plots of a search, read from its journal: progress and worker utilisation (and, for
a population-based training, the lineage of its members; for a search of several
objectives, its Pareto front and its hypervolume over evaluations).

Each plot is a PNG a person can look at, drawn on a matplotlib ``Figure`` of its own
rather than through pyplot: it needs no display (a cluster login node has none), and it
leaves the caller's pyplot alone (a notebook's backend, its open figures).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from nas.driver import read_journal, recorded_objective, recorded_objectives
from nas.pareto import as_minimised, hypervolume_over_time, pareto_mask
from nas.plot._pbt_lineage import plot_pbt_lineage
from nas.results import Results, TrialRecord, load_results
from nas.trial import Trial

PLOTS = ("objective", "utilisation")
#: The extra plots of a search of several objectives.
PARETO_PLOTS = ("pareto_front", "hypervolume")
#: How far the hypervolume's reference point lies beyond the worst feasible value of
#: each objective, as a fraction of that objective's range (see :func:`hypervolume_curve`).
REFERENCE_MARGIN = 0.1


def plot_search(directory: str | Path, out: str | Path | None = None) -> list[Path]:
    """Draw every plot of the search in ``directory``; return the PNG paths.

    A search with ``--scheduler pbt`` also gets ``pbt_lineage.png``
    (:func:`plot_pbt_lineage`). A search of several objectives also gets
    ``pareto_front.png`` (:func:`plot_pareto_front`) and ``hypervolume.png``
    (:func:`plot_hypervolume`).

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
    if len(recorded_objectives(state.latest_settings or state.settings)) > 1:
        results = load_results(directory)
        paths.append(plot_pareto_front(results, out / "pareto_front.png"))
        paths.append(plot_hypervolume(results, out / "hypervolume.png"))
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
    figure = Figure(figsize=(11, 4), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
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
    return path


def plot_utilisation(trials: Sequence[Trial], path: Path) -> Path:
    """A Gantt chart of evaluations per worker, with the fraction of time busy."""
    start = min(trial.submitted_at for trial in trials)
    workers = sorted({trial.worker for trial in trials})
    rows = {worker: index for index, worker in enumerate(workers)}
    end = max(trial.result.finished_at for trial in trials)
    figure = Figure(figsize=(11, 1.2 + 0.45 * len(workers)), layout="constrained")
    axis = figure.subplots()
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
    return path


@dataclass(frozen=True)
class HypervolumeCurve:
    """A search's hypervolume after each finished evaluation (see :func:`hypervolume_curve`).

    Attributes:
        objectives: every objective -> its direction, in the problem's order.
        trial_ids: the finished trials, in trial order: the x axis.
        values: ``values[k]`` is the hypervolume of the feasible ok trials among the first
            ``k + 1`` of ``trial_ids`` (0 before the first).
        reference: the reference point, in the objectives' own units; None when no
            trial is feasible (the hypervolume is then 0 throughout).
    """

    objectives: dict[str, str]
    trial_ids: list[int]
    values: np.ndarray
    reference: np.ndarray | None

    @property
    def minimised_reference(self) -> np.ndarray | None:
        """The reference point with every objective minimised (maximised ones negated),
        as :func:`nas.pareto.hypervolume` takes it."""
        if self.reference is None:
            return None
        return as_minimised(self.reference[None, :], list(self.objectives.values()))[0]


def hypervolume_reference(values: object, directions: Sequence[str]) -> np.ndarray:
    """The reference point of a search's hypervolume, in the objectives' own units.

    The rule: for each objective, its worst value over the given (feasible) trials, moved
    further towards worse by :data:`REFERENCE_MARGIN` (10%) of that objective's range
    over them; where every value is equal, by 10% of the value's magnitude (of 1 for 0).
    The margin makes the trials holding a worst value count too: a point on the
    reference itself adds no volume.

    Example:
        >>> hypervolume_reference([[0.9, 300], [0.7, 100]], ["max", "min"])
        array([  0.68, 320.  ])
    """
    points = as_minimised(values, directions)
    if points.shape[0] == 0:
        raise ValueError("a hypervolume reference needs at least one trial")
    worst, best = points.max(axis=0), points.min(axis=0)
    spread = worst - best
    spread = np.where(spread > 0, spread, np.where(worst != 0, np.abs(worst), 1.0))
    reference = worst + REFERENCE_MARGIN * spread
    return as_minimised(reference[None, :], directions)[0]


def hypervolume_curve(results: Results) -> HypervolumeCurve:
    """The hypervolume of a search after each finished evaluation, in trial order.

    ``values[k]`` is the hypervolume (:func:`nas.pareto.hypervolume`) of the trials
    among the first ``k + 1`` finished that are feasible (ok, meeting every constraint,
    every objective finite), against the reference point of
    :func:`hypervolume_reference` over all the feasible trials: each objective's worst
    feasible value plus 10% of its feasible range. Failed and infeasible trials add
    nothing; the curve never decreases.
    """
    names, directions = list(results.objectives), list(results.objectives.values())
    trial_ids = [trial.trial_id for trial in results.trials]
    counted = np.array(
        [_usable(trial, names) and trial.feasible for trial in results.trials], dtype=bool
    )
    feasible = [_values(trial, names) for trial, ok in zip(results.trials, counted) if ok]
    if not feasible:
        empty = np.zeros(len(trial_ids))
        return HypervolumeCurve(dict(results.objectives), trial_ids, empty, None)
    reference = hypervolume_reference(feasible, directions)
    # Trials that add nothing get +inf (worst) in every objective: they stay on the
    # x axis, in trial order, and leave the hypervolume as it was.
    points = np.full((len(trial_ids), len(names)), math.inf)
    points[counted] = as_minimised(feasible, directions)
    minimised = as_minimised(reference[None, :], directions)[0]
    values = hypervolume_over_time(points, minimised)
    return HypervolumeCurve(dict(results.objectives), trial_ids, values, reference)


def plot_pareto_front(results: Results, path: Path) -> Path:
    """The ok trials in objective space, with the Pareto front highlighted.

    Feasible trials are blue dots, infeasible ones (breaking a constraint) grey crosses,
    and the trials of the Pareto front (``results.pareto_front``) red, joined by the
    step line of the region they dominate. With 3 or more objectives, one panel per
    pair of objectives: the front's trials are highlighted in each, and the step line
    joins those of them that no other front trial dominates in that pair.
    """
    names, directions = list(results.objectives), list(results.objectives.values())
    ok = [trial for trial in results.trials if _usable(trial, names)]
    pairs = list(itertools.combinations(range(len(names)), 2))
    columns = min(3, len(pairs))
    rows = math.ceil(len(pairs) / columns)
    figure = Figure(figsize=(5.5 * columns, 4.5 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    figure.set_gid("pareto_front")
    values = np.array([_values(trial, names) for trial in ok], dtype=float).reshape(-1, len(names))
    front = np.array([trial.pareto for trial in ok], dtype=bool)
    infeasible = np.array([not trial.feasible for trial in ok], dtype=bool)
    dominated = ~front & ~infeasible
    for axis, (i, j) in zip(axes.flat, pairs):
        x, y = values[:, i], values[:, j]
        axis.scatter(
            x[dominated],
            y[dominated],
            s=14,
            alpha=0.5,
            color="C0",
            label=f"feasible, dominated ({dominated.sum()})",
        )
        if infeasible.any():
            axis.scatter(
                x[infeasible],
                y[infeasible],
                s=18,
                marker="x",
                color="grey",
                label=f"infeasible ({infeasible.sum()})",
            )
        if front.any():
            own = np.flatnonzero(front)
            pair_directions = [directions[i], directions[j]]
            pair = pareto_mask(as_minimised(values[own][:, [i, j]], pair_directions))
            line = own[pair][np.argsort(x[own[pair]], kind="stable")]
            axis.step(
                x[line],
                y[line],
                where="post" if directions[i] == "min" else "pre",
                color="C3",
                linewidth=1.2,
            )
            axis.scatter(
                x[front],
                y[front],
                s=40,
                color="C3",
                edgecolors="black",
                linewidths=0.6,
                zorder=3,
                label=f"Pareto front ({front.sum()})",
            )
        axis.set_xlabel(f"{names[i]} ({directions[i]}imised)")
        axis.set_ylabel(f"{names[j]} ({directions[j]}imised)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    for axis in list(axes.flat)[len(pairs) :]:
        axis.set_visible(False)
    failed = len(results.trials) - len(ok)
    title = f"Pareto front: {front.sum()} of {len(ok)} evaluations"
    if failed:
        title += f" ({failed} failed, not shown)"
    if results.constraints:
        title += "\nconstraints: " + ", ".join(results.constraints)
    figure.suptitle(title)
    figure.savefig(path, dpi=110)
    return path


def plot_hypervolume(results: Results, path: Path) -> Path:
    """The hypervolume of the feasible trials against finished evaluations, in trial
    order (:func:`hypervolume_curve`); the reference point is given in the y label:
    each objective's worst feasible value plus 10% of its feasible range."""
    curve = hypervolume_curve(results)
    figure = Figure(figsize=(11, 4), layout="constrained")
    axis = figure.subplots()
    figure.set_gid("hypervolume")
    x = np.arange(1, len(curve.trial_ids) + 1)
    axis.step(x, curve.values, where="post", color="C3", label="hypervolume")
    axis.set_xlabel("finished evaluations (trial order)")
    if curve.reference is None:
        axis.set_ylabel("hypervolume")
        axis.set_title("Hypervolume: no feasible evaluation yet")
    else:
        point = ", ".join(
            f"{name} {value:.4g}" for name, value in zip(curve.objectives, curve.reference)
        )
        axis.set_ylabel("hypervolume")
        axis.set_title(
            f"Hypervolume of the feasible evaluations: {curve.values[-1]:.4g}\n"
            f"reference point: worst feasible value + {REFERENCE_MARGIN:.0%} of range "
            f"({point})",
            fontsize="medium",
        )
    axis.grid(alpha=0.3)
    figure.savefig(path, dpi=110)
    return path


def _usable(trial: TrialRecord, names: Sequence[str]) -> bool:
    """Whether ``trial`` finished ok with a finite value of every objective."""
    values = [trial.objectives.get(name) for name in names]
    return trial.ok and all(value is not None and math.isfinite(value) for value in values)


def _values(trial: TrialRecord, names: Sequence[str]) -> list[float]:
    return [float(trial.objectives[name]) for name in names]  # type: ignore[arg-type]


def _value(trial: Trial) -> float:
    objective = trial.result.objective
    return float("nan") if objective is None or not trial.result.ok else objective
