"""Operations: what a node of a search space does to its inputs.

An operation is a plain description (no Keras import until a model is built). At build
time :meth:`Operation.realize` turns it into a callable on Keras tensors; a
:class:`~nas.space.MirrorNode` calls the *same* realization again, which is how weights
are shared.

``None`` stands for "no tensor" (a dead path): ``Zero`` produces it, layers and merges
skip it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from nas._imports import import_keras
from nas.exceptions import SpaceError

Tensor = Any
Realized = Callable[[Sequence[Tensor]], Tensor]


class Operation:
    """Base class of the operations a node can hold."""

    #: Short human-readable text, used in drawings and error messages.
    label: str = ""

    #: Whether the operation can only take one input tensor. Such a node is refused a
    #: second input when the space is defined, instead of failing later, only for the
    #: architectures where both inputs are live.
    takes_one_input: bool = False

    def signature(self) -> str:
        """A deterministic text that identifies the operation (used for hashing)."""
        return self.label

    def realize(self, name: str) -> Realized:
        """Return a fresh callable on a list of live Keras tensors (weights are new)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.label


class Identity(Operation):
    """Pass the single input through unchanged."""

    label = "Identity"
    takes_one_input = True

    def realize(self, name: str) -> Realized:
        return lambda inputs: inputs[0]


class Zero(Operation):
    """Produce nothing: the node is switched off (no edge for a skip connection)."""

    label = "Zero"

    def realize(self, name: str) -> Realized:
        return lambda inputs: None


class Connect(Operation):
    """Forward the output of an earlier node: one candidate of a skip connection.

    A node whose candidates are ``Zero()`` and ``Connect(anchor)`` decides whether the
    anchor's output reaches the node it feeds (usually a merge). Such a node has no
    graph inputs of its own: its source is the anchor.
    """

    def __init__(self, source: Any) -> None:
        from nas.space._nodes import Node

        if not isinstance(source, Node):
            raise SpaceError(f"Connect expects a node of the space, got {source!r}")
        self.source = source

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"Connect({self.source.name})"

    def realize(self, name: str) -> Realized:
        return lambda inputs: inputs[0]


