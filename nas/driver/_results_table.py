"""``results.csv``: one row per finished evaluation, in trial order, derived from the journal.

The header is fixed when the search starts, so a pandas user can read the file at any
moment, and failed evaluations appear from the first row on (objective left empty).
What the scheduler decided has columns of its own (``rung``, ``resource``, ``decision``,
``reason``; see :class:`nas.schedule.Decision`); its whole record stays in ``info``.
Where an evaluation's time went: ``startup_seconds`` (its fixed cost, up to the end of
the first training batch), ``epoch_seconds`` (median epoch) and ``warm`` (``True``: a
segment that continued its model from a worker's memory, not from the checkpoint).

A problem with several objectives or constraints adds, after ``objective``, a column per
objective and measured property not already one (``val_accuracy``, ``latency_ms``),
``violated`` (the constraints broken, ``; ``-separated), ``violation`` and ``pareto``
(``True`` on the Pareto front). The front changes as trials finish: ``pareto`` is
filled when the file is rewritten (when a session ends and when one resumes) and left
empty in rows appended since; :func:`nas.load_results` computes it at every load.

Trial order (``trial_id`` ascending, the order evaluations were submitted) while rows are
appended: a row is appended as soon as its trial finishes, so the file is readable at
every moment of a search, but parallel workers finish out of order. When the session
ends (budget reached, timeout, a signal, an error) the file is rewritten in trial order,
to a temporary file renamed over it, so that a reader never sees half a file. A session
killed outright (SIGKILL, a lost node) leaves its rows in the order they finished; the
next ``--resume`` rewrites them. :func:`nas.load_results` reads the journal and is in
trial order at every moment.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nas.driver._files import replace_text, resume_hint
from nas.exceptions import reporting_a_full_disk
from nas.pareto import pareto_ids
from nas.schedule import decision_of
from nas.trial import Trial

RESULTS_NAME = "results.csv"
_LEADING = ["trial_id", "arch_seq", "arch_hash"]
#: After the hyperparameters: what the scheduler asked for and decided.
_DECISIONS = ["rung", "resource", "decision", "reason"]
_TRAILING = [
    "objective",
    "status",
    "error",
    "submitted_at",
    "started_at",
    "finished_at",
    "duration",
    "worker",
    "num_parameters",
    "epochs_trained",
    "num_ranks",
    "global_batch_size",
    "samples_per_second",
    "startup_seconds",
    "epoch_seconds",
    "warm",
    "data_parallel",
    "info",
    "epochs_reached",
    "parent",
]


class ResultsTable:
    """Appends trials to ``<directory>/results.csv``; rewritten from scratch on resume,
    and in trial order when :meth:`close` ends the session (see the module)."""

    def __init__(
        self,
        directory: Path,
        hyperparameter_names: Sequence[str],
        trials: Sequence[Trial] = (),
        arch_hashes: Sequence[str] = (),
        notes: Sequence[Mapping[str, Any]] | None = None,
        objectives: Mapping[str, str] | None = None,
        measured: Sequence[str] = (),
    ) -> None:
        """Start the table with ``trials`` (those a resumed journal holds), written to a
        temporary file renamed over the old table: a kill at any instant of the
        rewrite leaves the old table or the new one, never a truncated one.

        ``objectives`` (name -> direction) and ``measured`` (the measured properties
        the objectives and constraints name) add the columns of a problem with several
        objectives or constraints (see the module); leave them out for one objective.
        """
        self.path = Path(directory) / RESULTS_NAME
        hyperparameters = [f"hp_{name}" for name in hyperparameter_names]
        self.columns = _LEADING + hyperparameters + _DECISIONS + _TRAILING
        self._objectives = dict(objectives or {})
        self._values: list[str] = []  # the columns of objectives and measured properties
        if self._objectives:
            names = dict.fromkeys([*self._objectives, *measured])
            self._values = [name for name in names if name not in self.columns]
            at = self.columns.index("objective") + 1
            self.columns[at:at] = [*self._values, "violated", "violation", "pareto"]
        notes = notes if notes is not None else [{}] * len(trials)
        # Every row written, for the rewrite in trial order (a few MB at 10,000s of trials,
        # which the driver holds as trials anyway).
        self._rows = [self._row(*item) for item in zip(trials, arch_hashes, notes)]
        self._in_order = False
        self._rewrite_in_trial_order()
        self._file = self.path.open("a", newline="", encoding="utf-8")
        self._writer = self._dict_writer(self._file)

    def append(
        self,
        trials: Sequence[Trial],
        arch_hashes: Sequence[str],
        notes: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Write rows; ``notes`` (one per trial) are what the scheduler decided about
        each once it finished, merged over the trial's own ``info``."""
        notes = notes if notes is not None else [{}] * len(trials)
        rows = [self._row(*item) for item in zip(trials, arch_hashes, notes)]
        # Trials that finish together are written in trial order already.
        rows.sort(key=_trial_id)
        if rows and self._rows and _trial_id(rows[0]) < _trial_id(self._rows[-1]):
            self._in_order = False
        with reporting_a_full_disk(self.path, hint=resume_hint(self.path.parent)):
            for row in rows:
                self._writer.writerow(row)
            self._file.flush()
        self._rows += rows

    def close(self) -> None:
        """Close the file, rewritten in trial order if rows were appended out of it."""
        if self._file.closed:
            return
        self._file.close()
        if not self._in_order or self._objectives:  # the front's marks are made here
            self._rewrite_in_trial_order()

    def _row(self, trial: Trial, arch_hash: str, notes: Mapping[str, Any]) -> dict[str, Any]:
        row = _row(trial, arch_hash, notes)
        if self._objectives:
            result = trial.result
            values = {**result.measures, **result.objectives}
            row.update({name: _blank_if_none(values.get(name)) for name in self._values})
            row["violated"] = "; ".join(result.violated)
            row["violation"] = result.violation if result.ok else ""
            row["pareto"] = ""
        return row

    def _mark_front(self) -> None:
        """Set every row's ``pareto`` mark from the rows' objectives."""
        ok = [row for row in self._rows if row["status"] == "ok"]
        names = list(self._objectives)

        def value(row: Mapping[str, Any], name: str) -> float | None:
            cell = row.get(name, row.get("objective"))
            return None if cell == "" or cell is None else float(cell)

        front = pareto_ids(
            [_trial_id(row) for row in ok],
            [[value(row, name) for name in names] for row in ok],
            list(self._objectives.values()),
            [float(row["violation"]) for row in ok],
        )
        for row in self._rows:
            row["pareto"] = _trial_id(row) in front

    def _rewrite_in_trial_order(self) -> None:
        if self._objectives:
            self._mark_front()
        text = io.StringIO(newline="")
        writer = self._dict_writer(text)
        writer.writeheader()
        writer.writerows(sorted(self._rows, key=_trial_id))
        replace_text(self.path, text.getvalue())
        self._in_order = True

    def _dict_writer(self, file: Any) -> csv.DictWriter:
        # Failed evaluations may carry only the searched hyperparameters: missing cells
        # stay empty.
        return csv.DictWriter(file, fieldnames=self.columns, restval="")


