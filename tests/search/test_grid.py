"""Grid search: enumeration, spacing, validation, the budget, random subsets and resume.

All but the last tests are pure (milliseconds); the ``slow`` ones run the real driver
with the serial evaluator on the toy problem of ``tests/driver``.
"""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import pytest

from nas.driver import read_journal, run_search
from nas.problem import Categorical, Float, Int
from nas.search import GridSearch, Observation
from nas.search._grid import default_values

CHOICES = [3, 1, 2]
HYPERPARAMETERS = {
    "learning_rate": Float(1e-4, 1e-2, log=True),
    "batch_size": Int(16, 64),
    "optimizer": Categorical(["adam", "sgd"]),
    "epochs": 3,
}
TOY_DRIVER_FOLDER = Path(__file__).parents[1] / "driver"


def key(proposal) -> tuple:
    return (proposal.arch_seq, tuple(sorted(proposal.hyperparameters.items())))


def ask_all(search: GridSearch, chunk: int = 7) -> list:
    proposals = []
    while batch := search.ask(chunk):
        proposals += batch
    return proposals


def test_every_point_is_proposed_once_in_product_order_then_none():
    search = GridSearch(CHOICES, HYPERPARAMETERS, points=3)
    # Written out by hand, not derived from the search: 6 architectures x 3 x 3 x 2 x 1.
    expected = [
        (arch_seq, {"learning_rate": lr, "batch_size": bs, "optimizer": opt, "epochs": 3})
        for arch_seq, lr, bs, opt in itertools.product(
            itertools.product(range(3), range(1), range(2)),
            [1e-4, 1e-3, 1e-2],
            [16, 40, 64],
            ["adam", "sgd"],
        )
    ]
    assert search.size == len(expected) == 108
    proposals = ask_all(search)
    assert [(p.arch_seq, dict(p.hyperparameters)) for p in proposals] == expected
    assert len({key(p) for p in proposals}) == 108  # nothing twice
    assert search.ask(5) == [] and search.remaining == 0
    assert search.describe() == (
        "grid of 108 points (3 learning_rate x 3 batch_size x 2 optimizer x 6 architectures)"
    )


def test_ask_returns_fewer_than_asked_when_the_grid_runs_out():
    search = GridSearch([5], {})
    assert [len(search.ask(3)) for _ in range(3)] == [3, 2, 0]


def test_ranges_are_spaced_evenly_or_geometrically_and_ints_are_rounded_once_each():
    assert default_values(Float(1e-4, 1e-1, log=True), 4) == (1e-4, 1e-3, 1e-2, 1e-1)
    assert default_values(Float(0.0, 1.0), 5) == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert default_values(Int(16, 256, log=True), 5) == (16, 32, 64, 128, 256)
    assert default_values(Int(1, 4), 3) == (1, 3, 4)  # 2.5 rounds half up
    assert default_values(Int(1, 3), 10) == (1, 2, 3)  # repeats dropped
    assert default_values(Int(1, 4, log=True), 6) == (1, 2, 3, 4)  # 1, 1.3, 1.7, 2.3, 3.0, 4
    assert default_values(Float(1e-3, 1e-1, log=True), 1) == (pytest.approx(1e-2),)  # default
    assert default_values(Categorical([True, 1, None]), 2) == (True, 1, None)
    search = GridSearch([], {"units": Int(1, 3), "rate": Float(0.0, 1.0)}, points=10)
    assert search.size == 3 * 10


def test_explicit_values_replace_the_spacing_and_are_checked():
    search = GridSearch([], HYPERPARAMETERS, values={"learning_rate": [1e-3, 5e-3]}, points=2)
    assert search.values["learning_rate"] == (1e-3, 5e-3)
    assert search.size == 2 * 2 * 2
    bad = [
        ({"learning_rate": [1e-3, 0.5]}, r"'learning_rate' = 0.5 is out of range"),
        ({"batch_size": [32, 2.5]}, r"'batch_size' = 2.5 \(float\) must be an int"),
        ({"optimizer": ["adam", "lbfgs"]}, r"'optimizer' = 'lbfgs' is not one of"),
        ({"epochs": [3, 4]}, r"'epochs' is fixed at 3"),
        ({"momentum": [0.9]}, r"unknown hyperparameter\(s\) \['momentum'\]"),
        ({"batch_size": [32, 32]}, r"grid values for 'batch_size' repeat 32"),
        ({"batch_size": []}, r"grid values for 'batch_size' must not be empty"),
        ({"batch_size": 32}, r"grid values for 'batch_size' must be a list"),
    ]
    for values, message in bad:
        with pytest.raises(ValueError, match=message):
            GridSearch([], HYPERPARAMETERS, values=values)


