"""A real search on the process pool, loaded and summarised while it runs in another
process and once it has finished, as a user watching it from a notebook would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import nas
from nas.cli import status_main
from nas.driver import read_journal

# Trains real (tiny) models: worker start-up and a few epochs, a minute on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

MAX_EVALS = 4


def nas_search(*arguments: str) -> subprocess.Popen:
    program = Path(sys.executable).parent / "nas-search"
    command = [str(program)] if program.exists() else [
        sys.executable, "-c", "from nas.cli import search_main; raise SystemExit(search_main())"
    ]  # fmt: skip
    return subprocess.Popen(
        [*command, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )


def wait_for_a_submission(out: Path, search: subprocess.Popen) -> None:
    while not (out / "journal.jsonl").exists() or not read_journal(out).submitted:
        assert search.poll() is None, search.communicate()[0]
        time.sleep(0.05)


def test_a_search_loaded_while_it_runs_and_once_it_has_finished(tmp_path, capsys):
    out = tmp_path / "run"
    search = nas_search(
        "--problem", "problems.breast_cancer:problem", "--search", "random",
        "--max-evals", str(MAX_EVALS), "--workers", "2", "--seed", "0",
        "--scheduler", "asha", "--min-epochs", "1", "--max-epochs", "2",
        "--reduction-factor", "2", "--keep-models", "0", "--no-progress", "--out", str(out),
    )  # fmt: skip
    try:
        wait_for_a_submission(out, search)
        running = nas.load_results(out)
        assert status_main([str(out)]) == 0
        summary = capsys.readouterr().out
    finally:
        output = search.communicate(timeout=540)[0]
    assert search.returncode == 0, output

    # While it ran: the workers were still starting when the first configs went out.
    submitted = len(running.trials) + len(running.running)
    assert submitted >= 1 and not running.progress.budget_reached
    assert [t.trial_id for t in running.trials + running.running] == list(range(submitted))
    assert all(trial.status == "running" and trial.rung == 0 for trial in running.running)
    assert f"of {MAX_EVALS} evaluations" in summary and "running    " in summary

    finished = nas.load_results(out)
    assert [trial.trial_id for trial in finished.trials] == list(range(MAX_EVALS))
    assert finished.running == [] and finished.progress.budget_reached
    assert all(trial.worker.startswith("process") for trial in finished.trials)
    for trial in finished.trials:
        assert trial.status in ("ok", "failed", "timeout")
        assert trial.rung in (0, 1) and trial.resource == trial.rung + 1
        assert trial.decision in ("candidate", "complete", "failed"), trial.reason
        assert trial.started_at <= trial.finished_at
    frame = finished.to_dataframe()
    assert frame.trial_id.tolist() == list(range(MAX_EVALS))
    assert pd.api.types.is_datetime64_any_dtype(frame.finished_at)
    assert frame.rung.dtype == "Int64" and frame.hp_batch_size.dtype == "Int64"
    assert status_main([str(out)]) == 0
    assert "time left  0 s (the budget is reached)" in capsys.readouterr().out
