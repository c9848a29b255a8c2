"""Outputs that fit the loss, and a space that fits the data.

A softmax over one unit predicts 1.0 whatever the input, and a regression loss on a
softmax or sigmoid output cannot reach targets outside (0, 1): both train "ok" with a
flat validation error. A space whose input or output shapes differ from the data's
fails only inside Keras, in a message about tensors. This module catches both with one
line naming the input or output, what it has and what was expected.

Nothing here imports Keras at module level: the activation checks run when a problem is
defined, from the space factory's arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from nas.exceptions import ProblemError
from nas.problem._dataset import sample_parts
from nas.problem._streams import Stream
from nas.problem._training_settings import LOSSES

if TYPE_CHECKING:
    from nas.problem._dataset import Dataset
    from nas.space import SearchSpace

Loss = Union[str, Callable[..., Any]]

#: Losses of real-valued targets: the output is linear (``None`` in Keras).
REGRESSION_LOSSES: frozenset[str] = frozenset(
    {
        "huber",
        "log_cosh",
        "mae",
        "mape",
        "mean_absolute_error",
        "mean_absolute_percentage_error",
        "mean_squared_error",
        "mean_squared_logarithmic_error",
        "mse",
        "msle",
    }
)
#: Losses of class probabilities over several units: softmax.
SOFTMAX_LOSSES: frozenset[str] = frozenset(
    {
        "categorical_crossentropy",
        "categorical_focal_crossentropy",
        "kl_divergence",
        "sparse_categorical_crossentropy",
    }
)
#: Losses of independent probabilities per unit: sigmoid.
SIGMOID_LOSSES: frozenset[str] = frozenset({"binary_crossentropy", "binary_focal_crossentropy"})
#: Losses of scores (hinge losses, cosine similarity): linear.
SCORE_LOSSES: frozenset[str] = frozenset(
    {"categorical_hinge", "cosine_similarity", "hinge", "squared_hinge"}
)
#: Losses whose targets are class indices (one column), not one value per output unit.
SPARSE_LOSSES: frozenset[str] = frozenset({"sparse_categorical_crossentropy"})

#: Activations whose values lie in (0, 1): no regression target outside can be reached.
_BOUNDED = frozenset({"softmax", "sigmoid"})

#: What :func:`activation_for_loss` returns when the loss tells nothing.
UNKNOWN = "<unknown>"

# Keras's long names of its loss functions and classes, and the short ones of the table.
_ALIASES = {
    "meansquarederror": "mse",
    "meanabsoluteerror": "mae",
    "meansquaredlogarithmicerror": "msle",
    "meanabsolutepercentageerror": "mape",
    "logcosh": "log_cosh",
    "kldivergence": "kl_divergence",
    "binarycrossentropy": "binary_crossentropy",
    "binaryfocalcrossentropy": "binary_focal_crossentropy",
    "categoricalcrossentropy": "categorical_crossentropy",
    "categoricalfocalcrossentropy": "categorical_focal_crossentropy",
    "sparsecategoricalcrossentropy": "sparse_categorical_crossentropy",
    "categoricalhinge": "categorical_hinge",
    "cosinesimilarity": "cosine_similarity",
    "squaredhinge": "squared_hinge",
}


def loss_name(loss: Loss) -> str | None:
    """The loss's name in the tables above: a string itself, a Keras loss function or
    object by its name (``keras.losses.MeanSquaredError()`` is ``"mse"``); None for a
    loss of one's own."""
    if isinstance(loss, str):
        name = loss
    else:
        name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or ""
        if not isinstance(name, str):
            return None
    key = name.lower().replace("_", "")
    name = _ALIASES.get(key, name.lower())
    return name if name in LOSSES else None


def from_logits(loss: Loss) -> bool:
    """Whether a Keras loss object was made with ``from_logits=True``."""
    if isinstance(loss, str):
        return False
    get_config = getattr(loss, "get_config", None)
    try:
        config = get_config() if callable(get_config) else {}
    except Exception:  # a loss of one's own without a configuration
        return False
    return bool(isinstance(config, Mapping) and config.get("from_logits"))


def activation_for_loss(loss: Loss) -> str | None:
    """The output activation a loss expects: ``None`` (linear) for regression losses,
    ``"softmax"`` for categorical cross-entropies, ``"sigmoid"`` for binary ones,
    ``"softplus"`` for the Poisson loss; :data:`UNKNOWN` for a loss of one's own.

    Example:
        >>> activation_for_loss("mse") is None, activation_for_loss("binary_crossentropy")
        (True, 'sigmoid')
    """
    if from_logits(loss):
        return None
    name = loss_name(loss)
    if name in REGRESSION_LOSSES or name in SCORE_LOSSES:
        return None
    if name in SOFTMAX_LOSSES:
        return "softmax"
    if name in SIGMOID_LOSSES:
        return "sigmoid"
    if name == "poisson":
        return "softplus"
    return UNKNOWN


