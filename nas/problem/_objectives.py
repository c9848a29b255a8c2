"""What a search optimises: one objective or several, and the constraints a model must meet.

An objective is either an entry of the validation history (``val_accuracy``,
``val_loss``, ``val_<output>_<metric>``: its best value over the epochs trained) or a
property of the trained model, measured by the worker that trained it:

* ``num_parameters``: the model's parameters;
* ``flops``: floating-point operations of one inference on one sample, counted from the
  Keras graph (:func:`nas.train.count_flops`);
* ``latency_ms``: milliseconds of one inference on one sample, the median of timed
  calls after a warm-up (:func:`nas.train.inference_latency`); ``latency_ms@N`` the same
  for a batch of N samples;
* ``saved_size``: bytes of the model saved as a ``.keras`` file.

Measured properties are costs: they are minimised. A constraint bounds any of these
names (``"num_parameters <= 1e6"``, ``"latency_ms <= 5"``, ``"val_accuracy >= 0.9"``):
a trial that breaks one is recorded as infeasible and never ranks above a feasible one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nas.exceptions import ProblemError
from nas.pareto import Constraint
from nas.problem._training_settings import MAXIMIZED_METRICS, MINIMIZED_METRICS

DIRECTIONS = ("max", "min")
#: The measured properties of a trained model, besides ``latency_ms@N``.
MEASURES = ("num_parameters", "flops", "latency_ms", "saved_size")
_BATCH_LATENCY = re.compile(r"^latency_ms@(?P<batch_size>[1-9][0-9]*)$")


@dataclass(frozen=True)
class Objective:
    """One objective of a problem: a name and whether larger values are better.

    Attributes:
        name: a validation entry of the history or a measured property (see the module).
        direction: ``"max"`` or ``"min"``.
    """

    name: str
    direction: str

    @property
    def measured(self) -> bool:
        """Whether it is a property of the trained model rather than a history entry."""
        return is_measure(self.name)

    def oriented(self, value: float) -> float:
        """``value`` with its sign chosen so that larger is better."""
        return value if self.direction == "max" else -value

    def __str__(self) -> str:
        return f"{self.name} ({self.direction})"


def is_measure(name: str) -> bool:
    """Whether ``name`` is a measured property of a model (``latency_ms@64`` included)."""
    return name in MEASURES or _BATCH_LATENCY.match(name) is not None


def latency_batch_size(name: str) -> int | None:
    """The batch size of a latency measure (1 for ``latency_ms``), None for another name."""
    if name == "latency_ms":
        return 1
    match = _BATCH_LATENCY.match(name)
    return None if match is None else int(match["batch_size"])


def checked_objectives(
    problem: str, objective: Any, direction: Any, history: Mapping[str, str]
) -> tuple[Objective, ...]:
    """The objectives of ``problem`` as given to :class:`Problem`.

    ``objective`` is a name; a list of names; or a dict of name -> direction (then
    ``direction`` is left out). ``direction`` is ``"max"`` or ``"min"`` (for a list: one
    for all, or a list of one per name); None infers it where the name says it: ``max``
    for accuracies, AUC and the like, ``min`` for losses, errors and measured
    properties, ``min`` for a metric of the user's own (as Keras' ``val_loss``).

    Args:
        history: the validation entries of the training history -> what each measures
            (``"loss"`` or a metric's name), to check names and directions.
    """
    if isinstance(objective, str):
        pairs = [(objective, direction)]
    elif isinstance(objective, Mapping):
        if direction is not None:
            raise ProblemError(
                f"Problem {problem!r}: objective {dict(objective)!r} gives each "
                f"objective's direction; leave direction out (got {direction!r})"
            )
        pairs = list(objective.items())
    elif isinstance(objective, Sequence) and not isinstance(objective, bytes):
        names = list(objective)
        directions = direction
        if direction is None or isinstance(direction, str):
            directions = [direction] * len(names)
        elif not isinstance(direction, Sequence) or len(direction) != len(names):
            raise ProblemError(
                f"Problem {problem!r}: objectives {names!r} need one direction, or one per "
                f"name, got direction {direction!r}"
            )
        pairs = list(zip(names, directions))
    else:
        raise ProblemError(
            f"Problem {problem!r}: objective must be a name, a list of names or a dict of "
            f"name -> 'max'/'min', got {objective!r}"
        )
    if not pairs:
        raise ProblemError(f"Problem {problem!r}: objective lists no objective")
    names = [name for name, _ in pairs]
    repeated = sorted({str(name) for name in names if names.count(name) > 1})
    if repeated:
        raise ProblemError(f"Problem {problem!r}: objective {repeated[0]!r} is listed twice")
    objectives = tuple(_checked(problem, name, value, history) for name, value in pairs)
    if all(item.measured for item in objectives):
        raise ProblemError(
            f"Problem {problem!r}: objectives {names!r} are all measured properties; "
            f"add a validation entry to train for, one of {list(history)!r}"
        )
    return objectives


def _checked(problem: str, name: Any, direction: Any, history: Mapping[str, str]) -> Objective:
    if direction is None:
        direction = inferred_direction(name, history)
    if direction not in DIRECTIONS:
        raise ProblemError(
            f"Problem {problem!r}: direction {direction!r} is neither 'max' nor 'min' "
            f"(objective {name!r})"
        )
    if isinstance(name, str) and is_measure(name):
        if direction != "min":
            raise ProblemError(
                f"Problem {problem!r}: objective {name!r} is a cost of the model and is "
                "minimised: give it direction 'min'"
            )
        return Objective(name, direction)
    if name not in history:
        raise ProblemError(
            f"Problem {problem!r}: objective {name!r} is not a validation entry of the "
            f"training history: expected one of {list(history)!r}, or a measured property "
            f"of the model, one of {[*MEASURES, 'latency_ms@N']!r}"
        )
    measured = history[name]
    if measured in MAXIMIZED_METRICS and direction != "max":
        raise ProblemError(f"Problem {problem!r}: objective {name!r} should be maximised")
    if measured in MINIMIZED_METRICS and direction != "min":
        raise ProblemError(f"Problem {problem!r}: objective {name!r} should be minimised")
    return Objective(name, direction)


def inferred_direction(name: Any, history: Mapping[str, str]) -> str:
    """``max`` for a history entry of a metric that grows better, else ``min``."""
    if isinstance(name, str) and name in history and history[name] in MAXIMIZED_METRICS:
        return "max"
    return "min"


def checked_constraints(
    problem: str, constraints: Any, history: Mapping[str, str]
) -> tuple[Constraint, ...]:
    """The constraints of ``problem``: texts such as ``"num_parameters <= 1e6"`` (or
    :class:`nas.pareto.Constraint` objects), each on a measured property or a validation
    entry of the history."""
    if isinstance(constraints, (str, Constraint)):
        constraints = [constraints]
    if not isinstance(constraints, Sequence):
        raise ProblemError(
            f"Problem {problem!r}: constraints must be a list such as "
            f"['num_parameters <= 1e6'], got {constraints!r}"
        )
    checked = []
    for item in constraints:
        try:
            constraint = item if isinstance(item, Constraint) else Constraint.parse(item)
        except ValueError as error:
            raise ProblemError(f"Problem {problem!r}: {error}") from None
        if not is_measure(constraint.name) and constraint.name not in history:
            raise ProblemError(
                f"Problem {problem!r}: constraint '{constraint}' bounds {constraint.name!r}, "
                f"which is neither a measured property, one of "
                f"{[*MEASURES, 'latency_ms@N']!r}, nor a validation entry of the training "
                f"history, one of {list(history)!r}"
            )
        checked.append(constraint)
    return tuple(checked)


def measured_names(
    objectives: Sequence[Objective], constraints: Sequence[Constraint]
) -> tuple[str, ...]:
    """The measured properties that ``objectives`` and ``constraints`` name, in order."""
    names = [item.name for item in objectives] + [item.name for item in constraints]
    return tuple(dict.fromkeys(name for name in names if is_measure(name)))


def best_value(values: Sequence[float | None], direction: str) -> float | None:
    """The best of a learning curve's values in ``direction``, None if it has none."""
    present = [value for value in values if value is not None]
    if not present:
        return None
    return max(present) if direction == "max" else min(present)


def scored(
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint],
    history: Mapping[str, str],
    learning_curve: Mapping[str, Sequence[float | None]],
    measures: Mapping[str, float],
) -> tuple[dict[str, float | None], list[str], float]:
    """Every objective's value and the constraints broken, of a trained model.

    A history entry counts by its best value over the epochs (in its objective's
    direction, or for a constraint alone, the direction its name implies); a measured
    property by its value in ``measures``. A constraint whose value is missing is broken.

    Returns:
        ``(objectives, violated, violation)``: name -> value; each broken constraint as
        ``"latency_ms <= 5 (was 7.31)"``; the total violation
        (:func:`nas.pareto.total_violation`, 0 when feasible).
    """
    directions = {item.name: item.direction for item in objectives}

    def value_of(name: str) -> float | None:
        if is_measure(name):
            return measures.get(name)
        direction = directions.get(name) or inferred_direction(name, history)
        return best_value(learning_curve.get(name, []), direction)

    values = {item.name: value_of(item.name) for item in objectives}
    violated, violation = [], 0.0
    for constraint in constraints:
        value = value_of(constraint.name)
        amount = math.inf if value is None else constraint.violation(value)
        if amount > 0:
            found = "not measured" if value is None else f"{value:.6g}"
            violated.append(f"{constraint} (was {found})")
            violation += amount
    return values, violated, violation
