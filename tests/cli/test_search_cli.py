"""nas-search rejects bad flags with one readable line and exit status 2."""

from __future__ import annotations

import pytest

from nas.cli import search_main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--out", "x"], "--problem and --out are required (or --resume DIR)"),
        (["--problem", "p:q", "--out", "x", "--max-evals", "0"], "expected a positive int"),
        (["--problem", "p:q", "--out", "x", "--search", "annealing"], "invalid choice"),
        (["--problem", "p:q", "--out", "x", "--timeout", "-5"], "expected a positive number"),
        (["--resume", "no/such/run"], "holds no search to resume"),
        (["--resume", "a", "--out", "b"], "give either --out (a new search) or --resume DIR"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert search_main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1 and "Traceback" not in error


def test_a_problem_that_does_not_import_exits_1_naming_it(capsys, tmp_path):
    status = search_main(["--problem", "no_such_module:problem", "--out", str(tmp_path / "r")])
    assert status == 1
    assert "no_such_module" in capsys.readouterr().err