def shown_loss(loss: Loss) -> str:
    if isinstance(loss, str):
        return repr(loss)
    return repr(getattr(loss, "name", None) or getattr(loss, "__name__", None) or loss)


def shown_activation(activation: Any) -> str:
    return "'linear'" if activation in (None, "linear") else repr(activation)


def check_output(output: str, activation: Any, units: Any, loss: Loss) -> None:
    """Refuse an output whose activation cannot fit its units or the loss.

    ``output`` names the output in the message; ``activation`` is a Keras activation
    name (``None`` or ``"linear"`` for linear, :data:`UNKNOWN` when not known),
    ``units`` the output's width (None when not known).

    Raises:
        ProblemError: one line naming the output, its activation, units and the loss.
    """
    if activation is UNKNOWN or not (activation is None or isinstance(activation, str)):
        return
    activation = None if activation == "linear" else activation
    name = loss_name(loss)
    what = (
        f"output {output} has activation {shown_activation(activation)} on "
        f"{_units(units)} with loss {shown_loss(loss)}"
    )
    if activation == "softmax" and units == 1:
        if name in SOFTMAX_LOSSES:
            fix = "set output_units to the number of classes (2 or more)"
        elif name in SIGMOID_LOSSES:
            fix = "use output_activation='sigmoid' (or leave it out to follow the loss)"
        else:
            fix = "use output_activation=None, linear (or leave it out to follow the loss)"
        raise ProblemError(
            f"{what}: a softmax over one unit predicts 1.0 whatever the input; {fix}"
        )
    if name in REGRESSION_LOSSES and activation in _BOUNDED:
        raise ProblemError(
            f"{what}: a regression loss needs a linear output ({activation} only reaches "
            "(0, 1)); use output_activation=None (or leave it out to follow the loss)"
        )
    crossentropy = name in SOFTMAX_LOSSES or name in SIGMOID_LOSSES
    if crossentropy and activation is None and not from_logits(loss):
        raise ProblemError(
            f"{what}: a cross-entropy loss expects probabilities; use "
            f"output_activation={activation_for_loss(loss)!r} (or leave it out to follow the "
            "loss), or a Keras loss object with from_logits=True"
        )


# -- the space against the data -------------------------------------------------------


def check_inputs(dataset: Dataset, space: SearchSpace) -> None:
    """The data's inputs must have the names and shapes of the space's inputs.

    Raises:
        ProblemError: one line naming the input and both shapes (of one sample).
    """
    if dataset.streamed:
        dataset.check_names()
    expected = {node.name: tuple(node.shape) for node in space.inputs}
    found = sample_parts(dataset.train).x
    if list(found) == [""]:
        if len(expected) > 1:
            raise ProblemError(
                f"the space has inputs {sorted(expected)} but the data's x is one array: "
                "make x a dict of arrays keyed by input name"
            )
        found = {next(iter(expected)): found[""]}
        label = "x"
    else:
        if sorted(found) != sorted(expected):
            raise ProblemError(
                f"the data's inputs {sorted(found)} do not match the space's {sorted(expected)}"
            )
        label = None
    for name, shape in expected.items():
        sample = tuple(found[name][0])
        fits = len(sample) == len(shape) and all(
            size is None or given is None or size == given for size, given in zip(shape, sample)
        )
        if not fits:
            what = "the data's x" if label else f"the data's input {name!r}"
            raise ProblemError(
                f"space input {name!r} takes samples of shape {_shape(shape)} but {what} "
                f"has samples of shape {_shape(sample)}"
                + _batched_hint(dataset.train, sample, shape)
            )


def _batched_hint(split: Any, sample: tuple[Any, ...], shape: tuple[Any, ...]) -> str:
    """Why a stream's samples have one axis too many (a pipeline that batches itself)
    or one too few (a batched pipeline that does not)."""
    if not isinstance(split, Stream):
        return ""
    if not split.batched and len(sample) == len(shape) + 1 and sample[0] is None:
        return (
            ": a Stream's tf.data pipeline must yield single samples (nas batches them "
            "with the configuration's batch_size): remove its .batch(), or give "
            "Stream(make, batched=True) with make taking batch_size"
        )
    if split.batched and len(sample) + 1 == len(shape):
        return (
            ": a Stream(batched=True)'s tf.data pipeline must yield batches: end it with "
            ".batch(batch_size)"
        )
    return ""


