"""The simulated backend with checkpoint files, and a driver that checks them.

The simulated evaluator writes no file; :class:`CheckpointWritingEvaluator` writes an
empty one where each finished segment was asked to save its checkpoint, as the trainer
does. :class:`CheckedDriver` asserts, once built and after every batch of results, that
the checkpoints on disk are exactly the saved ones a later job may still continue: the
scheduler's live ones and those that running or re-queued evaluations start from,
computed here from scratch (not from the driver's incremental bookkeeping). The
``checked`` fixture of a test module puts both in ``run_search``'s place.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nas.driver._driver import CHECKPOINTS_FOLDER, Driver
from nas.evaluate import SimulatedEvaluator
from nas.trial import Config, Trial


class Killed(Exception):
    """Stands for SIGKILL: the driver's loop ends at once, the journal as flushed."""


class CheckpointWritingEvaluator(SimulatedEvaluator):
    """A simulated evaluator that writes each segment's checkpoint file when it finishes.

    Attributes:
        kill_after: raise :class:`Killed` from the first collect once this many results
            have been collected (None: never), with evaluations still running.
    """

    kill_after: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.running: dict[int, Config] = {}
        self.collected = 0

    def submit(self, config: Config) -> None:
        super().submit(config)
        self.running[config.trial_id] = config

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
        return finished


class CheckedDriver(Driver):
    """A driver that checks the checkpoint files on disk at every step.

    Attributes:
        instances: every driver made (the last one: the current session).
        checks: how many times the files were checked.
        initial_scheduler: a copy of the scheduler as the driver got it (on resume: as
            the journal's replay left it).
    """

    instances: list[CheckedDriver] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial_scheduler = copy.deepcopy(self.scheduler)
        self.checks = 0
        CheckedDriver.instances.append(self)
        self.check_checkpoints()  # a resumed search has deleted what no job needs

    def _record(self, finished: Sequence[Trial], bar: Any = None) -> None:
        super()._record(finished, bar)
        self.check_checkpoints()

    def check_checkpoints(self) -> None:
        folder = self.directory / CHECKPOINTS_FOLDER
        on_disk = {int(path.stem.removeprefix("trial_")) for path in folder.glob("*.keras")}
        saved = {t.config.trial_id for t in self.trials if t.config.checkpoint_path}
        running = getattr(self.evaluator, "running", {})
        unfinished = [*running.values(), *self._pending]
        needed = set(self.scheduler.live_checkpoints())
        needed |= {c.parent for c in unfinished if c.parent is not None}
        expected = saved & needed
        assert on_disk == expected, (
            f"after {len(self.trials)} results: kept but not needed "
            f"{sorted(on_disk - expected)}, needed but deleted {sorted(expected - on_disk)}"
        )
        self.checks += 1


def on_disk(directory: Path) -> set[int]:
    """The trial ids of the checkpoint files in a search's directory."""
    folder = Path(directory) / CHECKPOINTS_FOLDER
    return {int(path.stem.removeprefix("trial_")) for path in folder.glob("*.keras")}


def patch_run_search(monkeypatch: Any) -> list[CheckedDriver]:
    """Make ``run_search`` use these classes; the list of drivers it will make."""
    import nas.driver._run_search as run_search_module

    monkeypatch.setattr(run_search_module, "Driver", CheckedDriver)
    monkeypatch.setattr(run_search_module, "SimulatedEvaluator", CheckpointWritingEvaluator)
    monkeypatch.setattr(CheckedDriver, "instances", [])
    return CheckedDriver.instances
