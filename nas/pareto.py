"""Pareto fronts, hypervolume, scalarisation and constraints for multi-objective search.

Pure NumPy building blocks for multi-objective NAS (accuracy against size or latency):
searches select parents with :func:`rank_order`, schedulers rank a rung with it (MO-ASHA),
results report :func:`pareto_mask`, plots draw :func:`hypervolume_over_time`.

Conventions, shared by every function here:

* ``points`` is a 2-D array of shape ``(n, m)``: one row per trial, one column per
  objective, and **every objective is minimised**. Negate the maximised ones first with
  :func:`as_minimised` (an accuracy ``a`` becomes ``-a``).
* ``a`` dominates ``b`` when ``a <= b`` in every objective and ``a < b`` in at least one.
  Equal rows do not dominate each other: duplicates share a front.
* NaN is refused with a ``ValueError`` naming the first row holding one: a NaN compares
  false with everything, so such a row would silently look non-dominated. Give failed
  trials ``+inf`` (worst) instead, or leave them out. Infinite values are allowed.

Example:
    >>> import numpy as np
    >>> accuracy_and_size = np.array([[0.9, 3e6], [0.8, 1e6], [0.7, 2e6]])
    >>> points = as_minimised(accuracy_and_size, ["max", "min"])
    >>> pareto_mask(points)
    array([ True,  True, False])
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Constraint",
    "as_minimised",
    "crowding_distance",
    "hypervolume",
    "hypervolume_over_time",
    "non_dominated_sort",
    "pareto_ids",
    "pareto_mask",
    "random_scalarization",
    "rank_order",
    "scalarize",
    "total_violation",
]

#: Weight of the linear term of the augmented Chebyshev scalarisation (ParEGO's rho).
PAREGO_RHO = 0.05
#: Rows compared at once when building the domination matrix: bounds the temporary
#: (block, n, m) arrays to a few tens of MB whatever n is.
_BLOCK_ELEMENTS = 4_000_000


# ---------------------------------------------------------------------------------------
# Input checks


def _as_points(points: object, name: str = "points") -> np.ndarray:
    """``points`` as a float (n, m) array; ValueError for other shapes and for NaN."""
    array = np.asarray(points, dtype=float)
    if array.ndim == 1 and array.size == 0:
        array = array.reshape(0, 0)  # [] : no rows (objectives unknown)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (rows x objectives), got shape {array.shape}"
        )
    if array.shape[1] == 0 and array.shape[0] > 0:
        raise ValueError(f"{name} has rows but no objective (shape {array.shape})")
    nan_rows = np.flatnonzero(np.isnan(array).any(axis=1))
    if nan_rows.size:
        raise ValueError(
            f"{name} row {int(nan_rows[0])} holds NaN ({array[nan_rows[0]].tolist()}): NaN "
            f"cannot be ranked; use +inf for a failed trial or leave the row out"
        )
    return array


def _points_and_reference(points: object, reference: object) -> tuple[np.ndarray, np.ndarray]:
    """Checked points and reference; no rows at all take the reference's width."""
    array = _as_points(points)
    if array.shape[0] == 0:
        array = array.reshape(0, np.size(reference))
    return array, _as_reference(reference, array.shape[1])


def _as_reference(reference: object, num_objectives: int) -> np.ndarray:
    array = np.asarray(reference, dtype=float)
    if array.shape != (num_objectives,):
        raise ValueError(
            f"reference must have one value per objective ({num_objectives}), "
            f"got shape {array.shape}"
        )
    if np.isnan(array).any():
        raise ValueError(f"reference holds NaN: {array.tolist()}")
    return array


# ---------------------------------------------------------------------------------------
# Directions


