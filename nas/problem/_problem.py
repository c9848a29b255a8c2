"""A problem: data, a search space, hyperparameters and the objective to optimise."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any, Union

from nas._imports import tensorflow_logs_filtered
from nas.exceptions import ProblemError
from nas.problem._dataset import Dataset
from nas.problem._hyperparameter_space import HyperparameterSpace
from nas.problem._training_settings import (
    LOSSES,
    MAXIMIZED_METRICS,
    METRICS,
    MINIMIZED_METRICS,
    training_space,
)

if TYPE_CHECKING:
    from nas.space import SearchSpace

SpaceFactory = Union[str, Callable[..., "SearchSpace"]]
DIRECTIONS = ("max", "min")


class Problem:
    """What to search for: data, a search space, hyperparameters, an objective.

    Everything is validated when the problem is made, without importing Keras, so a
    mistake shows when the problem module is imported rather than hours into a search.
    The data and the space are made on first use and cached for the life of the
    process (workers train many models on the same problem).

    Args:
        name: a short name for reports.
        load_data: a zero-argument function returning a :class:`Dataset`.
        space: the search space factory, as an import string ``"module:function"``
            (preferred: workers and saved architectures can refer to it) or a callable.
        space_kwargs: keyword arguments for the factory (JSON values), e.g. shapes.
        hyperparameters: a :class:`HyperparameterSpace` or a dict of name ->
            ``Int``/``Float``/``Categorical``/fixed value. Only keys the trainer
            understands are accepted: ``batch_size``, ``learning_rate``, ``optimizer``,
            ``epochs``, ``patience``; missing ones are fixed at the trainer's defaults
            (32, 1e-3, "adam", 10, 0).
        loss: a Keras loss name (e.g. ``"sparse_categorical_crossentropy"``) or callable.
        metrics: Keras metric names or callables, recorded every epoch.
        objective: the key of the Keras history to optimise, measured on the validation
            data: ``"val_loss"`` or ``"val_<metric>"``.
        direction: ``"max"`` or ``"min"``.
        description: one or two sentences for reports.

    Raises:
        ProblemError: naming the invalid argument and what was expected.

    Example:
        >>> from nas.problem import Problem, Float, Categorical
        >>> problem = Problem(
        ...     "breast_cancer",
        ...     load_data=load_data,  # a function returning a Dataset
        ...     space="spaces.dense_skip:dense_skip_space",
        ...     space_kwargs={"input_shape": [30], "output_units": 2, "num_layers": 5},
        ...     hyperparameters={"learning_rate": Float(1e-4, 1e-1, log=True),
        ...                      "optimizer": Categorical(["adam", "rmsprop"]), "epochs": 5},
        ...     loss="sparse_categorical_crossentropy",
        ...     metrics=["accuracy"],
        ...     objective="val_accuracy",
        ...     direction="max",
        ... )
        >>> problem.hyperparameters.default()["epochs"]
        5
    """

    def __init__(
        self,
        name: str,
        load_data: Callable[[], Dataset],
        space: SpaceFactory,
        *,
        space_kwargs: Mapping[str, Any] | None = None,
        hyperparameters: HyperparameterSpace | Mapping[str, Any] | None = None,
        loss: str | Callable[..., Any],
        metrics: Sequence[str | Callable[..., Any]] = (),
        objective: str = "val_loss",
        direction: str = "min",
        description: str = "",
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ProblemError(f"Problem name must be a non-empty str, got {name!r}")
        self.name = name
        self.description = description
        if not callable(load_data):
            raise ProblemError(f"Problem {name!r}: load_data must be callable, got {load_data!r}")
        self._load_data = load_data
        self.space = _checked_space(name, space)
        self.space_kwargs = MappingProxyType(_checked_space_kwargs(name, space_kwargs))
        if not isinstance(hyperparameters, HyperparameterSpace):
            hyperparameters = HyperparameterSpace(hyperparameters)
        self.hyperparameters = training_space(hyperparameters)
        self.loss = _checked_loss(name, loss)
        self.metrics = _checked_metrics(name, metrics)
        self.objective, self.direction = _checked_objective(
            name, objective, direction, self.metrics
        )
        #: The import string this problem was loaded by, set by :func:`load_problem`.
        self.reference: str | None = None
        self._dataset: Dataset | None = None
        self._search_space: SearchSpace | None = None

    def __repr__(self) -> str:
        return (
            f"Problem({self.name!r}, space={self.space!r}, objective={self.objective!r}, "
            f"direction={self.direction!r})"
        )

    def __getstate__(self) -> dict[str, Any]:
        # Workers rebuild the data and the space themselves rather than unpickle them.
        state = self.__dict__.copy()
        state.update(_dataset=None, _search_space=None, space_kwargs=dict(self.space_kwargs))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["space_kwargs"] = MappingProxyType(state["space_kwargs"])
        self.__dict__.update(state)

    def load_data(self) -> Dataset:
        """The problem's :class:`Dataset`, loaded on the first call and then cached.

        Raises:
            ProblemError: if ``load_data`` returns something other than a Dataset.
            Exception: whatever ``load_data`` itself raises, unchanged.
        """
        if self._dataset is None:
            dataset = self._load_data()
            if not isinstance(dataset, Dataset):
                raise ProblemError(
                    f"load_data of problem {self.name!r} returned {type(dataset).__name__}, "
                    "expected nas.problem.Dataset(train=(x, y), valid=(x, y))"
                )
            self._dataset = dataset
        return self._dataset

    def build_space(self) -> SearchSpace:
        """The problem's search space, made on the first call and then cached."""
        if self._search_space is None:
            from nas.space import SearchSpace, load_space

            if isinstance(self.space, str):
                space = load_space(self.space, **self.space_kwargs)
            else:
                space = self.space(**self.space_kwargs)
            if not isinstance(space, SearchSpace):
                raise ProblemError(
                    f"space factory {self.space!r} of problem {self.name!r} returned "
                    f"{type(space).__name__}, expected nas.space.SearchSpace"
                )
            self._search_space = space
        return self._search_space

    def is_better(self, value: float, than: float) -> bool:
        """Whether objective ``value`` beats ``than`` in this problem's direction."""
        return value > than if self.direction == "max" else value < than