def test_architecture_lists_are_checked_against_the_space():
    search = GridSearch(CHOICES, {}, architectures=[[2, 0, 1], (0, 0, 0)])
    assert [p.arch_seq for p in ask_all(search)] == [(2, 0, 1), (0, 0, 0)]
    bad = [
        ([[0, 0]], r"architectures\[0\] = \[0, 0\] has 2 decisions; the space has 3"),
        ([[0, 0, 0], [0, 1, 0]], r"architectures\[1\] .* decision 1 = 1 is out of range"),
        ([[0, 0, -1]], r"decision 2 = -1 is out of range"),
        ([[0, 0, 1.0]], r"decision 2 = 1.0 must be an int"),
        ([[0, 0, 1], [0, 0, 1]], r"architectures\[1\] = \[0, 0, 1\] repeats architectures\[0\]"),
        ([], r"must not be empty"),
        ([5], r"architectures\[0\] = 5 must be a list of ints"),
        ("some", r"must be a list of arch_seqs, 'all' or None"),
    ]
    for architectures, message in bad:
        with pytest.raises(ValueError, match=message):
            GridSearch(CHOICES, {}, architectures=architectures)


def test_all_architectures_is_the_default_and_refused_when_huge():
    assert GridSearch(CHOICES, {}).size == GridSearch(CHOICES, {}, architectures="all").size == 6
    assert [p.arch_seq for p in ask_all(GridSearch([], {"epochs": 3}))] == [()]
    with pytest.raises(ValueError, match=r"enumerate 1048576 architectures \(more than 1000000"):
        GridSearch([4] * 10, {})


def test_num_ranks_is_just_another_dimension():
    hyperparameters = {"learning_rate": Float(1e-3, 1e-1), "num_ranks": Categorical([1, 2, 4])}
    proposals = ask_all(GridSearch([], hyperparameters, points=2))
    widths = [p.hyperparameters["num_ranks"] for p in proposals]
    assert sorted(widths) == [1, 1, 2, 2, 4, 4]


def test_a_grid_larger_than_the_budget_is_refused_naming_both_numbers():
    GridSearch(CHOICES, HYPERPARAMETERS, max_evals=108)  # exactly the budget: fine
    with pytest.raises(ValueError) as refusal:
        GridSearch(CHOICES, HYPERPARAMETERS, max_evals=100)
    message = str(refusal.value)
    assert "grid of 108 points" in message and "max_evals=100" in message
    assert "--max-evals" in message and "--grid-points" in message
    assert "subset='random'" in message and "\n" not in message


def test_a_random_subset_has_max_evals_distinct_points_reproducible_from_the_seed():
    def subset(seed, max_evals=20):
        search = GridSearch(CHOICES, HYPERPARAMETERS, seed, subset="random", max_evals=max_evals)
        return [key(p) for p in ask_all(search)]

    grid = {key(p) for p in GridSearch(CHOICES, HYPERPARAMETERS)}
    first = subset(seed=1)
    assert len(first) == 20 == len(set(first)) and set(first) <= grid
    assert subset(seed=1) == first
    assert subset(seed=2) != first
    # A larger budget extends the same random order: a resume with more evaluations.
    assert subset(seed=1, max_evals=50)[:20] == first
    # Without a budget, or with a larger one: every point once, in a random order.
    everything = subset(seed=1, max_evals=500)
    assert len(everything) == 108 and set(everything) == grid


