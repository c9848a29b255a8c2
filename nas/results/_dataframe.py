"""Trial records as a pandas DataFrame (pandas is an optional extra: ``nas[pandas]``).

Column types, so that a notebook can filter, sort and plot without converting:

* ``trial_id``, ``seed``, ``num_ranks``: ``int64``; integers that may be missing
  (``rung``, ``resource``, ``epochs_trained``, ``epochs_reached``, ``parent``,
  ``num_parameters``, ``global_batch_size``): pandas' nullable ``Int64`` (``<NA>``).
* ``objective``, ``duration``, ``build_time``, ``training_time``,
  ``samples_per_second``, ``startup_seconds``, ``epoch_seconds``: ``float64`` (NaN
  where missing); ``warm``, ``pareto``: ``bool``.
* ``submitted_at``, ``started_at``, ``finished_at``: ``datetime64`` in UTC (``NaT``
  for running trials).
* ``status``, ``error``, ``error_stage``, ``worker``, ``decision``, ``reason``,
  ``data_parallel``: pandas' ``string`` (``<NA>`` where missing).
* ``arch_seq``: Python lists of ints (``df.arch_seq.map(tuple)`` to group by it);
  ``info``: dicts; ``violated``: lists of the constraints broken.
* several objectives: one ``float64`` column per objective and measured property not
  already a column (``val_accuracy``, ``latency_ms``, ``flops``), after ``objective``;
  ``violation``: ``float64``.
* one ``hp_<name>`` column per hyperparameter (the prefix keeps ``num_ranks`` or
  ``epochs`` apart from the fields of the same name): ``Int64`` when every value is an
  int, ``boolean`` when every value is a bool, else as pandas infers (float64, strings).

The learning curves are left out (one list per metric per trial): they are on the
records, ``results.trials[i].learning_curve``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from nas.results._record import TrialRecord

_INTEGERS = ["trial_id", "seed", "num_ranks"]
_NULLABLE_INTEGERS = [
    "rung",
    "resource",
    "epochs_trained",
    "epochs_reached",
    "parent",
    "num_parameters",
    "global_batch_size",
]
_FLOATS = [
    "objective",
    "duration",
    "build_time",
    "training_time",
    "samples_per_second",
    "startup_seconds",
    "epoch_seconds",
    "violation",
]
_BOOLS = ["warm", "pareto"]
_TIMES = ["submitted_at", "started_at", "finished_at"]
_STRINGS = ["status", "error", "error_stage", "worker", "decision", "reason", "data_parallel"]
_LEFT_OUT = {"hyperparameters", "learning_curve", "objectives", "measures"}
#: Where the hyperparameter columns go: after the configuration, before the outcome.
_HYPERPARAMETERS_AFTER = "arch_seq"


def records_to_dataframe(records: Sequence[TrialRecord]) -> Any:
    """A DataFrame with one row per record, in the records' order (see the module)."""
    pandas = import_pandas()
    names = [f.name for f in fields(TrialRecord) if f.name not in _LEFT_OUT]
    hyperparameters = _hyperparameter_names(records)
    at = names.index(_HYPERPARAMETERS_AFTER) + 1
    columns = names[:at] + [f"hp_{name}" for name in hyperparameters] + names[at:]
    data: dict[str, Any] = {name: [getattr(record, name) for record in records] for name in names}
    for name in hyperparameters:
        data[f"hp_{name}"] = [record.hyperparameters.get(name) for record in records]
    measured = [name for name in _measured_names(records) if name not in columns]
    if measured:
        at = columns.index("objective") + 1
        columns[at:at] = measured
    for name in measured:
        data[name] = [record.objectives.get(name, record.measures.get(name)) for record in records]
    frame = pandas.DataFrame({name: data[name] for name in columns}, columns=columns)
    for name in _INTEGERS:
        frame[name] = frame[name].astype("int64")
    for name in _NULLABLE_INTEGERS:
        frame[name] = frame[name].astype("Int64")
    for name in _FLOATS + measured:
        frame[name] = frame[name].astype("float64")
    for name in _BOOLS:
        frame[name] = frame[name].astype("bool")
    for name in _TIMES:
        frame[name] = pandas.to_datetime(frame[name], utc=True)
    # A column that is all None (no failure yet) would otherwise be of type object.
    for name in _STRINGS:
        frame[name] = frame[name].astype("string")
    for name in hyperparameters:
        frame[f"hp_{name}"] = _typed(pandas, data[f"hp_{name}"], frame[f"hp_{name}"])
    return frame


def import_pandas() -> Any:
    """pandas, or an ImportError that says how to install it."""
    try:
        import pandas
    except ImportError as error:
        raise ImportError(
            "to_dataframe() needs pandas: pip install 'nas[pandas]' (or pip install pandas)"
        ) from error
    return pandas


def _measured_names(records: Sequence[TrialRecord]) -> list[str]:
    """Every objective and measured property, in the order first seen; none when there
    is one objective (its column is ``objective``) and nothing measured."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record.objectives))
        names.update(dict.fromkeys(record.measures))
    return list(names) if len(names) > 1 else []


def _hyperparameter_names(records: Sequence[TrialRecord]) -> list[str]:
    """Every hyperparameter name, in the order first seen."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record.hyperparameters))
    return list(names)


def _typed(pandas: Any, values: list[Any], column: Any) -> Any:
    present = [value for value in values if value is not None]
    # bool is an int in Python: test it first. A missing value would make pandas turn
    # a column of ints into floats.
    if present and all(isinstance(value, bool) for value in present):
        return column.astype("boolean")
    if present and all(isinstance(value, int) for value in present):
        return pandas.array(values, dtype="Int64")
    return column