def load_problem(reference: str) -> Problem:
    """Import a problem from ``"package.module:attribute"`` or ``"path/to/file.py:attribute"``.

    ``"package.module"`` or ``"file.py"`` alone means the attribute ``problem``.

    A module is imported from the import path; the commands of nas put their working
    folder first on it, as ``python -m`` does, and the worker processes they start
    inherit it. A file is imported as the module named after it, with its folder first
    on the import path, as ``python path/to/file.py`` would: the modules beside it import
    too, and worker processes started afterwards find it by name. The problem remembers
    the reference, a file by its absolute path (``problem.reference``), so that workers
    and MPI ranks load it themselves from any working folder.

    Example:
        >>> problem = load_problem("problems.digits:problem")
        >>> problem.objective
        'val_accuracy'
        >>> load_problem("~/wine/wine.py:problem").reference  # doctest: +SKIP
        '/home/me/wine/wine.py:problem'

    Raises:
        ProblemError: if the reference is malformed, the file is missing or cannot be
            imported under its name, the module does not import, lacks the attribute, or
            the attribute is not a :class:`Problem`.
    """
    target, attribute = _split_reference(reference)
    if target.endswith(".py"):
        path = Path(target).expanduser().resolve()
        module = _import_file(path, reference)
        target = str(path)
    else:
        module = _import_module(target, reference)
    if not hasattr(module, attribute):
        found = [key for key, value in vars(module).items() if isinstance(value, Problem)]
        raise ProblemError(
            f"module {module.__name__!r} has no attribute {attribute!r}"
            + (f"; its problems are {found!r}" if found else "")
        )
    problem = getattr(module, attribute)
    if not isinstance(problem, Problem):
        raise ProblemError(
            f"{target}:{attribute} is a {type(problem).__name__}, not a nas.problem.Problem"
        )
    problem.reference = f"{target}:{attribute}"
    return problem


def _split_reference(reference: Any) -> tuple[str, str]:
    """``(module or file, attribute)`` of a problem reference."""
    expected = "expected a problem as 'module:attribute' or 'path/to/file.py:attribute'"
    if not isinstance(reference, str) or not reference.strip(":"):
        raise ProblemError(f"{expected}, got {reference!r}")
    if reference.endswith(".py"):  # a file, whose path may hold a colon (C:/...)
        return reference, "problem"
    target, _, attribute = reference.rpartition(":") if ":" in reference else (reference, "", "")
    if not target or (":" in target and not target.endswith(".py")):
        raise ProblemError(f"{expected}, got {reference!r}")
    return target, attribute or "problem"


def _import_module(name: str, reference: str) -> ModuleType:
    # A problem module may import TensorFlow, whose import logs regardless of its level.
    with tensorflow_logs_filtered():
        try:
            return importlib.import_module(name)
        except ImportError as error:
            hint = ""
            if error.name == name:  # the module itself, not one it imports
                hint = (
                    f" (searched the import path, which starts with the working folder in "
                    f"the commands of nas; give a file as 'path/to/{name}.py:attribute' to "
                    "load it from anywhere)"
                )
            raise ProblemError(
                f"cannot import module {name!r} of problem {reference!r}: {error}{hint}"
            ) from error