def test_a_random_subset_of_a_huge_grid_is_drawn_without_listing_the_grid():
    hyperparameters = {f"x{i}": Float(0.0, 1.0) for i in range(12)}
    search = GridSearch(
        [10] * 6, hyperparameters, seed=0, points=10, subset="random", max_evals=1000
    )
    assert search.size == 10**18
    proposals = ask_all(search, chunk=100)
    assert len({key(p) for p in proposals}) == 1000


@pytest.mark.parametrize(
    ("seed", "options"),
    [(0, {}), (0, {"subset": "random", "max_evals": 60}), (None, {"subset": "random"})],
)
def test_resume_continues_where_it_stopped_with_nothing_twice_or_skipped(seed, options):
    """As the driver resumes: tell what finished, restore the state of the last ask.

    Of the 9 proposals asked, 4 are never told (they were running); the driver re-runs
    those from the journal, so the grid must go on after them, not propose them again.
    """
    search = GridSearch(CHOICES, HYPERPARAMETERS, seed, **options)
    asked = search.ask(4) + search.ask(5)
    finished = [Observation(p.arch_seq, p.hyperparameters, 1.0) for p in asked[:5]]
    search.tell(finished)
    state = json.loads(json.dumps(search.get_state()))  # as the journal keeps it

    resumed = GridSearch(CHOICES, HYPERPARAMETERS, seed, **options)
    resumed.tell(finished)
    resumed.set_state(state)
    rest = ask_all(resumed)
    assert [key(p) for p in rest] == [key(p) for p in ask_all(search)]
    total = search.size if "max_evals" not in options else options["max_evals"]
    keys = [key(p) for p in asked + rest]
    assert len(keys) == total == len(set(keys))


def test_a_state_that_does_not_fit_the_grid_is_refused():
    state = GridSearch(CHOICES, {}).get_state()
    with pytest.raises(ValueError, match="grid position 7 does not fit this grid of 6 points"):
        GridSearch(CHOICES, {}).set_state({**state, "position": 7})


# -- with the driver ------------------------------------------------------------------

TOY_ARCH = [1, 1, 2, 0, 1]  # the toy space has choices [31, 2, 31, 2, 2]


@pytest.fixture
def toy_problem(monkeypatch) -> str:
    monkeypatch.syspath_prepend(str(TOY_DRIVER_FOLDER))  # the serial evaluator imports it here
    return "toy_problems:problem"


@pytest.mark.slow  # loading the problem imports Keras
def test_run_search_refuses_a_grid_larger_than_the_budget_before_anything(toy_problem, tmp_path):
    with pytest.raises(ValueError, match=r"grid of 23064 points .* max_evals=50 evaluations"):
        run_search(toy_problem, tmp_path / "run", "grid", max_evals=50, evaluator="serial")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_run_search_ends_when_the_grid_is_exhausted(toy_problem, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="nas.driver")
    results = run_search(
        toy_problem,
        tmp_path,
        "grid",
        max_evals=5,
        evaluator="serial",
        seed=0,
        progress=False,
        search_kwargs={"architectures": [TOY_ARCH], "values": {"learning_rate": [0.01, 0.1]}},
    )
    configs = [
        (list(t.config.arch_seq), t.config.hyperparameters["learning_rate"])
        for t in results.trials
    ]
    assert configs == [(TOY_ARCH, 0.01), (TOY_ARCH, 0.1)]
    assert "grid of 2 points (2 learning_rate)" in caplog.text


@pytest.mark.slow
def test_a_resumed_random_subset_grows_with_the_budget(toy_problem, tmp_path):
    settings = {
        "search": "grid",
        "evaluator": "serial",
        "seed": 3,
        "progress": False,
        "search_kwargs": {"architectures": [TOY_ARCH], "subset": "random"},
    }
    first = run_search(toy_problem, tmp_path, max_evals=1, **settings)
    assert len(first.trials) == 1
    assert read_journal(tmp_path).search_state["position"] == 1
    again = run_search(toy_problem, tmp_path, max_evals=3, resume=True, **settings)
    rates = [trial.config.hyperparameters["learning_rate"] for trial in again.trials]
    assert sorted(rates) == [1e-3, 1e-2, 1e-1]  # the 3-point grid, each point once
    assert rates[0] == first.trials[0].config.hyperparameters["learning_rate"]
