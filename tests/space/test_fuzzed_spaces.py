"""Property-based tests: random search spaces are refused early or build right, every time.

The spaces come from :mod:`strategies` (random DAGs of constant, variable, skip, mirror and
mime nodes; Dense, Activation, Identity, Zero; the three merges; one or two inputs; one or
more outputs). Its reference model says, for each space and ``arch_seq``, what the library
must do, so these tests catch wrong models and spurious errors, not only crashes.

Reproducibility: the settings use ``derandomize=True``, so every run (CI or laptop) tries
the same examples, chosen from a hash of each test function, and no example database is
read or written (a database would replay a laptop's old failures and make runs differ).
A failure prints the drawn spec and a ``@reproduce_failure`` blob. To explore beyond the
fixed examples::

    NAS_FUZZ_EXAMPLES=500 NAS_FUZZ_RANDOM=1 python -m pytest tests/space/test_fuzzed_spaces.py
"""

from __future__ import annotations

import itertools
import os
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, event, given, settings
from hypothesis import strategies as st
from strategies import (
    all_arch_seqs,
    arch_seqs,
    choices,
    definition_error,
    expect,
    mirrored_merge_specs,
    space_from_spec,
    space_specs,
)

from nas.exceptions import SpaceError
from nas.space import Architecture, SearchSpace, load_space

FACTORY = "strategies:space_from_spec"


def fuzz_settings(max_examples: int) -> settings:
    """Settings for one property: fixed examples unless ``NAS_FUZZ_RANDOM`` is set."""
    return settings(
        max_examples=int(os.environ.get("NAS_FUZZ_EXAMPLES", max_examples)),
        derandomize=not os.environ.get("NAS_FUZZ_RANDOM"),
        database=None,
        deadline=None,  # a Keras build takes 50-200 ms, more on a loaded machine
        print_blob=True,
        # No "explain" phase: on Python < 3.12 it traces every line run, TensorFlow's
        # included, which turns a few seconds of shrinking into minutes.
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow],
    )


def define(spec: dict[str, Any]) -> SearchSpace | SpaceError:
    """The space of ``spec``, or the SpaceError raised while defining and validating it."""
    try:
        space = space_from_spec(spec)
        space.choices  # noqa: B018 - the first use validates the whole graph
    except SpaceError as error:
        return error
    return space


def model_structure(model: Any) -> list[tuple[str, dict[str, Any]]]:
    """The layers of a model in order, by class and full config (names included)."""
    return [(type(layer).__name__, layer.get_config()) for layer in model.layers]


def random_batch(space: SearchSpace, rng: np.random.Generator) -> list[np.ndarray] | np.ndarray:
    batch = [rng.normal(size=(2, *node.shape)).astype("float32") for node in space.inputs]
    return batch[0] if len(batch) == 1 else batch


def check_definition(spec: dict[str, Any]) -> SearchSpace | None:
    """Check that the space is refused at definition exactly when the reference says so.

    Returns the space when it is (rightly) accepted, None when it is (rightly) refused.
    """
    space = define(spec)
    refused = definition_error(spec)
    event("refused at definition" if refused else "accepted")
    if isinstance(space, SpaceError):
        assert refused is not None, f"a valid space was refused: {space}"
        # The message starts with the node at fault ("node 'n3' has...", "MirrorNode 'n3'").
        assert re.match(rf"(Mirror)?[Nn]ode {re.escape(repr(refused))}", str(space)), (
            f"the error does not start by naming node {refused!r}: {space}"
        )
        return None
    assert refused is None, f"node {refused!r} was accepted; it can never build"
    assert space.choices == choices(spec)
    return space


