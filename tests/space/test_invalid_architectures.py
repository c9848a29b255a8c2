"""Architectures that switch every path to an output off are told from the graph, no Keras."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nas.exceptions import SpaceError
from nas.space import (
    AddByPadding,
    ConstantNode,
    Identity,
    SearchSpace,
    VariableNode,
    Zero,
)


def switchable_cell() -> SearchSpace:
    """x -> n0 -> m0 -> n1 -> m1 (the output); every node can be Zero, every skip off.

    Decisions, in arch_seq order: n0 (Zero | Identity), m0's skip from x, n1 (Zero |
    Identity), m1's skips from x and from m0. Only Identity, Zero, Connect and a merge:
    nothing here needs Keras to be defined.
    """
    space = SearchSpace({"x": (4,)}, name="cell")
    x = space.input()
    n0 = space.add(VariableNode([Zero(), Identity()], "n0"), x)
    m0 = space.add(ConstantNode(AddByPadding(), "m0"), n0)
    space.add_skip_connections(m0, [x])
    n1 = space.add(VariableNode([Zero(), Identity()], "n1"), m0)
    m1 = space.add(ConstantNode(AddByPadding(), "m1"), n1)
    space.add_skip_connections(m1, [x, m0])
    space.set_outputs(m1)
    return space


def reaches_the_output(arch_seq) -> bool:
    """The reference, written from the drawing of the cell rather than from the resolver."""
    n0, skip0_x, n1, skip1_x, skip1_m0 = arch_seq
    m0_live = bool(n0 or skip0_x)
    return bool((n1 and m0_live) or skip1_x or (skip1_m0 and m0_live))


ALL = [list(seq) for seq in itertools.product(range(2), repeat=5)]

# Run in a fresh interpreter, so that "no Keras" is checked, not assumed.
CHILD = """
import json, sys
sys.path.insert(0, {here!r})
from test_invalid_architectures import ALL, switchable_cell
space = switchable_cell()
verdicts = [space.why_invalid(seq) for seq in ALL]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("keras", "tensorflow", "jax"))
print(json.dumps({{"verdicts": verdicts, "heavy": heavy}}))
"""


def test_switched_off_outputs_are_found_without_keras():
    here = str(Path(__file__).parent)
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(here=here)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["heavy"] == [], "why_invalid imported Keras"
    verdicts = dict(zip(map(tuple, ALL), report["verdicts"]))
    invalid = [seq for seq, reason in verdicts.items() if reason is not None]
    assert 0 < len(invalid) < len(ALL)  # the cell has both kinds
    for seq, reason in verdicts.items():
        assert (reason is None) == reaches_the_output(seq), seq
        if reason is not None:
            assert f"arch_seq {list(seq)} leaves output 'm1'" in reason


def test_resolve_refuses_what_why_invalid_names_and_is_valid_agrees():
    space = switchable_cell()
    for seq in ALL:
        reason = space.why_invalid(seq)
        assert space.is_valid(seq) == (reason is None)
        if reason is None:
            assert space.resolve(seq).outputs
        else:
            with pytest.raises(SpaceError) as error:
                space.resolve(seq)
            assert str(error.value) == reason


def test_a_malformed_arch_seq_is_an_error_not_an_invalid_architecture():
    space = switchable_cell()
    with pytest.raises(SpaceError, match="arch_seq has 2 entries"):
        space.why_invalid([0, 1])
    with pytest.raises(SpaceError, match="out of range"):
        space.is_valid([0, 0, 0, 0, 2])