def check_outputs(dataset: Dataset, model: Any, loss: Loss | Mapping[str, Loss]) -> None:
    """The built model's outputs must fit the targets and the loss.

    Checks each output's activation against its loss (:func:`check_output`, for spaces
    whose factory takes no ``output_activation``), and its shape against its targets:
    class indices below the number of units for a sparse loss, else one target column
    per unit. With several outputs, ``y`` is a dict keyed by output name, and ``loss``
    may be too.

    Raises:
        ProblemError: one line naming the output and both shapes.
    """
    outputs = list(model.outputs)
    layers = [_producing_layer(model, tensor) for tensor in outputs]
    names = [layer.name if layer is not None else "output" for layer in layers]
    targets = sample_parts(dataset.train).y
    named = list(targets) != [""]
    if named:
        if sorted(targets) != sorted(names):
            raise ProblemError(
                f"the data's outputs {sorted(targets)} do not match the space's {sorted(names)}"
            )
    elif len(outputs) > 1:
        raise ProblemError(
            f"the space has outputs {names} but the data's y is one array: make y a dict of "
            "arrays keyed by output name, and give a loss per output"
        )
    if isinstance(loss, Mapping) and sorted(loss) != sorted(names):
        raise ProblemError(
            f"the problem gives losses for outputs {sorted(loss)} but the space's outputs are "
            f"{sorted(names)}"
        )
    for tensor, layer, name in zip(outputs, layers, names):
        _check_one_output(
            repr(name),
            tuple(tensor.shape)[1:],
            _activation_of(layer),
            tuple(targets[name if named else ""][0]),
            _labels(dataset, name if named else None),
            loss[name] if isinstance(loss, Mapping) else loss,
        )


def _labels(dataset: Dataset, name: str | None) -> np.ndarray | None:
    """All targets of output ``name`` in memory (both splits), None if one is a stream."""
    if dataset.streamed:
        return None  # only read while training
    arrays = [dataset.train[1], dataset.valid[1]]
    return np.concatenate([np.asarray(a if name is None else a[name]).ravel() for a in arrays])


def _check_one_output(
    name: str,
    shape: tuple[Any, ...],
    activation: Any,
    target: tuple[Any, ...],
    labels: np.ndarray | None,
    loss: Loss,
) -> None:
    units = shape[-1] if shape else 1
    check_output(name, activation, units, loss)
    if loss_name(loss) in SPARSE_LOSSES:
        if target not in ((), (1,)) or len(shape) != 1:
            raise ProblemError(
                f"space output {name} gives samples of shape {_shape(shape)} but y has "
                f"samples of shape {_shape(target)}: loss {shown_loss(loss)} takes one class "
                "index per sample"
            )
        if labels is not None and np.issubdtype(labels.dtype, np.number) and labels.size:
            low, high = labels.min(), labels.max()
            if low < 0 or high >= units:
                raise ProblemError(
                    f"space output {name} has {_units(units)} but y holds class indices from "
                    f"{low:g} to {high:g}: expected 0 to {units - 1}"
                )
        return
    if loss_name(loss) is not None and not _same_up_to_a_unit_axis(target, shape):
        if loss_name(loss) in SOFTMAX_LOSSES and target in ((), (1,)):
            fix = "one-hot targets, or loss='sparse_categorical_crossentropy' for class indices"
        else:
            fix = "set output_units to the number of target columns"
        raise ProblemError(
            f"space output {name} gives samples of shape {_shape(shape)} but y has samples "
            f"of shape {_shape(target)}: {fix}"
        )


def _same_up_to_a_unit_axis(target: tuple[Any, ...], shape: tuple[Any, ...]) -> bool:
    """Whether Keras matches ``y`` to the output: the same shape, or one of them with a
    last axis of one more (Keras squeezes it away)."""

    def fits(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
        return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))

    return fits(target, shape) or fits(target + (1,), shape) or fits(target, shape + (1,))


def _producing_layer(model: Any, tensor: Any) -> Any:
    history = getattr(tensor, "_keras_history", None)
    if history is not None:
        return history[0]
    return model.layers[-1] if model.layers else None


def _activation_of(layer: Any) -> Any:
    """A layer's activation name (None for linear), :data:`UNKNOWN` if it has none."""
    if layer is None:
        return UNKNOWN
    try:
        config = layer.get_config()
    except Exception:
        return UNKNOWN
    activation = config.get("activation", UNKNOWN) if isinstance(config, Mapping) else UNKNOWN
    if activation == "linear":
        return None
    return activation if activation is UNKNOWN or isinstance(activation, str) else UNKNOWN


def _units(units: Any) -> str:
    if units is None:
        return "its units"
    return f"{units} unit" if units == 1 else f"{units} units"


def _shape(shape: tuple[Any, ...]) -> str:
    return str(tuple(shape))