def check_space(spec: dict[str, Any], arch_seqs_of_spec: list[list[int]]) -> None:
    """Check the library against the reference model on one spec and some of its arch_seqs.

    The space is refused with a SpaceError naming the node, or each arch_seq builds the
    promised model. A build may still raise a SpaceError, but only where the reference
    model predicts one (an output switched off by Zero; a mirror sharing a layer across
    input widths; a layer that returns several tensors) and naming that node; any other
    exception fails the test.
    """
    space = check_definition(spec)
    if space is None:
        return
    rng = np.random.default_rng(0)
    seen: dict[str, tuple[str, Any]] = {}  # arch_hash -> (structure, model config)
    predicted = False
    for arch_seq in arch_seqs_of_spec:
        expected = expect(spec, arch_seq)
        event(f"build: {expected.error or 'a model'}")
        if expected.error:
            with pytest.raises(SpaceError) as error:
                space.build(arch_seq)
            assert expected.message in str(error.value), (
                f"expected a SpaceError saying {expected.message!r} ({expected.error}), "
                f"got: {error.value}"
            )
            continue
        model = space.build(arch_seq)
        widths = expected.output_widths
        assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, w) for w in widths]
        assert model.count_params() == expected.num_params
        batch = random_batch(space, rng)
        # predict() once per space (it traces a function: ~0.3 s); a plain call otherwise.
        outputs = model.predict(batch, verbose=0) if not predicted else model(batch)
        predicted = True
        outputs = outputs if isinstance(outputs, list) else [outputs]
        assert [tuple(np.shape(out)) for out in outputs] == [(2, w) for w in widths]
        assert all(np.isfinite(np.asarray(out)).all() for out in outputs)
        arch_hash = space.arch_hash(arch_seq)
        assert space.arch_hash(list(arch_seq)) == arch_hash
        config = model.get_config()
        if arch_hash in seen:  # the same hash: the very same model, layer for layer
            assert seen[arch_hash] == (expected.structure, config)
        else:  # another hash: another structure
            assert all(structure != expected.structure for structure, _ in seen.values())
            seen[arch_hash] = (expected.structure, config)


@fuzz_settings(max_examples=150)
@given(spec=space_specs(mistakes=True))
def test_definition_refuses_exactly_the_spaces_that_cannot_build(spec: dict[str, Any]):
    """Refusals at definition agree with the reference: no Keras build, so many examples."""
    check_definition(spec)


@fuzz_settings(max_examples=35)
@given(data=st.data())
def test_a_random_space_is_refused_at_definition_or_builds_each_arch(data: st.DataObject):
    """Random DAGs of every node kind: refused early, or each sampled arch_seq builds right."""
    spec = data.draw(space_specs(), label="spec")
    check_space(spec, data.draw(arch_seqs(spec), label="arch_seqs"))


@fuzz_settings(max_examples=25)
@given(spec=mirrored_merge_specs())
def test_a_mirrored_merge_works_at_any_width_its_weights_allow(spec: dict[str, Any]):
    """A mirror of a merge over other branches: fine unless a projection must change width."""
    check_space(spec, [[]])


@fuzz_settings(max_examples=80)
@given(spec=space_specs())
def test_arch_hash_is_shared_exactly_by_arch_seqs_of_the_same_structure(spec: dict[str, Any]):
    """Two arch_seqs share a hash if and only if they resolve to the same model.

    No Keras build is needed, so every arch_seq of small spaces is compared; a fresh space
    from the same spec gives the same hashes (they are stable, not per-object).
    """
    assume(definition_error(spec) is None)
    space, again = space_from_spec(spec), space_from_spec(spec)
    pairs = []
    for arch_seq in itertools.islice(all_arch_seqs(spec), 64):
        expected = expect(spec, arch_seq)
        if not expected.resolvable:
            with pytest.raises(SpaceError, match=re.escape(expected.message)):
                space.arch_hash(arch_seq)
            continue
        arch_hash = space.arch_hash(arch_seq)
        assert again.arch_hash(arch_seq) == arch_hash
        pairs.append((arch_hash, expected.structure))
    hashes, structures = {h for h, _ in pairs}, {s for _, s in pairs}
    assert len(hashes) == len(structures) == len(set(pairs))


@fuzz_settings(max_examples=20)
@given(data=st.data())
def test_architecture_json_round_trip_rebuilds_the_same_model(data: st.DataObject):
    """arch_seq -> Architecture JSON -> loaded back: same arch_seq, hash and model structure."""
    spec = data.draw(space_specs(max_nodes=5), label="spec")
    assume(definition_error(spec) is None)
    space = load_space(FACTORY, spec=spec)
    arch_seq = data.draw(arch_seqs(spec, max_size=1), label="arch_seq")[0]
    assume(expect(spec, arch_seq).error is None)
    restored = Architecture.from_json(space.architecture(arch_seq).to_json())
    assert list(restored.arch_seq) == arch_seq
    assert restored.arch_hash == space.arch_hash(arch_seq)
    assert restored.load_space().arch_hash(restored.arch_seq) == restored.arch_hash
    original, rebuilt = space.build(arch_seq), restored.build()
    assert model_structure(rebuilt) == model_structure(original)
    assert rebuilt.count_params() == original.count_params()
