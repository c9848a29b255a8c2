"""A problem: data, a search space, hyperparameters and the objective to optimise."""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any, Union

from nas._imports import tensorflow_logs_filtered
from nas.exceptions import ProblemError
from nas.pareto import Constraint
from nas.problem._dataset import Dataset
from nas.problem._hyperparameter_space import HyperparameterSpace
from nas.problem._objectives import checked_constraints, checked_objectives, measured_names
from nas.problem._outputs import UNKNOWN, activation_for_loss, check_output
from nas.problem._preprocessing import PreprocessingFactory
from nas.problem._training_settings import (
    LOSSES,
    METRICS,
    TRAINING_HYPERPARAMETERS,
    extreme_values,
    training_space,
    user_names,
)

if TYPE_CHECKING:
    from nas.space import SearchSpace

SpaceFactory = Union[str, Callable[..., "SearchSpace"]]
ModelHook = Callable[[Any, dict[str, Any]], Any]
#: ``callbacks(trial_info) -> list of keras callbacks`` (a :class:`nas.trial.TrialInfo`).
CallbacksFactory = Callable[[Any], Sequence[Any]]
#: Architectures tried by :meth:`Problem.check` before concluding that none builds.
_CHECK_ARCHITECTURES = 10


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
            ``Int``/``Float``/``Categorical``/fixed value. The trainer's keys
            (``batch_size``, ``learning_rate``, ``optimizer``, ``epochs``, ``patience``,
            ... see :data:`TRAINING_HYPERPARAMETERS`) are checked against what it
            accepts; missing ones are fixed at the trainer's defaults (32, 1e-3,
            "adam", 10, 0, ...). Any other name is the problem's own (``dropout``,
            ``units``, ``weight_decay``): searched like the others, its value goes to
            the space factory as the keyword argument of that name, and to
            ``build_model``; a name that neither takes is refused.
        loss: a Keras loss name (e.g. ``"sparse_categorical_crossentropy"``) or callable,
            or for a space of several outputs a dict of output name -> loss (the data's
            ``y`` then a dict of arrays keyed by the same names).
            A space factory with an ``output_activation`` argument that ``space_kwargs``
            leaves out gets the activation the loss expects: linear (None) for
            regression losses (``"mse"``, ``"mae"``, ``"huber"``, ``"msle"``, ...),
            ``"softmax"`` for (sparse) categorical cross-entropy, ``"sigmoid"`` for
            binary cross-entropy. A softmax over one output unit, a regression loss on
            a softmax or sigmoid output, or a cross-entropy on a linear one is refused.
        metrics: Keras metric names or callables, recorded every epoch; or a dict of
            output name -> list of them.
        objective: what to optimise: the key of the Keras history measured on the
            validation data, ``"val_loss"`` or ``"val_<metric>"`` (with several outputs
            also ``"val_<output>_loss"`` and ``"val_<output>_<metric>"``); or several
            objectives, as a list of names or a dict of name -> direction, among them
            measured properties of the trained model: ``"num_parameters"``,
            ``"flops"``, ``"latency_ms"`` (one sample), ``"latency_ms@N"`` (a batch of
            N), ``"saved_size"`` (bytes), all minimised. Several objectives make the
            search find the Pareto front (see :mod:`nas.pareto`); at least one must be
            a history entry, and the first of those is what early stopping watches.
        direction: ``"max"`` or ``"min"`` (one for all names, or a list of one per
            name); None: inferred from the name (``max`` for accuracies, AUC and the
            like, ``min`` for losses, errors, measured properties and metrics of your
            own).
        constraints: bounds a model must meet, e.g. ``["num_parameters <= 1e6",
            "latency_ms <= 5"]``, on measured properties or history entries: a trial
            that breaks one is recorded as infeasible with the constraint it broke,
            and never ranks above a feasible one.
        description: one or two sentences for reports.
        build_model: optional ``build_model(model, hyperparameters) -> model``, called
            with each model the space builds, before the trainer compiles it, and the
            configuration's hyperparameters (the problem's own among them): return
            the model to train (the same one changed, or a new one on its inputs).
        callbacks: optional ``callbacks(trial_info) -> list of keras.callbacks.Callback``,
            called in the worker for each evaluation of a search with a
            :class:`nas.trial.TrialInfo` (the trial id, ``arch_seq``,
            ``hyperparameters``, the search's output folder, the rank in a group of
            ranks): the callbacks it returns train with the model, after the trainer's
            own. Made in the worker, they need not be picklable; on a group of ranks
            every rank calls it, as ``nas.train.train(callbacks=)`` does.
        preprocessing: optional ``preprocessing(dataset) -> keras layer or dict of input
            name -> keras layer``: layers put between each model's ``Input`` and the
            space's graph, so that trained and exported models take raw rows (and
            ``load_data`` returns them raw). Called once per process with the
            problem's :class:`Dataset`; fit what it fits on ``dataset.train`` only, the
            same way in every process. :func:`nas.problem.normalize` standardises
            every numeric input. A layer must keep its input's shape.

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
        objective: str | Sequence[str] | Mapping[str, str] = "val_loss",
        direction: str | Sequence[str] | None = None,
        constraints: Sequence[str | Constraint] = (),
        description: str = "",
        build_model: ModelHook | None = None,
        callbacks: CallbacksFactory | None = None,
        preprocessing: PreprocessingFactory | None = None,
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
        history = _history_keys(self.loss, self.metrics)
        #: Every objective, in the order given.
        self.objectives = checked_objectives(name, objective, direction, history)
        trained = next(item for item in self.objectives if not item.measured)
        #: The first objective from the training history, and its direction: what early
        #: stopping watches, and all there is to rank by with one objective.
        self.objective, self.direction = trained.name, trained.direction
        self.constraints = checked_constraints(name, constraints, history)
        #: The validation entries of the training history -> what each measures.
        self.history = MappingProxyType(history)
        #: The measured properties of a model its objectives and constraints name.
        self.measures = measured_names(self.objectives, self.constraints)
        if build_model is not None and not callable(build_model):
            raise ProblemError(
                f"Problem {name!r}: build_model must be a function (model, hyperparameters) "
                f"-> model, got {build_model!r}"
            )
        self.build_model = build_model
        if callbacks is not None and not callable(callbacks):
            raise ProblemError(
                f"Problem {name!r}: callbacks must be a function (trial_info) -> list of "
                f"keras callbacks, got {callbacks!r}"
            )
        self.callbacks = callbacks
        if preprocessing is not None and not callable(preprocessing):
            raise ProblemError(
                f"Problem {name!r}: preprocessing must be a function (dataset) -> keras layer "
                f"or dict of input name -> keras layer, got {preprocessing!r}"
            )
        self.preprocessing = preprocessing
        parameters = _factory_parameters(self.space)
        #: Arguments the problem adds to the factory's: the output activation that
        #: follows the loss, when the factory takes one and space_kwargs leave it out.
        self.space_defaults = MappingProxyType(
            _followed_activation(parameters, self.space_kwargs, self.loss)
        )
        _check_output_arguments(self, parameters)
        #: The problem's own hyperparameters that go to the space factory.
        self.space_hyperparameters: tuple[str, ...] = _checked_user_hyperparameters(
            self, parameters
        )
        #: The import string this problem was loaded by, set by :func:`load_problem`.
        self.reference: str | None = None
        self._dataset: Dataset | None = None
        self._search_space: SearchSpace | None = None
        self._spaces: dict[str, SearchSpace] = {}  # by the values of space_hyperparameters
        self._preprocessing_layers: dict[str, Any] | None = None  # the factory's, checked

    def __repr__(self) -> str:
        return (
            f"Problem({self.name!r}, space={self.space!r}, objective={self.objective!r}, "
            f"direction={self.direction!r})"
        )

    def __getstate__(self) -> dict[str, Any]:
        # Workers rebuild the data and the space themselves rather than unpickle them.
        state = self.__dict__.copy()
        state.update(
            _dataset=None,
            _search_space=None,
            _spaces={},
            _preprocessing_layers=None,
            space_kwargs=dict(self.space_kwargs),
            space_defaults=dict(self.space_defaults),
            history=dict(self.history),
        )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["space_kwargs"] = MappingProxyType(state["space_kwargs"])
        state["space_defaults"] = MappingProxyType(state.get("space_defaults", {}))
        state["history"] = MappingProxyType(state.get("history", {}))
        state.setdefault("_spaces", {})
        state.setdefault("space_hyperparameters", ())
        state.setdefault("build_model", None)
        state.setdefault("callbacks", None)
        state.setdefault("preprocessing", None)
        state.setdefault("_preprocessing_layers", None)
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

    def build_space(self, hyperparameters: Mapping[str, Any] | None = None) -> SearchSpace:
        """The problem's search space, made on the first call and then cached.

        Args:
            hyperparameters: a configuration whose values of the problem's own
                hyperparameters go to the space factory (missing ones take their
                defaults); None: the defaults. Searches see the space of the defaults:
                another value may change the layers (their widths, dropout rates), not
                the decisions, which is checked here.

        Raises:
            ProblemError: if the factory returns something else than a SearchSpace, or
                a hyperparameter's value changes the space's decisions.
        """
        values = self._space_values(hyperparameters)
        key = json.dumps(values, sort_keys=True)
        default_key = json.dumps(self._space_values(None), sort_keys=True)
        if key == default_key:
            if self._search_space is None:
                self._search_space = self._make_space(values)
            return self._search_space
        if key not in self._spaces:
            space = self._make_space(values)
            choices, expected = space.choices, self.build_space().choices
            if choices != expected:
                raise ProblemError(
                    f"Problem {self.name!r}: hyperparameters {values} change the decisions of "
                    f"the space (choices {choices}, {expected} with the defaults): a "
                    "hyperparameter may change layers, not the number of decisions or of "
                    "their candidates"
                )
            self._spaces[key] = space
        return self._spaces[key]

    def _space_values(self, hyperparameters: Mapping[str, Any] | None) -> dict[str, Any]:
        if not self.space_hyperparameters:
            return {}
        given = hyperparameters or {}
        names = self.space_hyperparameters
        config = self.hyperparameters.validate({n: given[n] for n in names if n in given})
        return {name: config[name] for name in names}

    def _make_space(self, values: Mapping[str, Any]) -> SearchSpace:
        from nas.space import SearchSpace, load_space

        kwargs = {**self.space_defaults, **self.space_kwargs, **values}
        if isinstance(self.space, str):
            space = load_space(self.space, **kwargs)
        else:
            space = self.space(**kwargs)
        if not isinstance(space, SearchSpace):
            raise ProblemError(
                f"space factory {self.space!r} of problem {self.name!r} returned "
                f"{type(space).__name__}, expected nas.space.SearchSpace"
            )
        return space

    def preprocessing_layers(self) -> dict[str, Any]:
        """Fresh preprocessing layers for one model: input name -> Keras layer.

        The ``preprocessing`` factory runs on the first call (on :meth:`load_data`'s
        dataset) and its layers are kept for the life of the process; each call
        returns new copies of them (configuration and weights), named
        ``<input>_preprocessing``, for :meth:`nas.space.SearchSpace.build`. Empty when
        the problem has no preprocessing.

        Raises:
            ProblemError: if the factory returns something else than a Keras layer or a
                dict of input name -> Keras layer, or a layer changes its input's shape.
            Exception: whatever the factory itself raises.
        """
        from nas.problem._preprocessing import fresh_layer, preprocessing_name

        if self.preprocessing is None:
            return {}
        if self._preprocessing_layers is None:
            self._preprocessing_layers = self._made_preprocessing(self.preprocessing)
        return {
            name: fresh_layer(layer, preprocessing_name(name))
            for name, layer in self._preprocessing_layers.items()
        }

    def _made_preprocessing(self, factory: PreprocessingFactory) -> dict[str, Any]:
        """The factory's layers, checked: layers of the space's inputs, keeping shapes."""
        from nas._imports import import_keras
        from nas.problem._preprocessing import checked_layers, fresh_layer

        dataset = self.load_data()
        space = self.build_space()
        layers = checked_layers(self.name, factory(dataset), space.input_names)
        keras = import_keras()
        for name, layer in layers.items():
            shape = tuple(space.input(name).shape)
            try:
                output = fresh_layer(layer, "probe")(keras.Input(shape=shape))
            except Exception as error:
                raise ProblemError(
                    f"Problem {self.name!r}: preprocessing layer {type(layer).__name__} of "
                    f"input {name!r} cannot take samples of shape {shape}: "
                    f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"
                ) from error
            found = tuple(getattr(output, "shape", ()))[1:]
            if found != shape:
                raise ProblemError(
                    f"Problem {self.name!r}: preprocessing layer {type(layer).__name__} of "
                    f"input {name!r} turns samples of shape {shape} into {found}: a "
                    "preprocessing layer must keep the input's shape"
                )
        return layers

    def check(self, hyperparameters: Mapping[str, Any] | None = None) -> None:
        """Load the data, build the space and a model, and check that they fit.

        Each of the space's inputs must have the data's name and shape of one sample;
        each output must fit the loss (its activation) and the targets (one column per
        unit, or class indices below the number of units for a sparse loss). Searches
        check this before the first evaluation; call it after defining a problem to
        see a mismatch at once.

        Raises:
            ProblemError: one line naming the input or output and both shapes, or the
                output, its activation, units and the loss.
            Exception: whatever ``load_data`` raises.
        """
        from nas.problem._outputs import check_inputs, check_outputs

        dataset = self.load_data()
        space = self.build_space(hyperparameters)
        try:
            check_inputs(dataset, space)
        except ProblemError as error:
            raise ProblemError(f"Problem {self.name!r}: {error}") from None
        import numpy as np

        self.preprocessing_layers()  # a factory that returns the wrong thing says so here
        rng = np.random.default_rng(0)
        first_error: Exception | None = None
        for _ in range(_CHECK_ARCHITECTURES):
            try:
                model = space.build(space.sample(rng), self.preprocessing_layers())
            except Exception as error:  # some architectures of a space may not build
                first_error = first_error or error
                continue
            try:
                check_outputs(dataset, model, self.loss)
            except ProblemError as error:
                raise ProblemError(f"Problem {self.name!r}: {error}") from None
            return
        raise ProblemError(
            f"Problem {self.name!r}: none of {_CHECK_ARCHITECTURES} random architectures of "
            f"its space builds; the first error: {type(first_error).__name__}: {first_error}"
        ) from first_error

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