def _trial_id(row: Mapping[str, Any]) -> int:
    return int(row["trial_id"])


def _row(trial: Trial, arch_hash: str, notes: Mapping[str, Any]) -> dict[str, Any]:
    config, result = trial.config, trial.result
    info = {**config.info, **notes}
    decision = decision_of(config.info, notes, config.epochs)
    row: dict[str, Any] = {
        "trial_id": config.trial_id,
        "arch_seq": json.dumps(list(config.arch_seq)),
        "arch_hash": arch_hash,
        "rung": _blank_if_none(decision.rung),
        "resource": _blank_if_none(decision.resource),
        "decision": _blank_if_none(decision.decision),
        "reason": _blank_if_none(decision.reason),
        "objective": _blank_if_none(result.objective),
        "status": result.status.value,
        "error": result.error or "",
        "submitted_at": trial.submitted_at,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "duration": result.finished_at - result.started_at,
        "worker": trial.worker,
        "num_parameters": _blank_if_none(result.num_parameters),
        "epochs_trained": result.epochs_trained,
        "num_ranks": result.num_ranks,
        "global_batch_size": _blank_if_none(result.global_batch_size),
        "samples_per_second": _blank_if_none(result.samples_per_second),
        "startup_seconds": _blank_if_none(result.startup_seconds),
        "epoch_seconds": _blank_if_none(result.epoch_seconds),
        "warm": result.warm,
        "data_parallel": _blank_if_none(result.data_parallel),
        # One JSON object: scheduler notes vary by scheduler, a fixed header cannot list them.
        "info": json.dumps(info) if info else "",
        # A segment continuing a checkpoint (successive halving) trains from its parent's
        # epoch: the epoch the model reached is what a rung's resource refers to.
        "epochs_reached": config.initial_epoch + result.epochs_trained,
        "parent": _blank_if_none(config.parent),
    }
    for name, value in result.hyperparameters.items():
        row[f"hp_{name}"] = value
    return row


def _blank_if_none(value: Any) -> Any:
    return "" if value is None else value
