"""nas-search --search grid: its flags, what travels to run_search and resume, its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nas.cli._search as search_cli
from nas.cli import search_main

TOY_DRIVER_FOLDER = Path(__file__).parents[1] / "driver"
TOY_ARCHS = [[1, 1, 2, 0, 1], [0, 0, 0, 0, 0], [3, 1, 30, 1, 1]]  # choices [31, 2, 31, 2, 2]


@pytest.fixture
def calls(monkeypatch) -> list[dict]:
    """The keyword arguments of every run_search call, which does nothing."""
    received: list[dict] = []

    def fake_run_search(**kwargs):
        received.append(kwargs)

    monkeypatch.setattr(search_cli, "run_search", fake_run_search)
    return received


def test_grid_flags_become_search_kwargs_with_the_architectures_read(calls, tmp_path):
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps(TOY_ARCHS))
    argv = ["--problem", "p:q", "--out", str(tmp_path / "run"), "--search", "grid"]
    flags = ["--grid-points", "4", "--grid-architectures", str(archs), "--grid-subset", "random"]
    assert search_main(argv + flags) == 0
    assert calls[-1]["search"] == "grid"
    assert calls[-1]["search_kwargs"] == {
        "points": 4,
        "architectures": TOY_ARCHS,  # the list itself is recorded, not the file's path
        "subset": "random",
    }
    assert search_main([*argv, "--grid-architectures", "all"]) == 0
    assert calls[-1]["search_kwargs"] == {"architectures": "all"}


def test_a_resume_keeps_the_recorded_grid_and_accepts_the_same_flags_again(calls, tmp_path):
    recorded = {
        "problem": "p:q",
        "search": "grid",
        "max_evals": 12,
        "search_kwargs": {"points": 4, "architectures": TOY_ARCHS},
    }
    (tmp_path / "settings.json").write_text(json.dumps(recorded))
    assert search_main(["--resume", str(tmp_path), "--max-evals", "20"]) == 0
    assert calls[-1]["search_kwargs"] == recorded["search_kwargs"]
    assert calls[-1]["max_evals"] == 20
    assert search_main(["--resume", str(tmp_path), "--grid-points", "4"]) == 0
    assert calls[-1]["search_kwargs"] == recorded["search_kwargs"]


@pytest.mark.parametrize(
    ("flags", "contents", "message"),
    [
        (["--grid-points", "0"], None, "--grid-points: expected a positive int, got '0'"),
        (["--grid-subset", "first"], None, "--grid-subset: invalid choice: 'first'"),
        (["--grid-architectures", "missing.json"], None, "cannot read missing.json"),
        (["--grid-architectures", "archs.json"], "[[0, 1", "archs.json is not valid JSON"),
        (["--grid-architectures", "archs.json"], '{"a": 1}', "must hold a JSON list of"),
        (["--search", "regevo", "--grid-points", "3"], None, "applies only to --search grid"),
    ],
)
def test_bad_grid_flags_exit_2_with_one_line(
    flags, contents, message, calls, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    if contents is not None:
        Path("archs.json").write_text(contents)
    search = [] if "--search" in flags else ["--search", "grid"]
    assert search_main(["--problem", "p:q", "--out", "run", *search, *flags]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1 and "Traceback" not in error
    assert not calls


@pytest.mark.slow  # loading the problem imports Keras
def test_a_grid_larger_than_the_budget_exits_1_with_one_line_naming_both(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.syspath_prepend(str(TOY_DRIVER_FOLDER))
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps(TOY_ARCHS))
    out = tmp_path / "run"
    argv = ["--problem", "toy_problems:problem", "--search", "grid", "--out", str(out)]
    flags = ["--grid-points", "4", "--grid-architectures", str(archs), "--max-evals", "5"]
    assert search_main([*argv, *flags, "--evaluator", "serial"]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert "grid of 12 points (4 learning_rate x 3 architectures)" in error
    assert "max_evals=5" in error and "--grid-subset random" in error
    assert not out.exists()  # nothing started: the same --out works once corrected
