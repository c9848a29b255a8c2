"""nas-search rejects bad flags with one readable line and exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas.cli import search_main
from nas.driver import read_journal

#: Small problems, given to the command line as a file.
TOY_PROBLEMS = Path(__file__).resolve().parent.parent / "driver" / "toy_problems.py"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--out", "x"], "--problem and --out are required (or --resume DIR)"),
        (["--problem", "p:q", "--out", "x", "--max-evals", "0"], "expected a positive int"),
        (
            ["--problem", "p:q", "--out", "x", "--search", "annealing"],
            "--search 'annealing': expected one of ['agebo', 'ambs', 'grid', 'random', 'regevo']",
        ),
        (["--problem", "p:q", "--out", "x", "--search-option", "kappa"], "expected NAME=VALUE"),
        (["--problem", "p:q", "--out", "a_file"], "--out a_file is a file: give a folder"),
        (["--problem", "p:q", "--out", "x", "--timeout", "-5"], "expected a positive number"),
        (["--resume", "no/such/run"], "holds no search to resume"),
        (["--resume", "a", "--out", "b"], "give either --out (a new search) or --resume DIR"),
        (
            ["--problem", "p:q", "--out", "x", "--warm-memory", "lots"],
            "expected a memory size such as 0, 512M or 2G, got 'lots'",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("not a folder")
    assert search_main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1 and "Traceback" not in error


def test_a_problem_that_does_not_import_exits_1_naming_it(capsys, tmp_path):
    status = search_main(["--problem", "no_such_module:problem", "--out", str(tmp_path / "r")])
    assert status == 1
    assert "no_such_module" in capsys.readouterr().err


def test_a_problem_whose_data_cannot_load_exits_1_before_any_worker_starts(capsys, tmp_path):
    out = tmp_path / "run"
    argv = ["--problem", f"{TOY_PROBLEMS}:failing_problem", "--max-evals", "4", "--out", str(out)]
    assert search_main([*argv, "--workers", "2", "--no-progress"]) == 1
    error = capsys.readouterr().err
    assert "loading the data failed: OSError: the data directory is not mounted" in error
    assert not (out / "journal.jsonl").exists()  # no evaluation was started


@pytest.mark.slow
def test_a_search_in_which_every_evaluation_failed_exits_1_naming_the_error(capsys, tmp_path):
    argv = ["--problem", f"{TOY_PROBLEMS}:untrainable_problem", "--evaluator", "serial"]
    status = search_main([*argv, "--max-evals", "2", "--out", str(tmp_path), "--no-progress"])
    assert status == 1
    assert "ValueError: the loss has a bug (2 of 2)" in capsys.readouterr().out


def test_any_search_parameter_is_reachable_with_search_option(tmp_path):
    argv = ["--problem", "problems.breast_cancer:problem", "--search", "agebo"]
    argv += ["--search-option", "kappa=1.96", "--search-option", "liar=best"]
    argv += ["--evaluator", "simulated", "--max-evals", "3", "--out", str(tmp_path)]
    assert search_main([*argv, "--no-progress"]) == 0
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["search_kwargs"] == {"kappa": 1.96, "liar": "best"}


def test_the_warm_memory_is_recorded_in_bytes_and_may_change_on_resume(tmp_path):
    argv = ["--problem", "problems.breast_cancer:problem", "--search", "random"]
    argv += ["--evaluator", "simulated", "--max-evals", "3", "--out", str(tmp_path)]
    assert search_main([*argv, "--warm-memory", "1.5G", "--no-progress"]) == 0
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["warm_memory"] == 3 * 2**29
    resume = ["--resume", str(tmp_path), "--max-evals", "4", "--warm-memory", "0"]
    assert search_main([*resume, "--no-progress"]) == 0
    assert json.loads((tmp_path / "settings.json").read_text())["warm_memory"] == 0


@pytest.mark.parametrize("damage", ["emptied", "removed"])
def test_a_search_whose_settings_file_was_lost_resumes_from_its_journal(tmp_path, damage):
    argv = ["--problem", "problems.breast_cancer:problem", "--search", "random", "--seed", "4"]
    argv += ["--evaluator", "simulated", "--out", str(tmp_path), "--no-progress"]
    assert search_main([*argv, "--max-evals", "3"]) == 0
    settings = tmp_path / "settings.json"
    recorded = json.loads(settings.read_text())
    settings.write_text("") if damage == "emptied" else settings.unlink()  # a kill's work
    resume = ["--resume", str(tmp_path), "--max-evals", "5", "--no-progress"]
    assert search_main(resume) == 0
    assert json.loads(settings.read_text()) == {**recorded, "max_evals": 5}
    assert len(read_journal(tmp_path).finished) == 5