def _checked_loss(name: str, loss: Any) -> Any:
    if isinstance(loss, Mapping):
        if not loss or not all(isinstance(key, str) and key for key in loss):
            raise ProblemError(
                f"Problem {name!r}: a loss per output must be a non-empty dict of output "
                f"name -> loss, got {loss!r}"
            )
        return {key: _checked_loss(name, value) for key, value in loss.items()}
    if callable(loss) or (isinstance(loss, str) and loss in LOSSES):
        return loss
    raise ProblemError(
        f"Problem {name!r}: unknown loss {loss!r}: expected a callable or one of {sorted(LOSSES)}"
    )


def _checked_metrics(name: str, metrics: Any) -> Any:
    if isinstance(metrics, Mapping):
        if not all(isinstance(key, str) and key for key in metrics):
            raise ProblemError(
                f"Problem {name!r}: metrics per output must be a dict of output name -> "
                f"list, got {metrics!r}"
            )
        return {key: _checked_metrics(name, value) for key, value in metrics.items()}
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


def _history_keys(loss: Any, metrics: Any) -> dict[str, str]:
    """The validation entries of the Keras history -> what each measures (``loss`` or a
    metric name): per output ``val_<output>_loss`` and ``val_<output>_<metric>``."""
    keys = {"val_loss": "loss"}
    if isinstance(loss, Mapping):
        keys.update({f"val_{output}_loss": "loss" for output in loss})
    if isinstance(metrics, Mapping):
        for output, listed in metrics.items():
            keys.update({f"val_{output}_{_metric_name(m)}": _metric_name(m) for m in listed})
    else:
        keys.update({f"val_{_metric_name(m)}": _metric_name(m) for m in metrics})
    return keys


