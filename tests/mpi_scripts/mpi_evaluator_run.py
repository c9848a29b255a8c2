"""Rank script: an MPIEvaluator on rank 0, ``serve()`` on the others.

Run with ``mpirun -np N python mpi_evaluator_run.py OUT_DIR SCENARIO``. Rank 0 runs a
submit/collect loop like the driver's over the scenario's configs (evaluated by
:func:`mpi_evaluator_functions.sleepy`) and writes ``OUT_DIR/SCENARIO.json``: the trials,
what the evaluator refused, and its sizes. Scenarios:

* ``mixed``: widths 1 and 2 (and 4 when there are 4 workers), two of them failing,
  plus one config wider than the evaluator allows.
* ``overrun``: ``timeout=1``, ``grace=0.5``; a width-2 config sleeps 8 s while width-1
  configs go on (1.4 s of sleeps: the 8 s leave room for a loaded machine); then a
  width-2 config, which cannot be placed while ranks 1-2 are silent; then, once they
  have answered, one config per worker.
* ``driver_raises``: the loop raises while evaluations with large results run; closing
  the evaluator (leaving its ``with`` block) must still end every rank's loop.
* ``bad_function``: a lambda cannot be sent to the workers: the evaluator refuses it
  and stops the workers, so the job still ends.
* ``too_few``: run on one rank; the evaluator must refuse to start.

The job must end by itself, with exit code 0: every rank leaves ``serve()`` when rank 0
closes the evaluator.
"""

from __future__ import annotations

import faulthandler
import json
import sys
import time
from pathlib import Path
from typing import Any

from mpi4py import MPI
from mpi_evaluator_functions import sleepy

from nas.evaluate import MPIEvaluator, serve
from nas.trial import Config, Trial

# A rank still running after 3 minutes (the test waits 4) prints where each of its
# threads is: a hang is then diagnosable from the test's output.
faulthandler.dump_traceback_later(180, exit=False)


def config(
    trial_id: int, width: int, sleep: float = 0.3, fail: str | None = None, padding: int = 0
) -> Config:
    hyperparameters: dict[str, Any] = {"num_ranks": width, "sleep": sleep, "padding": padding}
    if fail:
        hyperparameters["fail"] = fail
    return Config(trial_id, (trial_id,), hyperparameters, seed=trial_id)


def drive(evaluator: MPIEvaluator, configs: list[Config]) -> list[Trial]:
    """Submit while ranks are free, collect as trials finish: the driver's loop."""
    queue, trials = list(configs), []
    while queue or evaluator.num_running:
        while queue and evaluator.num_free > 0:
            evaluator.submit(queue.pop(0))
        trials += evaluator.collect(timeout=30)
    return trials


def refusal(evaluator: MPIEvaluator, too_wide: Config) -> str | None:
    try:
        evaluator.submit(too_wide)
    except ValueError as error:
        return str(error)
    return None


def mixed(out_dir: Path) -> dict[str, Any]:
    models = out_dir / "models"
    with MPIEvaluator("unused:problem", function=sleepy, models_directory=models) as evaluator:
        wide = 4 if evaluator.max_width >= 4 else 2
        widths = [2, 2, 1, wide, 1, 2, 1, 1, wide, 2, 1, 2, 1, 1]
        configs = [config(i, width) for i, width in enumerate(widths)]
        configs.append(config(100, 2, fail="all"))
        configs.append(config(101, 1, fail="first"))
        configs.append(config(102, 2, fail="first"))
        refused = refusal(evaluator, config(999, evaluator.max_width * 2))
        started = time.time()
        trials = drive(evaluator, configs)
        return {
            "num_workers": evaluator.num_workers,
            "max_width": evaluator.max_width,
            "refused": refused,
            "seconds": time.time() - started,
            "trials": [trial.to_dict() for trial in trials],
        }


def overrun(out_dir: Path) -> dict[str, Any]:
    with MPIEvaluator("unused:problem", function=sleepy, timeout=1.0, grace=0.5) as evaluator:
        configs = [config(0, 2, sleep=8.0)] + [config(i, 1, sleep=0.2) for i in range(1, 8)]
        started = time.time()
        trials = drive(evaluator, configs)
        finished_first = time.time() - started
        # Ranks 1-2 are quarantined and rank 3 is idle: a width-2 config cannot start
        # until a silent rank answers, so it is dropped rather than left waiting.
        unplaced = drive(evaluator, [config(20, 2)])
        # The silent ranks answer at about 8 s: then every worker rank is free again.
        num_free = [evaluator.num_free]
        deadline = time.monotonic() + 30
        while evaluator.num_free < evaluator.num_workers and time.monotonic() < deadline:
            time.sleep(0.05)
            trials += evaluator.collect(timeout=0)  # takes in the late answers
            if evaluator.num_free != num_free[-1]:
                num_free.append(evaluator.num_free)
        last = [config(10 + i, 1, sleep=0.5) for i in range(evaluator.num_workers)]
        after = drive(evaluator, last)
        return {
            "num_workers": evaluator.num_workers,
            "seconds_to_first_phase": finished_first,
            "unplaced": [trial.to_dict() for trial in unplaced],
            "num_free_after_first_phase": num_free,
            "trials": [trial.to_dict() for trial in trials],
            "after": [trial.to_dict() for trial in after],
        }


def driver_raises(out_dir: Path) -> dict[str, Any]:
    started = time.time()
    try:
        with MPIEvaluator("unused:problem", function=sleepy) as evaluator:
            for trial_id, width in enumerate([2, 1]):
                evaluator.submit(config(trial_id, width, sleep=1.0, padding=100_000))
            evaluator.submit(config(2, 1, sleep=1.0))  # waits for ranks: never starts
            raise RuntimeError("the search failed")
    except RuntimeError as error:
        return {"error": str(error), "closed_after": time.time() - started}


def bad_function(out_dir: Path) -> dict[str, Any]:
    try:
        MPIEvaluator("unused:problem", function=lambda *args, **kwargs: None)
    except ValueError as error:
        return {"error": str(error)}
    return {"error": None}


def too_few(out_dir: Path) -> dict[str, Any]:
    try:
        MPIEvaluator("unused:problem", function=sleepy)
    except ValueError as error:
        return {"error": str(error)}
    return {"error": None}


SCENARIOS = {
    "mixed": mixed,
    "overrun": overrun,
    "driver_raises": driver_raises,
    "bad_function": bad_function,
    "too_few": too_few,
}


def main() -> None:
    out_dir, scenario = Path(sys.argv[1]), sys.argv[2]
    if MPI.COMM_WORLD.Get_rank() != 0:
        serve()
        return
    record = SCENARIOS[scenario](out_dir)
    (out_dir / f"{scenario}.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
