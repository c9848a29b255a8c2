"""Names for the objects the command line and settings files refer to.

Each package declares its own registry (:data:`nas.search.SEARCHES`,
:data:`nas.schedule.SCHEDULERS`, :data:`nas.evaluate.EVALUATORS`); names are resolved
only at the edge (the command line, ``run_search``, ``settings.json`` on resume), so
that the rest of the library passes objects. A name not registered may be an import
string ``"package.module:attribute"``, which is how a user's own class is recorded.

Example:
    >>> from nas.search import SEARCHES
    >>> SEARCHES.get("regevo")
    <class 'nas.search._regularized_evolution.RegularizedEvolution'>
    >>> SEARCHES.register("my_search", "my_package.searches:MySearch")
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Objects of one kind (a class or a factory) by name.

    Entries may be given as import strings (``"module:attribute"``), imported on first
    use, so that naming one never imports the others (schedulers pull in scikit-learn,
    evaluators MPI).

    Args:
        kind: what the entries are, for messages (``"search"``).
        entries: name -> object or import string.
    """

    def __init__(self, kind: str, entries: Mapping[str, T | str]) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = dict(entries)

    def register(self, name: str, entry: T | str) -> None:
        """Add ``entry`` under ``name`` (a name already taken is refused)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty str, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry

    def get(self, name: str, default: Any = None) -> T:  # type: ignore[override]
        """The entry ``name``, or the object an import string ``"module:attr"`` names.

        Raises:
            ValueError: for a name that is neither registered nor importable, listing
                the registered names.
        """
        if name in self._entries:
            entry = self._entries[name]
            if isinstance(entry, str):
                entry = self._entries[name] = _imported(entry, self.kind)
            return entry  # type: ignore[return-value]
        if isinstance(name, str) and ":" in name:
            return _imported(name, self.kind)
        raise ValueError(f"unknown {self.kind} {name!r}; expected one of {sorted(self)}")

    def name_of(self, entry: Any) -> str:
        """The name ``entry`` (a registered object, or an instance of a registered class)
        is known by; an unregistered one gets its import string ``"module:QualName"``."""
        kind = entry if callable(entry) and isinstance(entry, type) else type(entry)
        for name, registered in self._entries.items():
            if registered is entry or registered is kind:
                return name
            if isinstance(registered, str) and registered == _import_string(kind):
                return name
        return _import_string(kind)

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:
            raise KeyError(name)
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {sorted(self)})"


def _import_string(entry: Any) -> str:
    return f"{entry.__module__}:{entry.__qualname__}"


def _imported(reference: str, kind: str) -> Any:
    module_name, _, attribute = reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot import {kind} {reference!r}: {error}") from error
    return target


class RecordsArguments:
    """A base class whose instances remember the arguments they were made with.

    A search or scheduler given to a study as an object is recorded in
    ``settings.json`` as its name and these arguments, so that a resume, from Python or
    from the command line, makes the same object again and can name any difference.
    Subclasses need do nothing (as scikit-learn's ``get_params``, but read from the
    call itself rather than from attributes of the same names).
    """

    _arguments: dict[str, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = super().__new__(cls)
        signature = inspect.signature(cls.__init__)
        # bind_partial: copy and pickle call __new__ without the constructor's arguments.
        bound = signature.bind_partial(instance, *args, **kwargs)
        arguments: dict[str, Any] = {}
        for index, (name, value) in enumerate(bound.arguments.items()):
            if index == 0:
                continue  # self
            if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
                arguments.update(value)
            else:
                arguments[name] = value
        instance._arguments = arguments
        return instance

    def arguments(self, *, without: tuple[str, ...] = ()) -> dict[str, Any]:
        """The arguments this object was made with, as JSON values, less ``without``.

        Raises:
            ValueError: naming an argument whose value JSON cannot hold (it could not
                be recorded for resume).
        """
        recorded = {}
        for name, value in self._arguments.items():
            if name in without:
                continue
            try:
                recorded[name] = json.loads(json.dumps(value))
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"{type(self).__name__} argument {name}={value!r} cannot be recorded "
                    f"for resume: give a JSON value (number, str, list, dict) ({error})"
                ) from None
        return recorded
