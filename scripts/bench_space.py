"""Benchmark: building a Keras model through a search space vs. by hand.

For depths of the dense skip-connection space (input ``(54,)``, 7 classes), it samples
``arch_seq``s and, for each, times

* ``space.build(arch_seq)`` (resolve the choices, then make the Keras model), and
* ``build_plain(arch_seq)``: the same model written with plain Keras functional code,
  decoding the ``arch_seq`` from the documented layout of ``dense_skip_space`` only,
* ``space.resolve(arch_seq)`` alone, to show how much of ``space.build`` is ours.

The two builds are interleaved per sample, alternating which goes first, because the
machine is shared and noisy. ``keras.backend.clear_session()`` is called before every
build of both paths and is *not* timed. Before timing, every sampled architecture is
checked: both models must have the same layer classes in the same order, the same
parameter count per layer, and, with the same weights, the same predictions.

Run: ``PYTHONPATH=. .venv/bin/python scripts/bench_space.py [--samples 30] [--depths 10 30]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from _harness import format_table  # noqa: E402

from spaces.dense_skip import DEFAULT_ACTIVATIONS, DEFAULT_UNITS, dense_skip_space  # noqa: E402

INPUT_SHAPE = (54,)
CLASSES = 7
NUM_ANCHORS = 3
TARGET_OVERHEAD = 0.20  # space.build may cost at most 20% more than plain Keras


def build_plain(
    arch_seq: Sequence[int],
    num_layers: int,
    input_shape: Sequence[int] = INPUT_SHAPE,
    output_units: int = CLASSES,
    units: Sequence[int] = DEFAULT_UNITS,
    activations: Sequence[str | None] = DEFAULT_ACTIVATIONS,
    num_anchors: int = NUM_ANCHORS,
) -> keras.Model:
    """The model of ``arch_seq`` in the dense skip space, written with plain Keras.

    Layout of ``arch_seq``: per layer, one choice among ``[Identity] + [Dense(u, a) for u
    in units for a in activations]``, then one Zero(0)/Connect(1) per anchor among the
    last ``num_anchors`` anchors (the input, then each layer's merge). A merge projects
    every input whose width differs from the first one's with a bias-free Dense, adds
    and applies relu; with a single input it passes it through.
    """
    decisions = iter(arch_seq)
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    previous = inputs
    anchors = [inputs]
    for index in range(num_layers):
        choice = next(decisions)
        if choice == 0:
            layer_output = previous
        else:
            unit, activation = divmod(choice - 1, len(activations))
            layer_output = keras.layers.Dense(
                units[unit], activation=activations[activation], name=f"layer{index}"
            )(previous)
        # KerasTensor overloads ==, so membership must compare identities.
        merged_inputs = [layer_output]
        for anchor in anchors[-num_anchors:]:
            if next(decisions) and not any(anchor is seen for seen in merged_inputs):
                merged_inputs.append(anchor)
        if len(merged_inputs) == 1:
            merged = layer_output
        else:
            width = merged_inputs[0].shape[-1]
            projected = [merged_inputs[0]]
            for position, tensor in enumerate(merged_inputs[1:], start=1):
                if tensor.shape[-1] != width:
                    tensor = keras.layers.Dense(
                        width, use_bias=False, name=f"merge{index}_projection{position}"
                    )(tensor)
                projected.append(tensor)
            added = keras.layers.Add(name=f"merge{index}")(projected)
            # As the space builds it: relu as LeakyReLU(0), which TensorFlow's oneDNN rewrite
            # of Add + Relu does not trip over (same values and gradients).
            merged = keras.layers.LeakyReLU(negative_slope=0.0, name=f"merge{index}_activation")(
                added
            )
        anchors.append(merged)
        previous = merged
    if next(decisions, None) is not None:
        raise ValueError(f"arch_seq has more entries than {num_layers} layers use")
    outputs = keras.layers.Dense(output_units, activation="softmax", name="output")(previous)
    return keras.Model(inputs=inputs, outputs=outputs, name="dense_skip")


def check_same_model(arch_seq: Sequence[int], ours: keras.Model, plain: keras.Model) -> None:
    """Raise AssertionError unless both models are the same architecture."""

    def summary(model: keras.Model) -> list[tuple[str, int]]:
        return [(type(layer).__name__, layer.count_params()) for layer in model.layers]

    if ours.count_params() != plain.count_params() or summary(ours) != summary(plain):
        raise AssertionError(
            f"arch_seq {list(arch_seq)}: space.build and build_plain differ\n"
            f"  space.build: {ours.count_params()} params, {summary(ours)}\n"
            f"  build_plain: {plain.count_params()} params, {summary(plain)}"
        )
    # Same classes and weight shapes in the same order: same weights must give the
    # same function, which also checks the wiring (which tensor feeds which merge).
    plain.set_weights(ours.get_weights())
    batch = np.random.default_rng(0).normal(size=(16, *INPUT_SHAPE)).astype("float32")
    if not np.allclose(ours(batch), plain(batch), rtol=1e-5, atol=1e-6):
        raise AssertionError(
            f"arch_seq {list(arch_seq)}: same layers and weights but different outputs"
        )


def timed(function: Callable[[], Any], clear: bool = True) -> tuple[float, Any]:
    """Seconds taken by ``function()`` after an untimed ``clear_session()``, and its result."""
    if clear:
        keras.backend.clear_session()
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def measure(depth: int, samples: int, seed: int, warmup: int) -> dict[str, Any]:
    """Verify, warm up, then time both builds (interleaved) and resolve at ``depth``."""
    space = dense_skip_space(INPUT_SHAPE, CLASSES, num_layers=depth, num_anchors=NUM_ANCHORS)
    rng = np.random.default_rng([seed, depth])
    arch_seqs = [space.sample(rng) for _ in range(samples)]

    def ours(arch_seq: Sequence[int]) -> keras.Model:
        return space.build(arch_seq)

    def plain(arch_seq: Sequence[int]) -> keras.Model:
        return build_plain(arch_seq, depth)

    layer_counts = []
    for arch_seq in arch_seqs:  # also the warm-up of both paths
        keras.backend.clear_session()
        model_ours, model_plain = ours(arch_seq), plain(arch_seq)
        check_same_model(arch_seq, model_ours, model_plain)
        layer_counts.append(len(model_ours.layers))
        del model_ours, model_plain
    for arch_seq in arch_seqs[:warmup]:
        timed(lambda a=arch_seq: ours(a))
        timed(lambda a=arch_seq: plain(a))

    times: dict[str, list[float]] = {"plain": [], "ours": [], "resolve": []}
    for index, arch_seq in enumerate(arch_seqs):
        order = [("ours", ours), ("plain", plain)]
        if index % 2:
            order.reverse()
        for key, build in order:
            seconds, model = timed(lambda a=arch_seq, b=build: b(a))
            times[key].append(seconds)
            del model
        times["resolve"].append(timed(lambda a=arch_seq: space.resolve(a), clear=False)[0])
    keras.backend.clear_session()
    return {"depth": depth, "layers": layer_counts, **{k: np.array(v) for k, v in times.items()}}


def percentiles_ms(values: np.ndarray) -> str:
    p10, p50, p90 = np.percentile(values, [10, 50, 90]) * 1000
    return f"{p50:.1f} [{p10:.1f}, {p90:.1f}]"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=30, help="arch_seqs per depth")
    parser.add_argument("--depths", type=int, nargs="+", default=[10, 30], help="num_layers")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled arch_seqs")
    parser.add_argument("--warmup", type=int, default=3, help="untimed builds per path")
    args = parser.parse_args(argv)
    if args.samples < 1 or args.warmup < 0 or any(depth < 1 for depth in args.depths):
        parser.error("--samples and --depths must be positive, --warmup non-negative")

    print(
        f"Python {platform.python_version()}, Keras {keras.__version__} "
        f"({keras.backend.backend()}), {os.cpu_count()} CPUs; {args.samples} samples per "
        f"depth, seed {args.seed}; times in ms, median [p10, p90]; clear_session() before "
        "each build, not timed",
        flush=True,
    )
    header = [
        "depth",
        "Keras layers",
        "plain Keras",
        "space.build",
        "space.resolve",
        "overhead",
        "paired",
        f"target <= {TARGET_OVERHEAD:.0%}",
    ]
    rows = []
    met = True
    for depth in args.depths:
        result = measure(depth, args.samples, args.seed, args.warmup)
        overhead = np.median(result["ours"]) / np.median(result["plain"]) - 1
        paired = np.median(result["ours"] / result["plain"]) - 1
        met &= overhead <= TARGET_OVERHEAD
        rows.append(
            [
                str(depth),
                f"{int(np.median(result['layers']))}",
                percentiles_ms(result["plain"]),
                percentiles_ms(result["ours"]),
                percentiles_ms(result["resolve"]),
                f"{overhead:+.1%}",
                f"{paired:+.1%}",
                "pass" if overhead <= TARGET_OVERHEAD else "FAIL",
            ]
        )
        print(f"depth {depth}: done", file=sys.stderr, flush=True)
    print(format_table(header, rows, header_align="<"))
    print(
        "overhead = median(space.build) / median(plain Keras) - 1; "
        "paired = median over samples of space.build / plain Keras - 1"
    )
    verdict = "met" if met else "NOT met"
    print(f"target overhead <= {TARGET_OVERHEAD:.0%} at every depth: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