class Layer(Operation):
    """A Keras layer, made fresh for every model built.

    Args:
        layer: a Keras layer class, its name in ``keras.layers`` (``"Dense"``), a layer
            instance (used as a template through its config), or a zero-argument
            factory returning a layer (a lambda, a ``functools.partial``, a function).
        **kwargs: arguments of the layer class (only with a class or a class name).

    The layer is instantiated once at construction, so a misspelt class or argument
    is reported when the space is defined, not when a worker builds the model.

    :meth:`signature` (what ``arch_hash`` hashes) identifies the layer that is built:
    a class or class name by the class and the arguments given; an instance, and a
    factory, by the class and the configuration (``get_config()``, less the name) of
    the layer it makes. So ``Layer(lambda: Dense(4))`` and ``Layer(lambda: Dense(64))``
    differ, and ``Layer(lambda: Dense(4))``, ``Layer(partial(Dense, units=4))`` and
    ``Layer(Dense(4))`` are the same. (``Layer("Dense", units=4)`` builds that layer
    too but is identified by its arguments, which a Keras upgrade cannot change,
    where a full configuration gains the options a new Keras adds.) A custom layer
    without ``get_config`` made by a factory is identified by its class and the
    factory's qualified name.

    Example:
        >>> Layer("Dense", units=16, activation="relu").label
        'Dense(16, relu)'
    """

    def __init__(self, layer: Any, /, **kwargs: Any) -> None:
        keras = import_keras()
        self._factory: Callable[[str], Any]
        factory = None  # the user's factory, when given one
        if isinstance(layer, str):
            cls = getattr(keras.layers, layer, None)
            if not (inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)):
                raise SpaceError(f"unknown Keras layer {layer!r}: expected a name in keras.layers")
            layer = cls
        if inspect.isclass(layer) and issubclass(layer, keras.layers.Layer):
            self._factory = functools.partial(_from_class, layer, kwargs)
            self._description = (layer.__name__, dict(kwargs))
        elif isinstance(layer, keras.layers.Layer):
            if kwargs:
                raise SpaceError(f"Layer got a layer instance {layer!r} and extra arguments")
            config = {k: v for k, v in layer.get_config().items() if k != "name"}
            self._factory = functools.partial(_from_config, type(layer), config)
            self._description = (type(layer).__name__, config)
        elif callable(layer):
            if kwargs:
                raise SpaceError(f"Layer got a factory {layer!r} and extra arguments")
            factory = layer
            self._factory = functools.partial(_from_factory, layer)
            # Until the probe below tells what the factory builds, for its error message.
            self._description = (_qualified_name(layer), {})
        else:
            raise SpaceError(
                f"an operation must be a Keras layer, a layer class or a factory of one, "
                f"got {layer!r}"
            )
        try:
            probe = self._factory("probe")
        except Exception as error:
            raise SpaceError(f"cannot create layer {self.signature()}: {error}") from error
        if not isinstance(probe, keras.layers.Layer):
            raise SpaceError(f"factory {layer!r} returned {probe!r}, expected a Keras layer")
        if factory is not None:
            # A factory is known by what it builds: its name says nothing of the layer
            # (every lambda is ``<lambda>``), so two factories of the same layer share a
            # signature and factories of different layers never do.
            self._description = _built_description(probe, factory)
        # Keras refuses a list of tensors in a layer whose input_spec names one input
        # (Dense, Conv2D, LSTM, ...); the others (Activation, merges, custom layers) are
        # left to build time, where Keras decides and _build names the node and shapes.
        spec = probe.input_spec
        self.takes_one_input = isinstance(spec, keras.InputSpec) or (
            isinstance(spec, (list, tuple)) and len(spec) == 1
        )

    @property
    def label(self) -> str:  # type: ignore[override]
        name, config = self._description
        shown = [str(config[key]) for key in _LABEL_KEYS if config.get(key) is not None]
        return f"{name}({', '.join(shown)})"

    def signature(self) -> str:
        name, config = self._description
        return f"{name}({', '.join(f'{k}={config[k]!r}' for k in sorted(config))})"

    def realize(self, name: str) -> Realized:
        layer = self._factory(name)
        return lambda inputs: layer(inputs[0] if len(inputs) == 1 else list(inputs))


# Arguments shown in short labels, in this order (the full config goes into signature()).
_LABEL_KEYS = ("units", "filters", "kernel_size", "pool_size", "strides", "rate", "activation")


def _from_class(cls: type, kwargs: dict[str, Any], name: str) -> Any:
    return cls(**{"name": name, **kwargs})


def _from_config(cls: Any, config: dict[str, Any], name: str) -> Any:
    return cls.from_config({**config, "name": name})


def _from_factory(factory: Callable[[], Any], name: str) -> Any:
    return factory()


def _built_description(layer: Any, factory: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """A factory's layer as its class name and configuration (less the name)."""
    try:
        config = layer.get_config()
    except NotImplementedError:
        # Keras could not record this custom layer's arguments: the factory's name is
        # all that is left to tell its layers apart.
        return f"{type(layer).__name__}[{_qualified_name(factory)}]", {}
    return type(layer).__name__, {k: v for k, v in config.items() if k != "name"}


def _qualified_name(factory: Callable[..., Any]) -> str:
    if isinstance(factory, functools.partial):
        arguments = [repr(a) for a in factory.args]
        arguments += [f"{k}={v!r}" for k, v in sorted(factory.keywords.items())]
        return f"{_qualified_name(factory.func)}({', '.join(arguments)})"
    module = getattr(factory, "__module__", "")
    return f"{module}.{getattr(factory, '__qualname__', repr(factory))}"


def as_operation(candidate: Any) -> Operation:
    """Accept an :class:`Operation`, a Keras layer (instance or class) or a factory."""
    if isinstance(candidate, Operation):
        return candidate
    return Layer(candidate)