def as_minimised(values: object, directions: Sequence[str]) -> np.ndarray:
    """A copy of ``values`` (n, m) with the columns to maximise negated.

    Args:
        values: objectives as measured, one column per objective.
        directions: ``"min"`` or ``"max"`` per column.

    Example:
        >>> as_minimised([[0.9, 120.0]], ["max", "min"])
        array([[ -0.9, 120. ]])
    """
    array = _as_points(values, "values")
    directions = list(directions)
    if len(directions) != array.shape[1]:
        raise ValueError(
            f"got {len(directions)} directions for {array.shape[1]} objectives: {directions}"
        )
    unknown = [d for d in directions if d not in ("min", "max")]
    if unknown:
        raise ValueError(f"a direction is 'min' or 'max', got {unknown[0]!r}")
    signs = np.array([1.0 if d == "min" else -1.0 for d in directions])
    return array * signs


# ---------------------------------------------------------------------------------------
# Domination and fronts


def _domination_matrix(points: np.ndarray) -> np.ndarray:
    """``D[i, j]``: row i dominates row j. Built in blocks of rows to bound memory."""
    n, m = points.shape
    dominates = np.zeros((n, n), dtype=bool)
    block = max(1, _BLOCK_ELEMENTS // max(1, n * m))
    for start in range(0, n, block):
        rows = points[start : start + block, None, :]  # (b, 1, m) against (1, n, m)
        no_worse = (rows <= points[None, :, :]).all(axis=2)
        better_somewhere = (rows < points[None, :, :]).any(axis=2)
        dominates[start : start + block] = no_worse & better_somewhere
    return dominates


def _front_numbers(points: np.ndarray) -> np.ndarray:
    """Front of each row (0 = non-dominated), by NSGA-II's fast non-dominated sort."""
    n = points.shape[0]
    front = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return front
    dominates = _domination_matrix(points)
    # Deb et al. (2002): each row counts the rows dominating it; the rows with no
    # dominator form the current front, and removing the front lowers the counts of the
    # rows it dominates. Vectorised: one pass per front instead of one per row.
    dominated_by = dominates.sum(axis=0)
    current = np.flatnonzero(dominated_by == 0)
    number = 0
    while current.size:
        front[current] = number
        dominated_by[current] = -1  # never selected again
        dominated_by -= dominates[current].sum(axis=0)
        current = np.flatnonzero(dominated_by == 0)
        number += 1
    return front


def non_dominated_sort(points: object) -> list[np.ndarray]:
    """The Pareto fronts of ``points``: arrays of row indices, ascending, front 0 first.

    Front 0 holds the non-dominated rows, front 1 those dominated only by front 0, and so
    on (NSGA-II's fast non-dominated sort, Deb et al. 2002; O(m n^2) time, O(n^2) bits).
    Equal rows do not dominate each other, so duplicates are in the same front.

    Example:
        >>> fronts = non_dominated_sort([[1, 3], [2, 2], [3, 3], [1, 3]])
        >>> [front.tolist() for front in fronts]
        [[0, 1, 3], [2]]
    """
    array = _as_points(points)
    front = _front_numbers(array)
    if front.size == 0:
        return []
    order = np.argsort(front, kind="stable")  # stable: indices ascending in each front
    boundaries = np.flatnonzero(np.diff(front[order])) + 1
    return np.split(order, boundaries)


def pareto_mask(points: object) -> np.ndarray:
    """True for the non-dominated rows of ``points`` (duplicates of such a row included).

    Example:
        >>> pareto_mask([[1, 2], [2, 1], [2, 2]])
        array([ True,  True, False])
    """
    array = _as_points(points)
    if array.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    return ~_domination_matrix(array).any(axis=0)


def pareto_ids(
    ids: Sequence[int],
    values: Sequence[Sequence[float | None]],
    directions: Sequence[str],
    violation: Sequence[float] | None = None,
) -> set[int]:
    """The ids of the Pareto front: rows that are feasible (violation 0), have every
    value finite, and are dominated by no other such row.

    Unlike the array functions, rows here may hold None or NaN (a failed trial): they
    are left out, not refused.

    Example:
        >>> sorted(pareto_ids([3, 4, 5, 6], [[0.9, 3e6], [0.8, 1e6], [0.7, 2e6], [None, 1.0]],
        ...                   ["max", "min"]))
        [3, 4]
    """
    violation = [0.0] * len(ids) if violation is None else violation
    kept = [
        (trial_id, row)
        for trial_id, row, amount in zip(ids, values, violation)
        if amount == 0 and all(value is not None and math.isfinite(value) for value in row)
    ]
    if not kept:
        return set()
    mask = pareto_mask(as_minimised([row for _, row in kept], directions))
    return {trial_id for (trial_id, _), on_front in zip(kept, mask) if on_front}


def crowding_distance(points: object) -> np.ndarray:
    """NSGA-II's crowding distance of each row of one front: larger means less crowded.

    For each objective the rows are sorted by it (ties by row index, so the result is
    deterministic); the two extreme rows get infinity, and each other row adds the gap
    between its neighbours divided by the objective's range over the front. Rules for
    the degenerate cases:

    * a front of at most 2 rows: every row is infinite (all are extremes);
    * an objective whose range is zero (all rows equal in it) adds nothing, not even
      infinite extremes: which equal row is "extreme" would be arbitrary;
    * an objective whose range is infinite (an infinite value) gives its extremes
      infinity and adds nothing to the other rows (finite gaps over an infinite range).

    So a front of more than 2 identical rows is all zeros. Duplicate rows may get different
    distances: ties in an objective are ordered by row index.

    Example:
        >>> crowding_distance([[0, 4], [1, 2], [2, 1], [4, 0]])
        array([ inf, 1.25, 1.25,  inf])
    """
    array = _as_points(points)
    n, m = array.shape
    if n <= 2:
        return np.full(n, np.inf)
    distance = np.zeros(n)
    for objective in range(m):
        values = array[:, objective]
        order = np.argsort(values, kind="stable")
        ordered = values[order]
        span = ordered[-1] - ordered[0]
        if span == 0:
            continue
        distance[order[0]] = distance[order[-1]] = np.inf
        if np.isfinite(span):
            distance[order[1:-1]] += (ordered[2:] - ordered[:-2]) / span
    return distance


# ---------------------------------------------------------------------------------------
# A total order for selection (NSGA-II, MO-ASHA)


def _as_violation(violation: object | None, feasible: object | None, n: int) -> np.ndarray:
    if violation is not None and feasible is not None:
        raise ValueError("give violation or feasible, not both")
    if feasible is not None:
        mask = np.asarray(feasible)
        if mask.shape != (n,) or mask.dtype != bool:
            raise ValueError(f"feasible must be a boolean array of shape ({n},)")
        return (~mask).astype(float)
    if violation is None:
        return np.zeros(n)
    amounts = np.asarray(violation, dtype=float)
    if amounts.shape != (n,):
        raise ValueError(f"violation must have shape ({n},), got {amounts.shape}")
    if np.isnan(amounts).any() or (amounts < 0).any():
        raise ValueError("violation must be >= 0 (0: feasible) and not NaN")
    return amounts


def rank_order(
    points: object,
    violation: object | None = None,
    *,
    feasible: object | None = None,
) -> np.ndarray:
    """All row indices of ``points``, best first: a deterministic total order.

    The keys, most important first:

    1. total constraint violation, ascending: feasible rows (0) before every infeasible
       one, and less violation before more (Deb's constrained domination). ``feasible``
       (a boolean mask) is the same as ``violation = (~feasible) * 1.0``: infeasible rows
       then tie on this key;
    2. the Pareto front, computed among the rows that tie on key 1 (so infeasible rows
       are sorted into fronts among themselves, never against feasible ones);
    3. crowding distance within that front, descending (spread-out rows first, extremes
       of the front before everything else);
    4. row index, ascending: rows equal on every key keep their input order, so callers
       who want "older trial wins" pass rows in trial order.

    This is NSGA-II's selection, and the rung ranking of MO-ASHA (Schmucker et al. 2021)
    in its NSGA-II variant: non-dominated sorting, then crowding distance to break ties
    within a front (their epsilon-net tie-break is not implemented). Take the first k
    for the k best; ``np.argsort(order)`` gives each row's rank.

    Args:
        points: (n, m) objectives, all minimised.
        violation: (n,) total violation per row, >= 0, 0 meaning feasible (see
            :func:`total_violation`); None: every row is feasible.
        feasible: (n,) booleans instead of ``violation``.

    Example:
        >>> rank_order([[1, 3], [2, 2], [3, 1], [2, 3], [0, 0]], [0, 0, 0, 0, 2.5])
        array([0, 2, 1, 3, 4])
    """
    array = _as_points(points)
    n = array.shape[0]
    amounts = _as_violation(violation, feasible, n)
    front = np.zeros(n, dtype=np.int64)
    crowding = np.zeros(n)
    for level in np.unique(amounts):
        rows = np.flatnonzero(amounts == level)
        front[rows] = _front_numbers(array[rows])
        for number in np.unique(front[rows]):
            members = rows[front[rows] == number]
            crowding[members] = crowding_distance(array[members])
    # np.lexsort sorts by the last key first; -inf crowding sorts first as wanted.
    return np.lexsort((np.arange(n), -crowding, front, amounts))


# ---------------------------------------------------------------------------------------
# Hypervolume


def _hypervolume_2d(points: np.ndarray, reference: np.ndarray) -> float:
    """Area dominated by points (all strictly inside the reference box) in 2-D."""
    order = np.lexsort((points[:, 1], points[:, 0]))  # x ascending, then y ascending
    x, y = points[order, 0], points[order, 1]
    # Sweeping x upwards, a point adds the strip between its y and the lowest y seen
    # before it, from its x to the reference: [x, r_x] x [y, lowest_before).
    lowest_before = np.minimum.accumulate(np.concatenate(([reference[1]], y[:-1])))
    return float(np.sum((reference[0] - x) * np.clip(lowest_before - y, 0.0, None)))


def _hypervolume_sliced(points: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume by slicing along the last objective (HSO), for m >= 3.

    Between two consecutive values of the last objective, the dominated region is a
    prism: the (m-1)-D hypervolume of the points at or below the slice, times its
    thickness. Exact; O(n^(m-1) log n) time, fine for the fronts of a search.
    """
    last = points[:, -1]
    order = np.argsort(last, kind="stable")
    levels = np.append(last[order], reference[-1])
    total = 0.0
    for k in range(len(order)):
        thickness = levels[k + 1] - levels[k]
        if thickness > 0:
            total += thickness * _hypervolume_inside(points[order[: k + 1], :-1], reference[:-1])
    return total


def _hypervolume_inside(points: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume of points already known to lie strictly inside the reference box."""
    if points.shape[0] == 0:
        return 0.0
    m = points.shape[1]
    if m == 1:
        return float(reference[0] - points[:, 0].min())
    if m == 2:
        return _hypervolume_2d(points, reference)
    # Dominated points never change the volume: dropping them first shrinks every slice.
    return _hypervolume_sliced(points[pareto_mask(points)], reference)


def hypervolume(points: object, reference: object) -> float:
    """The volume dominated by ``points`` and bounded by ``reference`` (all minimised).

    The union of the boxes ``[p, reference]``. A row that is not strictly better than the
    reference in every objective adds nothing and is ignored. Exact for any number of
    objectives: a sweep in 2-D (O(n log n)), slicing along the last objective above
    (HSO: O(n^2 log n) in 3-D, O(n^(m-1) log n) in general, so keep m small).

    Example:
        >>> hypervolume([[1, 3], [2, 2], [3, 1]], reference=[4, 4])
        6.0
    """
    array, ref = _points_and_reference(points, reference)
    inside = array[(array < ref).all(axis=1)]
    return _hypervolume_inside(inside, ref)


def hypervolume_over_time(points: object, reference: object) -> np.ndarray:
    """``hv[k-1]`` = hypervolume of the first k rows, for k = 1..n: a search's progress.

    Rows are taken in order (trial order). The non-dominated set is kept incrementally and
    the hypervolume is recomputed only when a row enters it: n = 1000 in 2-D takes under
    0.1 s even when every row enters. In 3-D each entering row costs a hypervolume of the
    current front (O(f^2 log f)): about a second for 200 rows that all enter.

    The curve is made non-decreasing with a running maximum, which only hides rounding
    (the exact value never decreases); its last value equals :func:`hypervolume` of all
    rows up to rounding.

    Example:
        >>> hypervolume_over_time([[3, 1], [1, 3], [2, 2], [3, 3]], reference=[4, 4])
        array([3., 5., 6., 6.])
    """
    array, ref = _points_and_reference(points, reference)
    curve = np.zeros(array.shape[0])
    front = array[:0]
    volume = 0.0
    for k, point in enumerate(array):
        covered = (front <= point).all(axis=1).any()  # weakly dominated: nothing new
        if not covered and (point < ref).all():
            kept = ~(point <= front).all(axis=1)  # drop what the new point dominates
            front = np.vstack([front[kept], point])
            volume = _hypervolume_inside(front, ref)
        curve[k] = volume
    return np.maximum.accumulate(curve) if curve.size else curve


# ---------------------------------------------------------------------------------------
# Scalarisation (ParEGO)


def random_scalarization(rng: np.random.Generator | int | None, m: int) -> np.ndarray:
    """Weights drawn uniformly on the simplex (non-negative, summing to 1) for m objectives.

    ParEGO (Knowles 2006) draws from a fixed lattice of evenly spread weight vectors; a
    flat Dirichlet draw is its continuous counterpart and needs no lattice size.

    Example:
        >>> weights = random_scalarization(np.random.default_rng(0), 3)
        >>> weights.shape, bool(np.isclose(weights.sum(), 1.0))
        ((3,), True)
    """
    if m < 1:
        raise ValueError(f"need at least one objective, got m={m}")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return generator.dirichlet(np.ones(m))


def scalarize(
    points: object,
    weights: object,
    ideal: object | None = None,
    nadir: object | None = None,
    rho: float = PAREGO_RHO,
) -> np.ndarray:
    """ParEGO's augmented Chebyshev scalarisation of each row: lower is better.

    Each objective is first normalised to [0, 1] as ``(f - ideal) / (nadir - ideal)``,
    ``ideal`` and ``nadir`` defaulting to the column minimum and maximum of ``points``
    (pass them to scalarise new rows on the scale of earlier ones). An objective whose
    range is zero normalises to 0. Then (Knowles 2006)::

        s(f) = max_i w_i f_i  +  rho * sum_i w_i f_i,     rho = 0.05

    The max term reaches every Pareto-optimal point, even on concave parts of a front,
    for some weights; the small linear term breaks its ties in favour of non-dominated
    points.

    Example:
        >>> scalarize([[0, 10], [1, 0]], [0.5, 0.5])
        array([0.525, 0.525])
    """
    array = _as_points(points)
    m = array.shape[1]
    w = np.asarray(weights, dtype=float)
    if w.shape != (m,) or (w < 0).any() or np.isnan(w).any():
        raise ValueError(f"weights must be {m} non-negative numbers, got {w.tolist()}")
    low = array.min(axis=0) if ideal is None else _as_reference(ideal, m)
    high = array.max(axis=0) if nadir is None else _as_reference(nadir, m)
    span = high - low
    safe_span = np.where(span > 0, span, 1.0)
    normalised = np.where(span > 0, (array - low) / safe_span, 0.0)
    weighted = normalised * w
    return weighted.max(axis=1) + rho * weighted.sum(axis=1)


# ---------------------------------------------------------------------------------------
# Constraints

_CONSTRAINT_TEXT = re.compile(
    r"^\s*(?P<name>[^<>=!\s]+)\s*(?P<op><=|>=|==|=|<|>|!=)\s*(?P<bound>.*)$"
)
#: An identifier; ``@`` and digits may end it, as in ``latency_ms@64``.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*(@[0-9]+)?$")


@dataclass(frozen=True)
class Constraint:
    """A bound on one measured quantity, e.g. ``num_parameters <= 1e6``.

    Attributes:
        name: the objective or measure it bounds (a key of the rows given to
            :func:`total_violation`).
        op: ``"<="`` or ``">="``.
        bound: a finite number.

    Example:
        >>> c = Constraint.parse("num_parameters <= 1e6")
        >>> c.violation(8e5), c.violation(1.5e6)
        (0.0, 0.5)
    """

    name: str
    op: str
    bound: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"a constraint's name is an identifier (letters, digits, _ or ., and @N "
                f"at its end), "
                f"got {self.name!r}"
            )
        if self.op not in ("<=", ">="):
            raise ValueError(f"a constraint's operator is '<=' or '>=', got {self.op!r}")
        bound = float(self.bound)
        if not math.isfinite(bound):
            raise ValueError(f"a constraint's bound must be a finite number, got {self.bound}")
        object.__setattr__(self, "bound", bound)

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """A constraint from ``"NAME <= NUMBER"`` or ``"NAME >= NUMBER"``.

        Example:
            >>> Constraint.parse("latency_ms>=0.5")
            Constraint(name='latency_ms', op='>=', bound=0.5)
        """
        form = "write a constraint as 'NAME <= NUMBER' or 'NAME >= NUMBER'"
        match = _CONSTRAINT_TEXT.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"{form}, got {text!r}")
        name, op, bound_text = match["name"], match["op"], match["bound"].strip()
        if op not in ("<=", ">="):
            raise ValueError(f"{form}: {op!r} is not allowed (in {text!r})")
        if not _NAME.match(name):
            raise ValueError(f"{form}: {name!r} is not a name (in {text!r})")
        try:
            bound = float(bound_text)
        except ValueError:
            raise ValueError(f"{form}: {bound_text!r} is not a number (in {text!r})") from None
        if not math.isfinite(bound):
            raise ValueError(f"{form}: the bound must be finite (in {text!r})")
        return cls(name, op, bound)

    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.bound:g}"

    def violation(self, value: float) -> float:
        """How far ``value`` is on the wrong side of the bound; 0.0 when satisfied.

        Relative to ``|bound|`` (so ``params <= 1e6`` at 1.5e6 is 0.5), absolute when the
        bound is 0. Relative amounts let constraints in different units (parameters,
        milliseconds) be summed by :func:`total_violation` without one swamping the
        others. NaN counts as infinitely violated.

        Example:
            >>> Constraint("accuracy", ">=", 0.5).violation(0.25)
            0.5
        """
        value = float(value)
        if math.isnan(value):
            return math.inf
        excess = value - self.bound if self.op == "<=" else self.bound - value
        if excess <= 0:
            return 0.0
        return excess / abs(self.bound) if self.bound != 0 else excess


def total_violation(constraints: Sequence[Constraint], row: Mapping[str, float]) -> float:
    """The sum of the violations of ``constraints`` by one row of measures (0: feasible).

    A constraint whose measure is missing from ``row`` (or None) counts as infinitely
    violated: a missing measure means it failed or was never taken (a model that did not
    build has no latency), and treating it as satisfied would rank such trials above
    ones that were measured and found a little over the bound. Such rows still order
    among themselves by front in :func:`rank_order`.

    Example:
        >>> limits = [Constraint.parse("params <= 100"), Constraint.parse("ms <= 2")]
        >>> total_violation(limits, {"params": 150, "ms": 3.0})
        1.0
        >>> total_violation(limits, {"params": 50})
        inf
    """
    total = 0.0
    for constraint in constraints:
        value = row.get(constraint.name)
        total += math.inf if value is None else constraint.violation(value)
    return total
