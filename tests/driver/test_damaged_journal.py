"""A damaged journal: one holding nothing yet resumes as a fresh start, a torn last line
is dropped as after any kill, and a bad line in its middle stops the resume naming the
file and the line, until ``--repair`` sets it aside and the search goes on."""

from __future__ import annotations

import json

import pytest

from nas import Study
from nas.cli import search_main
from nas.driver import JournalDamagedError, read_journal
from nas.evaluate import SimulatedEvaluator
from nas.problem import load_problem

PROBLEM = "problems.breast_cancer:problem"


def search(out, max_evals: int) -> int:
    """A new search on two simulated ranks, as a user runs it (no training: seconds)."""
    argv = ["--problem", PROBLEM, "--search", "random", "--seed", "3", "--workers", "2"]
    argv += ["--evaluator", "simulated", "--keep-models", "0", "--no-progress"]
    return search_main([*argv, "--out", str(out), "--max-evals", str(max_evals)])


def resume(out, max_evals: int, *more: str) -> int:
    return search_main(
        ["--resume", str(out), "--max-evals", str(max_evals), "--no-progress", *more]
    )


def finished_ids(out) -> list[int]:
    return sorted(trial.config.trial_id for trial in read_journal(out).finished)


def journal_lines(out) -> list[str]:
    return (out / "journal.jsonl").read_text().splitlines(keepends=True)


@pytest.mark.parametrize("damage", ["empty", "torn start record"])
def test_a_journal_holding_nothing_yet_resumes_as_a_fresh_start(tmp_path, damage):
    out = tmp_path / "run"
    assert search(out, 2) == 0
    start = journal_lines(out)[0]
    # A kill between creating the journal and its first (whole) write.
    (out / "journal.jsonl").write_text("" if damage == "empty" else start[:40])
    (out / "results.csv").unlink()
    assert resume(out, 3) == 0
    journal = read_journal(out)
    assert finished_ids(out) == [0, 1, 2] and journal.num_sessions == 1
    recorded = json.loads((out / "settings.json").read_text())
    assert journal.settings == recorded and recorded["seed"] == 3
    assert recorded["max_evals"] == 3  # the budget given again, the rest as recorded


def test_a_journal_holding_nothing_and_no_settings_is_started_again(tmp_path, capsys):
    out = tmp_path / "run"
    assert search(out, 2) == 0
    (out / "journal.jsonl").write_text(journal_lines(out)[0][:40])  # a lone torn start
    (out / "settings.json").unlink()
    capsys.readouterr()
    assert resume(out, 3) == 2  # nothing to resume: no settings recorded anywhere
    assert "holds no search to resume" in capsys.readouterr().err
    assert search(out, 3) == 0  # and nothing to protect: it starts again
    assert finished_ids(out) == [0, 1, 2] and read_journal(out).num_sessions == 1


def test_a_torn_last_line_is_dropped_as_after_a_kill(tmp_path, caplog):
    out = tmp_path / "run"
    assert search(out, 3) == 0
    with (out / "journal.jsonl").open("a") as journal:
        journal.write('{"event": "submit", "configs": [{"trial_id": 3, "arch')  # no newline
    assert resume(out, 5) == 0
    assert "dropped a torn last line" in caplog.text
    assert finished_ids(out) == [0, 1, 2, 3, 4] and not read_journal(out).num_duplicates


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ('{"event": "finish", "trial": {"config": {"trial', "not valid JSON"),
        ('{"event": "finish"}', "not a journal record (KeyError: 'trial')"),
        ("[1, 2]", "not a journal record (TypeError: a JSON list, not an object)"),
        ('{"event": "submit", "configs": 5, "search": {}}', "not a journal record (TypeError"),
        (
            '{"event": "rewind"}',
            "not a journal record (ValueError: unknown journal event 'rewind')",
        ),
    ],
)
def test_a_bad_line_in_the_middle_stops_the_resume_naming_file_and_line(
    tmp_path, capsys, bad_line, reason
):
    out = tmp_path / "run"
    assert search(out, 4) == 0
    lines = journal_lines(out)
    lines[2] = bad_line + "\n"
    (out / "journal.jsonl").write_text("".join(lines))
    capsys.readouterr()
    assert resume(out, 6) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert f"JournalDamagedError: {out / 'journal.jsonl'}:3: {reason}" in error
    assert "rerun with --repair" in error
    assert (out / "journal.jsonl").read_text() == "".join(lines)  # untouched


def test_repair_sets_the_bad_line_aside_and_the_search_completes_its_budget(tmp_path, capsys):
    out = tmp_path / "run"
    assert search(out, 6) == 0
    lines = journal_lines(out)
    finishes = [n for n, line in enumerate(lines) if json.loads(line)["event"] == "finish"]
    damaged = finishes[1]  # a finished trial whose record is lost: it runs again
    lost_id = json.loads(lines[damaged])["trial"]["config"]["trial_id"]
    lines[damaged] = lines[damaged][:70] + "\n"
    torn = '{"event": "submit", "configs": [{"trial_id": 6, "ar'  # and a kill's torn line
    (out / "journal.jsonl").write_text("".join(lines) + torn)
    capsys.readouterr()
    assert resume(out, 8, "--repair") == 0
    side = out / "journal.damaged.jsonl"
    message = capsys.readouterr().err
    assert f"set 1 damaged line(s) aside (line(s) {damaged + 1}) in {side}" in message
    [aside] = [json.loads(line) for line in side.read_text().splitlines()]
    assert aside["line"] == damaged + 1 and aside["text"] == lines[damaged][:-1]
    assert aside["reason"].startswith("not valid JSON")
    journal = read_journal(out)
    ids = [trial.config.trial_id for trial in journal.finished]
    assert sorted(ids) == list(range(8)) and not journal.num_duplicates  # each once
    assert lost_id in ids


def test_the_python_api_refuses_then_repairs_a_damaged_journal(tmp_path, capsys):
    problem = load_problem(PROBLEM)

    def study(max_evals, **options):
        return Study(
            problem, tmp_path, "random", max_evals, progress=False, seed=1, keep_models=0,
            evaluator=SimulatedEvaluator.for_problem(problem, 2), **options,
        )  # fmt: skip

    study(4).run()
    lines = journal_lines(tmp_path)
    lines.insert(3, "\n")  # a blank line: a block of the file zeroed, say
    (tmp_path / "journal.jsonl").write_text("".join(lines))
    with pytest.raises(JournalDamagedError, match=r"journal.jsonl:4: not valid JSON"):
        study(6, if_exists="resume").run()
    with pytest.raises(ValueError, match="repair=True .* if_exists='resume', not"):
        study(6, repair=True)
    results = study(6, if_exists="resume", repair=True).run()
    assert sorted(trial.config.trial_id for trial in results.trials) == list(range(6))
    assert "set 1 damaged line(s) aside (line(s) 4)" in capsys.readouterr().err
    assert json.loads((tmp_path / "journal.damaged.jsonl").read_text())["text"] == ""
    # A whole journal is left as it is.
    before = (tmp_path / "journal.jsonl").read_text()
    study(6, if_exists="resume", repair=True).run()
    assert "no damaged line, nothing to repair" in capsys.readouterr().err
    assert (tmp_path / "journal.jsonl").read_text().startswith(before)


def test_repair_applies_only_to_a_resume(capsys, tmp_path):
    argv = ["--problem", PROBLEM, "--out", str(tmp_path / "run"), "--repair"]
    assert search_main(argv) == 2
    assert "--repair applies to the journal of --resume DIR" in capsys.readouterr().err