def _import_file(path: Path, reference: str) -> ModuleType:
    """Import the file at ``path`` as the module named after it, from its folder."""
    if not path.is_file():
        raise ProblemError(f"problem {reference!r}: no file {path}")
    name = path.stem
    if not name.isidentifier():
        raise ProblemError(
            f"problem {reference!r}: {path.name} cannot be imported as a module; rename it "
            "to a Python name (letters, digits and underscores, not starting with a digit)"
        )
    loaded = sys.modules.get(name)
    if loaded is not None and _file_of(loaded) != path:
        raise ProblemError(
            f"problem {reference!r}: a module named {name!r} is already imported "
            f"(from {_file_of(loaded) or 'Python itself'}); rename {path.name}"
        )
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module = _import_module(name, reference)
    if _file_of(module) != path:  # a built-in module of that name comes first
        raise ProblemError(
            f"problem {reference!r}: importing {name!r} gives the module of "
            f"{_file_of(module) or 'Python itself'}, not {path}; rename {path.name}"
        )
    return module


def _file_of(module: ModuleType) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file).resolve() if file else None


def _checked_space(name: str, space: Any) -> SpaceFactory:
    if callable(space):
        return space
    if isinstance(space, str):
        module_name, colon, attribute = space.partition(":")
        if colon and module_name and attribute and ":" not in attribute:
            return space
    raise ProblemError(
        f"Problem {name!r}: space must be an import string 'module:function' or a "
        f"callable returning a SearchSpace, got {space!r}"
    )


def _checked_space_kwargs(name: str, space_kwargs: Any) -> dict[str, Any]:
    space_kwargs = {} if space_kwargs is None else space_kwargs
    if not isinstance(space_kwargs, Mapping) or not all(isinstance(k, str) for k in space_kwargs):
        raise ProblemError(
            f"Problem {name!r}: space_kwargs must be a dict of str keys, got {space_kwargs!r}"
        )
    try:
        # Saved architectures record these arguments, so they must survive JSON.
        json.dumps(dict(space_kwargs))
    except (TypeError, ValueError) as error:
        raise ProblemError(
            f"Problem {name!r}: space_kwargs must be JSON values (numbers, strings, lists, "
            f"dicts): {error}"
        ) from None
    return dict(space_kwargs)


def _checked_loss(name: str, loss: Any) -> str | Callable[..., Any]:
    if callable(loss) or (isinstance(loss, str) and loss in LOSSES):
        return loss
    raise ProblemError(
        f"Problem {name!r}: unknown loss {loss!r}: expected a callable or one of {sorted(LOSSES)}"
    )


def _checked_metrics(name: str, metrics: Any) -> tuple[str | Callable[..., Any], ...]:
    metrics = (metrics,) if isinstance(metrics, str) or callable(metrics) else metrics
    if not isinstance(metrics, Sequence):
        raise ProblemError(f"Problem {name!r}: metrics must be a list, got {metrics!r}")
    for metric in metrics:
        if not (callable(metric) or (isinstance(metric, str) and metric in METRICS)):
            raise ProblemError(
                f"Problem {name!r}: unknown metric {metric!r}: expected a callable or one "
                f"of {sorted(METRICS)}"
            )
    return tuple(metrics)


def _metric_name(metric: str | Callable[..., Any]) -> str:
    """The name Keras gives a metric in the training history."""
    if isinstance(metric, str):
        return metric
    return str(getattr(metric, "name", None) or getattr(metric, "__name__", metric))


def _checked_objective(
    name: str, objective: Any, direction: Any, metrics: Sequence[str | Callable[..., Any]]
) -> tuple[str, str]:
    if direction not in DIRECTIONS:
        raise ProblemError(f"Problem {name!r}: direction {direction!r} is neither 'max' nor 'min'")
    keys = ["val_loss"] + [f"val_{_metric_name(metric)}" for metric in metrics]
    if objective not in keys:
        raise ProblemError(
            f"Problem {name!r}: objective {objective!r} is not a validation entry of the "
            f"training history for metrics {[_metric_name(m) for m in metrics]!r}: "
            f"expected one of {keys!r}"
        )
    measured = objective.removeprefix("val_")
    if measured in MAXIMIZED_METRICS and direction != "max":
        raise ProblemError(f"Problem {name!r}: objective {objective!r} should be maximised")
    if measured in MINIMIZED_METRICS and direction != "min":
        raise ProblemError(f"Problem {name!r}: objective {objective!r} should be minimised")
    return objective, direction
