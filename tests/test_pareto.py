"""nas.pareto: fronts, crowding, ranking, hypervolume, scalarisation, constraints.

Points are small integers wherever possible so that every expected value is exact.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.pareto import (
    Constraint,
    as_minimised,
    crowding_distance,
    hypervolume,
    hypervolume_over_time,
    non_dominated_sort,
    pareto_mask,
    random_scalarization,
    rank_order,
    scalarize,
    total_violation,
)


def fronts_as_lists(points) -> list[list[int]]:
    return [front.tolist() for front in non_dominated_sort(points)]


def dominates(a, b) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def brute_force_non_dominated(points) -> list[int]:
    return [
        i
        for i, p in enumerate(points)
        if not any(dominates(q, p) for j, q in enumerate(points) if j != i)
    ]


def grid_hypervolume(points, reference) -> int:
    """Unit cells of the integer grid covered by some box [p, reference]: exact, O(cells)."""
    reference = [int(r) for r in reference]
    low = [min([0, *(int(p[k]) for p in points)]) for k in range(len(reference))]
    count = 0
    for cell in itertools.product(*(range(lo, r) for lo, r in zip(low, reference))):
        if any(all(c >= x for c, x in zip(cell, p)) for p in points):
            count += 1
    return count


def integer_points(max_objectives: int = 3, max_rows: int = 12, high: int = 6):
    """Hypothesis strategy: (n, m) lists of small integers, with many ties and duplicates."""
    return st.integers(2, max_objectives).flatmap(
        lambda m: st.lists(
            st.lists(st.integers(0, high), min_size=m, max_size=m), min_size=1, max_size=max_rows
        )
    )


# ---------------------------------------------------------------------------------------
# as_minimised


def test_as_minimised_negates_the_maximised_columns_only():
    values = np.array([[0.5, 10.0, 2.0]])
    assert as_minimised(values, ["max", "min", "max"]).tolist() == [[-0.5, 10.0, -2.0]]
    assert values.tolist() == [[0.5, 10.0, 2.0]]  # a copy


@pytest.mark.parametrize(
    ("directions", "message"),
    [(["min"], "2 objectives"), (["min", "maximize"], "'maximize'")],
)
def test_as_minimised_rejects_bad_directions(directions, message):
    with pytest.raises(ValueError, match=message):
        as_minimised([[1, 2]], directions)


# ---------------------------------------------------------------------------------------
# non_dominated_sort and pareto_mask


def test_fronts_of_a_hand_made_set_with_a_duplicate():
    points = [[1, 5], [2, 3], [3, 4], [4, 1], [2, 3], [5, 5], [3, 2]]
    assert fronts_as_lists(points) == [[0, 1, 3, 4, 6], [2], [5]]
    assert pareto_mask(points).tolist() == [True, True, False, True, True, False, True]


def test_a_tie_in_one_objective_still_dominates_when_better_in_the_other():
    assert fronts_as_lists([[1, 3], [1, 2]]) == [[1], [0]]


def test_equal_points_share_a_front():
    assert fronts_as_lists([[2, 2], [2, 2], [2, 2]]) == [[0, 1, 2]]
    assert pareto_mask([[2, 2], [2, 2]]).tolist() == [True, True]


def test_one_point_and_no_point():
    assert fronts_as_lists([[3.0, 1.0]]) == [[0]]
    assert non_dominated_sort(np.zeros((0, 2))) == []
    assert non_dominated_sort([]) == []
    assert rank_order([]).tolist() == []
    assert pareto_mask(np.zeros((0, 2))).tolist() == []


def test_one_objective_sorts_by_value_with_ties_together():
    assert fronts_as_lists([[3], [1], [2], [1]]) == [[1, 3], [2], [0]]


def test_three_objectives():
    points = [[1, 2, 3], [3, 2, 1], [2, 2, 2], [2, 3, 3], [4, 4, 4]]
    assert fronts_as_lists(points) == [[0, 1, 2], [3], [4]]


def test_infinite_values_are_worst_but_allowed():
    assert fronts_as_lists([[math.inf, 0], [1, 1], [math.inf, 1]]) == [[0, 1], [2]]


def test_nan_is_refused_naming_the_row():
    with pytest.raises(ValueError, match="row 2 holds NaN"):
        non_dominated_sort([[1, 2], [2, 1], [math.nan, 0]])
    with pytest.raises(ValueError, match="row 0"):
        rank_order([[math.nan]])


def test_shapes_other_than_two_dimensional_are_refused():
    with pytest.raises(ValueError, match="2-D"):
        non_dominated_sort([1, 2, 3])


def test_large_sets_are_sorted_in_blocks(monkeypatch):
    import nas.pareto

    rng = np.random.default_rng(3)
    points = rng.integers(0, 20, size=(60, 3))
    expected = fronts_as_lists(points)
    monkeypatch.setattr(nas.pareto, "_BLOCK_ELEMENTS", 7)  # several rows per block, ragged
    assert fronts_as_lists(points) == expected


@settings(deadline=None, max_examples=150)
@given(integer_points())
def test_first_front_is_the_brute_force_non_dominated_set(points):
    assert fronts_as_lists(points)[0] == brute_force_non_dominated(points)
    assert np.flatnonzero(pareto_mask(points)).tolist() == brute_force_non_dominated(points)


@settings(deadline=None, max_examples=100)
@given(integer_points())
def test_every_front_is_dominated_only_by_earlier_fronts(points):
    fronts = fronts_as_lists(points)
    assert sorted(itertools.chain(*fronts)) == list(range(len(points)))
    for k, front in enumerate(fronts):
        later = list(itertools.chain(*fronts[k:]))
        for i in front:
            assert not any(dominates(points[j], points[i]) for j in later)
            if k > 0:
                assert any(dominates(points[j], points[i]) for j in fronts[k - 1])


# ---------------------------------------------------------------------------------------
# crowding_distance


def test_crowding_on_a_known_front():
    # Objective 0 (range 4) gives rows 1, 2 the gaps 2/4, 3/4; objective 1 gives 3/4, 2/4.
    assert crowding_distance([[0, 4], [1, 2], [2, 1], [4, 0]]).tolist() == [
        math.inf,
        1.25,
        1.25,
        math.inf,
    ]


def test_crowding_of_two_or_fewer_points_is_infinite():
    assert crowding_distance([[1, 2], [2, 1]]).tolist() == [math.inf, math.inf]
    assert crowding_distance([[1, 2]]).tolist() == [math.inf]
    assert crowding_distance(np.zeros((0, 2))).tolist() == []


def test_an_objective_of_zero_range_adds_nothing():
    assert crowding_distance([[1, 0], [1, 1], [1, 2]]).tolist() == [math.inf, 1.0, math.inf]
    assert crowding_distance([[5, 5]] * 4).tolist() == [0.0] * 4


def test_an_infinite_range_gives_only_its_extremes_infinity():
    distance = crowding_distance([[0, 3], [1, 2], [2, 1], [math.inf, 0]])
    assert distance[[0, 3]].tolist() == [math.inf, math.inf]
    assert distance[[1, 2]] == pytest.approx([2 / 3, 2 / 3])


# ---------------------------------------------------------------------------------------
# rank_order


def test_rank_order_is_front_then_crowding_then_index():
    points = [[2, 3], [1, 3], [3, 1], [2, 2], [4, 4]]
    # Front 0: rows 1, 2 (extremes, infinite) and 3; row 0 in front 1, row 4 in front 2.
    assert rank_order(points).tolist() == [1, 2, 3, 0, 4]


def test_rank_order_breaks_complete_ties_by_index():
    assert rank_order([[1, 1]] * 4).tolist() == [0, 1, 2, 3]


def test_infeasible_rows_come_last_by_violation_then_front():
    points = [[0, 0], [5, 5], [1, 1], [2, 2], [3, 3], [4, 4]]
    violation = [0.5, 0.0, 2.0, 0.5, 0.0, math.inf]
    # Feasible rows 1 and 4 first (4 dominates 1); then violation 0.5 (0 dominates 3),
    # then 2.0, then the missing measure (inf).
    assert rank_order(points, violation).tolist() == [4, 1, 0, 3, 2, 5]


def test_a_feasibility_mask_sorts_infeasible_rows_into_their_own_fronts():
    points = [[0, 0], [3, 3], [1, 2], [2, 1], [4, 4]]
    feasible = np.array([False, True, False, False, True])
    # Feasible: 1 dominates 4. Infeasible: 0 dominates 2 and 3 (which form front 1).
    assert rank_order(points, feasible=feasible).tolist() == [1, 4, 0, 2, 3]


def test_rank_order_argument_errors():
    with pytest.raises(ValueError, match="not both"):
        rank_order([[1, 1]], [0.0], feasible=np.array([True]))
    with pytest.raises(ValueError, match=">= 0"):
        rank_order([[1, 1]], [-1.0])
    with pytest.raises(ValueError, match="shape"):
        rank_order([[1, 1]], [0.0, 0.0])
    with pytest.raises(ValueError, match="boolean"):
        rank_order([[1, 1]], feasible=[1])


@settings(deadline=None, max_examples=100)
@given(integer_points(), st.data())
def test_rank_order_is_a_permutation_consistent_with_violation_and_fronts(points, data):
    n = len(points)
    violation = np.array(
        data.draw(st.lists(st.sampled_from([0.0, 0.0, 1.0, 2.0]), min_size=n, max_size=n))
    )
    order = rank_order(points, violation)
    assert sorted(order.tolist()) == list(range(n))
    assert np.all(np.diff(violation[order]) >= 0)
    for level in np.unique(violation):
        rows = np.flatnonzero(violation == level)
        front_of = {}
        for number, front in enumerate(non_dominated_sort(np.asarray(points)[rows])):
            front_of.update({int(rows[i]): number for i in front})
        ranked_fronts = [front_of[i] for i in order.tolist() if i in front_of]
        assert ranked_fronts == sorted(ranked_fronts)


# ---------------------------------------------------------------------------------------
# hypervolume


def test_hypervolume_of_a_staircase():
    assert hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4]) == 6.0


def test_hypervolume_ignores_points_beyond_or_on_the_reference():
    base = [[1, 3], [2, 2], [3, 1]]
    assert hypervolume([*base, [5, 0], [0, 4], [4, 4]], [4, 4]) == 6.0
    assert hypervolume([[5, 5]], [4, 4]) == 0.0
    assert hypervolume(np.zeros((0, 2)), [4, 4]) == 0.0
    assert hypervolume([], [4, 4]) == 0.0


def test_hypervolume_ignores_dominated_points_and_duplicates():
    assert hypervolume([[1, 3], [2, 2], [3, 1], [3, 3], [2, 2]], [4, 4]) == 6.0


def test_hypervolume_in_three_dimensions_by_hand():
    # Boxes [1,3]x[1,3]x[2,3] (4) and [2,3]x[2,3]x[1,3] (2) overlap in [2,3]^3 (1).
    assert hypervolume([[1, 1, 2], [2, 2, 1]], [3, 3, 3]) == 5.0
    assert hypervolume([[0, 0, 0]], [1, 2, 3]) == 6.0
    assert hypervolume([[0, 0, 0], [0, 0, 5]], [1, 2, 3]) == 6.0


def test_hypervolume_in_one_and_four_dimensions():
    assert hypervolume([[3], [1], [2]], [5]) == 4.0
    assert hypervolume([[0, 0, 0, 0]], [1, 2, 3, 4]) == 24.0


def test_hypervolume_reference_must_match():
    with pytest.raises(ValueError, match="one value per objective"):
        hypervolume([[1, 2]], [3, 3, 3])
    with pytest.raises(ValueError, match="NaN"):
        hypervolume([[1, 2]], [3, math.nan])


@settings(deadline=None, max_examples=150)
@given(
    integer_points(max_objectives=2, max_rows=15, high=8),
    st.tuples(st.integers(1, 9), st.integers(1, 9)),
)
def test_hypervolume_2d_matches_the_grid_count(points, reference):
    assert hypervolume(points, reference) == grid_hypervolume(points, reference)


@settings(deadline=None, max_examples=60)
@given(
    st.integers(3, 4).flatmap(
        lambda m: st.lists(
            st.lists(st.integers(0, 4), min_size=m, max_size=m), min_size=1, max_size=8
        )
    )
)
def test_hypervolume_3d_and_4d_match_the_grid_count(points):
    reference = [5] * len(points[0])
    assert hypervolume(points, reference) == grid_hypervolume(points, reference)


# ---------------------------------------------------------------------------------------
# hypervolume_over_time


def test_hypervolume_over_time_by_hand():
    curve = hypervolume_over_time([[5, 5], [3, 1], [1, 3], [2, 2], [3, 3]], [4, 4])
    assert curve.tolist() == [0.0, 3.0, 5.0, 6.0, 6.0]
    assert hypervolume_over_time(np.zeros((0, 2)), [1, 1]).tolist() == []
    assert hypervolume_over_time([], [1, 1]).tolist() == []


@settings(deadline=None, max_examples=100)
@given(integer_points(max_rows=15))
def test_hypervolume_over_time_is_the_hypervolume_of_each_prefix(points):
    reference = [5] * len(points[0])
    curve = hypervolume_over_time(points, reference)
    assert np.all(np.diff(curve) >= 0)
    assert curve[-1] == hypervolume(points, reference)
    assert curve.tolist() == [
        hypervolume(points[:k], reference) for k in range(1, len(points) + 1)
    ]


def test_hypervolume_over_time_handles_a_thousand_points():
    rng = np.random.default_rng(0)
    points = rng.integers(0, 1000, size=(1000, 2))
    curve = hypervolume_over_time(points, [1000, 1000])
    assert curve.shape == (1000,)
    assert np.all(np.diff(curve) >= 0)
    assert curve[-1] == hypervolume(points, [1000, 1000])


# ---------------------------------------------------------------------------------------
# Scalarisation


def test_random_scalarization_lies_on_the_simplex_and_is_reproducible():
    weights = random_scalarization(np.random.default_rng(7), 4)
    assert weights.shape == (4,)
    assert np.all(weights >= 0)
    assert weights.sum() == pytest.approx(1.0)
    assert random_scalarization(7, 4).tolist() == weights.tolist()
    assert random_scalarization(0, 1).tolist() == [1.0]
    with pytest.raises(ValueError, match="at least one"):
        random_scalarization(0, 0)


def test_scalarize_is_parego_augmented_chebyshev_on_normalised_objectives():
    points = [[0, 10], [2, 0], [1, 5]]
    # Normalised: (0, 1), (1, 0), (0.5, 0.5); weights (0.75, 0.25).
    values = scalarize(points, [0.75, 0.25])
    expected = [
        max(0.0, 0.25) + 0.05 * 0.25,
        max(0.75, 0.0) + 0.05 * 0.75,
        max(0.375, 0.125) + 0.05 * 0.5,
    ]
    assert values == pytest.approx(expected)


def test_scalarize_uses_given_ideal_and_nadir_and_tolerates_zero_range():
    values = scalarize([[2, 7]], [0.5, 0.5], ideal=[0, 7], nadir=[4, 7])
    assert values == pytest.approx([0.25 + 0.05 * 0.25])
    assert scalarize([[1, 1], [1, 1]], [0.5, 0.5]).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="non-negative"):
        scalarize([[1, 1]], [1.0, -0.5])


# ---------------------------------------------------------------------------------------
# Constraints


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("num_parameters <= 1e6", Constraint("num_parameters", "<=", 1e6)),
        ("latency_ms>=0.5", Constraint("latency_ms", ">=", 0.5)),
        ("  val.accuracy >= -2 ", Constraint("val.accuracy", ">=", -2.0)),
    ],
)
def test_constraint_parse(text, expected):
    assert Constraint.parse(text) == expected
    assert Constraint.parse(str(expected)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("num_parameters < 1e6", "'<' is not allowed"),
        ("num_parameters = 5", "'=' is not allowed"),
        ("num_parameters == 5", "'==' is not allowed"),
        ("num_parameters <= many", "'many' is not a number"),
        ("num_parameters <=", "'' is not a number"),
        ("num_parameters <= inf", "must be finite"),
        ("num_parameters <= nan", "must be finite"),
        ("1e6 >= num_parameters", "'1e6' is not a name"),
        ("<= 5", "NAME <= NUMBER"),
        ("num_parameters", "NAME <= NUMBER"),
        ("", "NAME <= NUMBER"),
    ],
)
def test_constraint_parse_errors(text, message):
    with pytest.raises(ValueError, match=message):
        Constraint.parse(text)


def test_constraint_fields_are_checked():
    with pytest.raises(ValueError, match="operator"):
        Constraint("params", "<", 1)
    with pytest.raises(ValueError, match="finite"):
        Constraint("params", "<=", math.inf)
    with pytest.raises(ValueError, match="identifier"):
        Constraint("two words", "<=", 1)
    assert isinstance(Constraint("params", "<=", 3).bound, float)


def test_constraint_violation_is_relative_to_the_bound():
    at_most = Constraint("params", "<=", 1000)
    assert at_most.violation(1000) == 0.0
    assert at_most.violation(500) == 0.0
    assert at_most.violation(1500) == 0.5
    at_least = Constraint("accuracy", ">=", 0.5)
    assert at_least.violation(0.25) == 0.5
    assert at_least.violation(0.75) == 0.0
    assert Constraint("shift", "<=", 0).violation(3) == 3.0  # bound 0: absolute
    assert at_most.violation(math.nan) == math.inf


def test_total_violation_sums_and_treats_missing_as_infinite():
    limits = [Constraint.parse("params <= 100"), Constraint.parse("ms <= 2")]
    assert total_violation(limits, {"params": 150, "ms": 3.0}) == 1.0
    assert total_violation(limits, {"params": 50, "ms": 1.0}) == 0.0
    assert total_violation(limits, {"params": 50}) == math.inf
    assert total_violation(limits, {"params": 50, "ms": None}) == math.inf
    assert total_violation([], {}) == 0.0


def test_the_docstring_examples_hold():
    import doctest

    import nas.pareto

    assert doctest.testmod(nas.pareto).failed == 0
