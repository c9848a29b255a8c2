"""Export the best architectures of a search as ready-to-use models.

For each of the best trials, the trained model the search kept (or, on request, a fresh
training of the same architecture and hyperparameters) is written as:

- ``model.keras``: the Keras model (``keras.saving.load_model`` reads it back);
- ``saved_model/``: a TensorFlow SavedModel for serving (TF Serving, ``tf.saved_model.load``);
- ``architecture.json``: the space reference, arch_seq, hyperparameters and objective
  (with several objectives or constraints: every objective's value and direction, and
  the constraints broken);
- ``architecture.png``: a drawing of the architecture.

:func:`export_best` exports the K best trials, in folders ``rank<r>_trial<id>``;
:func:`export_pareto`, for a search of several objectives, every trial of its Pareto
front, in folders ``pareto_trial<id>``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas._imports import import_keras
from nas.driver import read_journal
from nas.driver._driver import best_trials, front_trials, ranks_by_front
from nas.driver._model_keeper import kept_model_path
from nas.evaluate import trial_callbacks
from nas.exceptions import NASError
from nas.problem import Problem, load_problem
from nas.train import train
from nas.trial import Trial


@dataclass(frozen=True)
class ExportedModel:
    """One exported trial: its rank, its trial and the folder written."""

    rank: int
    trial: Trial
    folder: Path
    #: Whether it was exported as a trial of the Pareto front (:func:`export_pareto`);
    #: ``rank`` is then its place on the front, in trial order.
    pareto: bool = False


def export_best(
    directory: str | Path,
    top: int = 3,
    out: str | Path | None = None,
    retrain: bool = False,
    epochs: int | None = None,
    *,
    problem: Problem | str | None = None,
) -> list[ExportedModel]:
    """Export the ``top`` best trials of the search in ``directory``.

    Args:
        directory: the search's output folder.
        top: how many of the best successful trials to export.
        out: where to write (default: ``<directory>/export``); one folder per trial.
        retrain: train each architecture again with its hyperparameters and seed instead
            of using the model the search kept.
        epochs: with ``retrain``, the number of epochs (default: the trial's).
        problem: the search's :class:`~nas.problem.Problem` (or a reference to one);
            by default the one the search recorded. Needed for a search that was
            given a problem object, which records no reference to import it by.

    Returns:
        The exported models, best first.

    Example:
        >>> exported = export_best("runs/covertype", top=2)
        >>> model = keras.saving.load_model(exported[0].folder / "model.keras")
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be a positive int, got {top!r}")
    directory = Path(directory)
    finished, problem = _finished_trials(directory, problem)
    ranked = best_trials(finished, problem, top)
    if not ranked:
        raise NASError(f"the search in {directory} has no successful evaluation to export")
    return _export(directory, problem, ranked, out, retrain, epochs, pareto=False)


def export_pareto(
    directory: str | Path,
    out: str | Path | None = None,
    retrain: bool = False,
    epochs: int | None = None,
    *,
    problem: Problem | str | None = None,
) -> list[ExportedModel]:
    """Export every trial on the Pareto front of the search in ``directory``.

    The front is that of :meth:`nas.driver.SearchResults.pareto_front` (and of
    ``nas.load_results(directory).pareto_front``): the successful trials meeting every
    constraint that no other such trial dominates in every objective. A search of
    several objectives keeps the models of its front, which are exported; a front
    trial whose model was not kept is an error naming it, unless ``retrain``.

    Args:
        directory: the search's output folder.
        out: where to write (default: ``<directory>/export``); one folder
            ``pareto_trial<id>`` per trial of the front.
        retrain, epochs, problem: as for :func:`export_best`.

    Returns:
        The exported models, in trial order.

    Raises:
        NASError: the search has one objective (export its best with
            :func:`export_best` instead), no trial on its front, or a front trial's
            model was not kept (and not ``retrain``).

    Example:
        >>> exported = export_pareto("runs/compact")
        >>> [model.folder.name for model in exported]
        ['pareto_trial3', 'pareto_trial8', 'pareto_trial11']
    """
    directory = Path(directory)
    finished, problem = _finished_trials(directory, problem)
    if len(problem.objectives) == 1:
        raise NASError(
            f"the search in {directory} has one objective, {problem.objectives[0]}, so no "
            "Pareto front to export: export its best trials with --top K (export_best)"
        )
    front = front_trials(finished, problem)
    if not front:
        raise NASError(
            f"the search in {directory} has no Pareto front to export: no successful "
            "evaluation meets every constraint"
        )
    if not retrain:
        missing = [
            trial.config.trial_id
            for trial in front
            if not kept_model_path(directory, trial.config.trial_id).exists()
        ]
        if missing:
            listed = ", ".join(map(str, missing))
            raise NASError(
                f"the trained models of trial(s) {listed} of the Pareto front were not kept "
                "(a search keeps the models of its front that it could save); export them "
                "with --retrain"
            )
    return _export(directory, problem, front, out, retrain, epochs, pareto=True)


def _finished_trials(
    directory: Path, problem: Problem | str | None
) -> tuple[list[Trial], Problem]:
    """The finished trials of the search in ``directory`` and its problem."""
    state = read_journal(directory)
    if state.settings is None:
        raise NASError(f"{directory} holds no search (no journal.jsonl)")
    return state.finished, _problem_of(directory, state.settings, problem)


def _export(
    directory: Path,
    problem: Problem,
    trials: list[Trial],
    out: str | Path | None,
    retrain: bool,
    epochs: int | None,
    pareto: bool,
) -> list[ExportedModel]:
    """Write ``trials``, in their order, each to a folder of ``out`` (default
    ``<directory>/export``): ``rank<k>_trial<id>``, or ``pareto_trial<id>`` for a front."""
    out = Path(out) if out is not None else directory / "export"
    exported = []
    for rank, trial in enumerate(trials, start=1):
        name = f"trial{trial.config.trial_id}"
        folder = out / (f"pareto_{name}" if pareto else f"rank{rank}_{name}")
        model = _trained_model(directory, problem, trial, retrain, epochs, folder)
        _write(folder, model, problem, trial)
        exported.append(ExportedModel(rank, trial, folder, pareto=pareto))
    return exported


def _problem_of(directory: Path, settings: dict[str, Any], given: Problem | str | None) -> Problem:
    """The search's problem: ``given``, checked against the recorded name, or the one
    the search recorded."""
    recorded_name = settings.get("problem_name")
    if given is None:
        if settings.get("problem") is None:
            raise NASError(
                f"the search in {directory} was given problem {recorded_name!r} as an "
                "object, with no reference to import it by: pass it, "
                "export_best(..., problem=problem) or nas-export --problem module:attribute"
            )
        return load_problem(settings["problem"])
    problem = load_problem(given) if isinstance(given, str) else given
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a nas.problem.Problem or a reference, got {given!r}")
    if recorded_name is not None and problem.name != recorded_name:
        raise NASError(
            f"the search in {directory} searched problem {recorded_name!r}, not {problem.name!r}"
        )
    return problem


def _trained_model(
    directory: Path,
    problem: Problem,
    trial: Trial,
    retrain: bool,
    epochs: int | None,
    folder: Path,
) -> Any:
    keras = import_keras()
    path = kept_model_path(directory, trial.config.trial_id)
    if retrain:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "model.keras"
        # The problem's own callbacks, as the trial had them; outside the search (no
        # folder, no TensorBoard logs over the search's).
        alone = dataclasses.replace(trial.config, directory=None, tensorboard=False)
        result = train(
            problem,
            trial.config.arch_seq,
            trial.config.hyperparameters,
            epochs=epochs,
            seed=trial.config.seed,
            model_path=path,
            callbacks=trial_callbacks(problem, alone),
        )
        if not result.ok:
            raise NASError(f"retraining trial {trial.config.trial_id} failed: {result.error}")
    elif not path.exists():
        raise NASError(
            f"the trained model of trial {trial.config.trial_id} was not kept (a search keeps "
            "the best --keep-models of its time, and only those it could save); export it "
            "with --retrain"
        )
    return keras.saving.load_model(path)


def _write(folder: Path, model: Any, problem: Problem, trial: Trial) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    saved_model = folder / "saved_model"
    if saved_model.exists():
        shutil.rmtree(saved_model)
    model.export(str(saved_model), format="tf_saved_model", verbose=False)
    space = problem.build_space()
    document = {
        "trial_id": trial.config.trial_id,
        "objective": trial.result.objective,
        "objective_name": problem.objective,
        "direction": problem.direction,
        "hyperparameters": trial.result.hyperparameters,
        **_objectives_of(problem, trial),
        **json.loads(space.architecture(trial.config.arch_seq).to_json()),
    }
    (folder / "architecture.json").write_text(json.dumps(document, indent=2))
    space.draw(folder / "architecture.png", trial.config.arch_seq)


def _objectives_of(problem: Problem, trial: Trial) -> dict[str, Any]:
    """What ``architecture.json`` records beside the objective for a problem of several
    objectives or constraints: each objective's value and direction, the constraints
    and those broken. Nothing for a problem of one objective."""
    if not ranks_by_front(problem):
        return {}
    names = [item.name for item in problem.objectives]
    return {
        "objectives": dict(zip(names, trial.result.values_of(names))),
        "directions": {item.name: item.direction for item in problem.objectives},
        "constraints": [str(item) for item in problem.constraints],
        "violated": list(trial.result.violated),
    }
