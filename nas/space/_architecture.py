"""Architectures saved as JSON: a reference to the space's factory plus an arch_seq.

A space is Python code, so it is not serialised itself: the JSON names the factory
(``"module:attr"``) and its keyword arguments, and loading calls the factory again. The
architecture hash is stored too, so that a factory which changed since is detected
instead of silently building another model.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nas.exceptions import SpaceError
from nas.space._search_space import SearchSpace


@dataclass(frozen=True)
class SpaceReference:
    """How to make a space again: an import string and the factory's keyword arguments."""

    factory: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def load(self) -> SearchSpace:
        """Call the factory and return the space it makes."""
        return load_space(self.factory, **self.kwargs)


def import_object(reference: str) -> Any:
    """Import ``"package.module:attribute"``, with a clear error when that fails."""
    if not isinstance(reference, str) or reference.count(":") != 1:
        raise ValueError(f"expected an import string 'module:attribute', got {reference!r}")
    module_name, attribute = reference.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(
            f"cannot import module {module_name!r} for {reference!r}: {error}"
        ) from error
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {attribute!r}") from None


def load_space(factory: str, **kwargs: Any) -> SearchSpace:
    """Make a space by calling the factory ``"module:function"`` with ``kwargs``.

    The space remembers the reference, so its architectures can be saved as JSON.

    Example:
        >>> space = load_space("spaces.dense_skip:dense_skip_space", input_shape=(30,),
        ...                    output_units=2, num_layers=3)
    """
    function = import_object(factory)
    if not callable(function):
        raise SpaceError(f"space factory {factory!r} is not callable: {function!r}")
    space = function(**kwargs)
    if not isinstance(space, SearchSpace):
        raise SpaceError(f"space factory {factory!r} returned {space!r}, not a SearchSpace")
    space.reference = SpaceReference(factory, _jsonable(kwargs))
    return space


@dataclass(frozen=True)
class Architecture:
    """One architecture of a space, JSON-able, that rebuilds the same model structure.

    Example:
        >>> arch = space.architecture([0, 2, 1])
        >>> text = arch.to_json()
        >>> model = Architecture.from_json(text).build()
    """

    space: SpaceReference
    arch_seq: tuple[int, ...]
    arch_hash: str

    @classmethod
    def of(cls, space: SearchSpace, arch_seq: Sequence[int]) -> Architecture:
        """The architecture ``arch_seq`` of ``space`` (made by :func:`load_space`)."""
        if space.reference is None:
            raise SpaceError(
                f"space {space.name!r} was not made by nas.space.load_space('module:factory', "
                "...), so there is no factory to record; make it with load_space to save it"
            )
        arch_seq = space.validate_arch(arch_seq)
        return cls(space.reference, tuple(arch_seq), space.arch_hash(arch_seq))

    def to_json(self) -> str:
        """The architecture as a JSON document."""
        return json.dumps(
            {
                "space": {"factory": self.space.factory, "kwargs": dict(self.space.kwargs)},
                "arch_seq": list(self.arch_seq),
                "arch_hash": self.arch_hash,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        """Read an architecture written by :meth:`to_json`."""
        try:
            data = json.loads(text)
            reference = SpaceReference(data["space"]["factory"], data["space"].get("kwargs", {}))
            return cls(reference, tuple(data["arch_seq"]), data["arch_hash"])
        except (ValueError, KeyError, TypeError) as error:
            raise SpaceError(f"not an architecture JSON document: {error!r}") from error

    def load_space(self) -> SearchSpace:
        """Make the space again, checking that it still gives the recorded model."""
        space = self.space.load()
        found = space.arch_hash(self.arch_seq)
        if found != self.arch_hash:
            raise SpaceError(
                f"space {self.space.factory} now builds another model for arch_seq "
                f"{list(self.arch_seq)} (hash {found}, recorded {self.arch_hash}): the factory "
                "or its arguments changed since the architecture was saved"
            )
        return space

    def build(self, preprocessing: Mapping[str, Any] | None = None) -> Any:
        """A fresh ``keras.Model`` of this architecture.

        Args:
            preprocessing: input name -> Keras layer between that input and the graph,
                as :meth:`SearchSpace.build` takes it: give a problem's
                ``problem.preprocessing_layers()`` to build the model its search
                trained, taking raw inputs.
        """
        return self.load_space().build(self.arch_seq, preprocessing)


def _jsonable(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments as JSON would return them (tuples become lists)."""
    try:
        return dict(json.loads(json.dumps(kwargs)))
    except TypeError as error:
        raise SpaceError(
            f"space factory arguments must be JSON values to be recorded, got {kwargs!r}"
        ) from error