class _Parameters:
    """The keyword arguments a space factory takes, from its signature."""

    def __init__(self, signature: inspect.Signature) -> None:
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        self.named = {
            name: parameter
            for name, parameter in signature.parameters.items()
            if parameter.kind in kinds
        }
        self.any_keyword = any(
            parameter.kind is inspect.Parameter.VAR_KEYWORD
            for parameter in signature.parameters.values()
        )

    def takes(self, name: str) -> bool:
        return name in self.named or self.any_keyword

    def default(self, name: str) -> Any:
        parameter = self.named.get(name)
        if parameter is None or parameter.default is inspect.Parameter.empty:
            return UNKNOWN
        return parameter.default


def _factory_parameters(space: SpaceFactory) -> _Parameters | None:
    """The factory's parameters; None when it cannot be imported or inspected (a
    factory that does not import fails when the space is built, as it always did)."""
    function: Any = space
    if isinstance(space, str):
        module_name, _, attribute = space.partition(":")
        try:
            with tensorflow_logs_filtered():
                function = getattr(importlib.import_module(module_name), attribute)
        except Exception:
            return None
    try:
        return _Parameters(inspect.signature(function))
    except (TypeError, ValueError):
        return None


def _followed_activation(
    parameters: _Parameters | None, space_kwargs: Mapping[str, Any], loss: Any
) -> dict[str, Any]:
    """``{"output_activation": ...}`` following the loss, when the factory names that
    argument, ``space_kwargs`` leave it out and the loss tells which."""
    if parameters is None or "output_activation" not in parameters.named:
        return {}
    if "output_activation" in space_kwargs or isinstance(loss, Mapping):
        return {}
    activation = activation_for_loss(loss)
    return {} if activation is UNKNOWN else {"output_activation": activation}


