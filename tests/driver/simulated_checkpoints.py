"""The simulated backend with checkpoint files, and a callback that checks them.

The simulated evaluator writes no file; :class:`CheckpointWritingEvaluator` writes an
empty one where each finished segment was asked to save its checkpoint, as the trainer
does. :class:`CheckpointCheck`, a study callback, asserts as the run starts and after
every result that the checkpoints on disk are exactly the saved ones a later job may
still continue: the scheduler's live ones and those that unfinished evaluations start
from, computed here from what the journal held at the start, what the evaluator is
running and what has finished since (not from the driver's incremental bookkeeping).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from nas import Callback, Study
from nas.driver import read_journal
from nas.evaluate import SimulatedEvaluator
from nas.problem import load_problem
from nas.trial import Config, Trial

CHECKPOINTS_FOLDER = "checkpoints"


class Killed(Exception):
    """Stands for SIGKILL: the driver's loop ends at once, the journal as flushed."""


class CheckpointWritingEvaluator(SimulatedEvaluator):
    """A simulated evaluator that writes each segment's checkpoint file when it finishes.

    Attributes:
        kill_after: raise :class:`Killed` from the first collect once this many results
            have been collected (None: never), with evaluations still running.
    """

    def __init__(self, *args: Any, kill_after: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kill_after = kill_after
        self.collected = 0
        self.running: dict[int, Config] = {}
        self.submitted: set[int] = set()
        self.saved: set[int] = set()  # trials collected that saved a checkpoint

    def submit(self, config: Config) -> None:
        super().submit(config)
        self.running[config.trial_id] = config
        self.submitted.add(config.trial_id)

    def collect(self, timeout: float | None = None) -> list[Trial]:
        if self.kill_after is not None and self.collected >= self.kill_after:
            raise Killed
        finished = super().collect(timeout)
        self.collected += len(finished)
        for trial in finished:
            del self.running[trial.config.trial_id]
            if trial.config.checkpoint_path:
                path = Path(trial.config.checkpoint_path)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
                self.saved.add(trial.config.trial_id)
        return finished


class CheckpointCheck(Callback):
    """Checks the checkpoint files on disk as the run starts and after every result.

    Attributes:
        checks: how many times the files were checked.
        scheduler: the run's scheduler.
        initial_scheduler: a copy of the scheduler as the run started (on resume: as the
            journal's replay left it).
    """

    def __init__(self) -> None:
        self.checks = 0
        self.study: Study | None = None
        self.initial_scheduler: Any = None
        self._saved: set[int] = set()  # trials of earlier sessions that saved one
        self._requeued: list[Config] = []  # the journal's unfinished, re-run this session

    @property
    def scheduler(self) -> Any:
        return self.study.scheduler

    def on_search_start(self, study: Study) -> None:
        self.study = study
        self.initial_scheduler = copy.deepcopy(study.scheduler)
        journal = read_journal(study.directory)
        self._saved = {t.config.trial_id for t in journal.finished if t.config.checkpoint_path}
        self._requeued = journal.unfinished
        self.check()  # a resumed search has deleted what no job needs

    def on_trial_end(self, trial: Trial) -> None:
        self.check()

    def check(self) -> None:
        evaluator = self.study.evaluator
        unfinished = list(evaluator.running.values()) + [
            config for config in self._requeued if config.trial_id not in evaluator.submitted
        ]
        needed = set(self.scheduler.live_checkpoints())
        needed |= {config.parent for config in unfinished if config.parent is not None}
        expected = (self._saved | evaluator.saved) & needed
        found = on_disk(self.study.directory)
        assert found == expected, (
            f"kept but not needed {sorted(found - expected)}, needed but deleted "
            f"{sorted(expected - found)}"
        )
        self.checks += 1


def checked_search(
    problem: str,
    out: Path,
    max_evals: int,
    *,
    ranks: int,
    seed: int,
    scheduler: str,
    scheduler_options: dict[str, Any],
    resume: bool = False,
    kill_after: int | None = None,
    check: CheckpointCheck | None = None,
) -> tuple[Any, CheckpointCheck]:
    """A random search on simulated ranks writing checkpoint files, checked throughout
    (by ``check``, or a new check); its results and the check."""
    check = check or CheckpointCheck()
    evaluator = CheckpointWritingEvaluator.for_problem(load_problem(problem), ranks)
    evaluator.kill_after = kill_after
    study = Study(
        problem,
        out,
        "random",
        max_evals,
        scheduler=scheduler,
        scheduler_options=scheduler_options,
        evaluator=evaluator,
        seed=seed,
        keep_models=0,
        callbacks=[check],
        if_exists="resume" if resume else "error",
        progress=False,
    )
    return study.run(), check


def on_disk(directory: Path) -> set[int]:
    """The trial ids of the checkpoint files in a search's directory."""
    folder = Path(directory) / CHECKPOINTS_FOLDER
    return {int(path.stem.removeprefix("trial_")) for path in folder.glob("*.keras")}