def _check_output_arguments(problem: Problem, parameters: _Parameters | None) -> None:
    """Refuse, from the factory's arguments, an output activation that cannot fit."""
    if parameters is None or "output_activation" not in parameters.named:
        return
    if isinstance(problem.loss, Mapping):
        return  # a loss per output: checked on the built model (check_outputs)
    kwargs = {**problem.space_defaults, **problem.space_kwargs}
    activation = kwargs.get("output_activation", parameters.default("output_activation"))
    units = kwargs.get("output_units", parameters.default("output_units"))
    units = units if isinstance(units, int) and not isinstance(units, bool) else None
    try:
        check_output(f"of space {_factory_name(problem.space)}", activation, units, problem.loss)
    except ProblemError as error:
        raise ProblemError(f"Problem {problem.name!r}: {error}") from None


def _factory_name(space: SpaceFactory) -> str:
    if isinstance(space, str):
        return space
    return str(getattr(space, "__qualname__", None) or getattr(space, "__name__", space))


def _checked_user_hyperparameters(
    problem: Problem, parameters: _Parameters | None
) -> tuple[str, ...]:
    """The problem's own hyperparameters that the factory takes, after checking that
    each goes somewhere: to the factory or to ``build_model``."""
    names = user_names(problem.hyperparameters)
    for name in names:
        if name in problem.space_kwargs:
            raise ProblemError(
                f"Problem {problem.name!r}: {name!r} is both a hyperparameter and in "
                "space_kwargs: give it in one place (a hyperparameter to search it, "
                "space_kwargs to fix it)"
            )
        for value in extreme_values(problem.hyperparameters[name]):
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                raise ProblemError(
                    f"Problem {problem.name!r}: hyperparameter {name!r} = {value!r}: "
                    "expected a JSON value (a number, a string, a bool or None)"
                ) from None
    if parameters is None:
        # Not known before the space is built: all go to the factory, which refuses
        # the names it does not take with a TypeError when the space is built.
        return tuple(names)
    unused = [name for name in names if not parameters.takes(name)]
    if unused and problem.build_model is None:
        name = unused[0]
        close = difflib.get_close_matches(name, list(TRAINING_HYPERPARAMETERS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        taken = sorted(parameters.named)
        raise ProblemError(
            f"Problem {problem.name!r}: unknown hyperparameter {name!r}{hint}: the trainer "
            f"understands {', '.join(TRAINING_HYPERPARAMETERS)}; the space factory "
            f"{_factory_name(problem.space)} takes {', '.join(taken)}; and the problem has "
            "no build_model to read it"
        )
    return tuple(name for name in names if parameters.takes(name))
