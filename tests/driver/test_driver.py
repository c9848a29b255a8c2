"""The driver with real evaluators on a tiny real problem: journal, results, resume."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nas.cli import search_main
from nas.driver import read_journal, run_search

HERE = Path(__file__).parent
pytestmark = pytest.mark.slow


def read_results(directory: Path) -> list[dict[str, str]]:
    with (directory / "results.csv").open() as file:
        return list(csv.DictReader(file))


def test_serial_search_writes_journal_results_and_settings(tmp_path):
    results = run_search(
        "toy_problems:problem",
        tmp_path,
        "random",
        max_evals=3,
        evaluator="serial",
        seed=1,
        progress=False,
    )
    assert [t.config.trial_id for t in results.trials] == [0, 1, 2]
    rows = read_results(tmp_path)
    columns = list(rows[0])
    assert columns[:3] == ["trial_id", "arch_seq", "arch_hash"]
    assert columns[-20:] == [
        "objective",
        "status",
        "error",
        "submitted_at",
        "started_at",
        "finished_at",
        "duration",
        "worker",
        "num_parameters",
        "epochs_trained",
        "num_ranks",
        "global_batch_size",
        "samples_per_second",
        "startup_seconds",
        "epoch_seconds",
        "warm",
        "data_parallel",
        "info",
        "epochs_reached",
        "parent",
    ]
    assert {"hp_learning_rate", "hp_epochs"} <= set(columns[3:-20])
    assert [row["status"] for row in rows] == ["ok"] * 3
    assert all(float(row["objective"]) > 0.5 for row in rows)
    assert json.loads(rows[0]["arch_seq"]) == list(results.trials[0].config.arch_seq)
    events = [json.loads(line)["event"] for line in (tmp_path / "journal.jsonl").open()]
    assert events[0] == "start" and events.count("submit") == 3 and events.count("finish") == 3
    assert json.loads((tmp_path / "settings.json").read_text())["search"] == "random"
    with pytest.raises(ValueError, match="already holds a search: pass if_exists=.resume."):
        run_search("toy_problems:problem", tmp_path, "random", max_evals=3, evaluator="serial")


def test_process_pool_survives_a_worker_that_dies(tmp_path, monkeypatch):
    flag = tmp_path / "crash-once"
    flag.touch()
    monkeypatch.setenv("NAS_TEST_CRASH_FLAG", str(flag))
    results = run_search(
        "toy_problems:crashing_problem",
        tmp_path / "run",
        "regevo",
        max_evals=5,
        num_workers=2,
        seed=0,
        progress=False,
        search_kwargs={"population_size": 2, "sample_size": 2},
    )
    statuses = [trial.result.status.value for trial in results.trials]
    assert len(statuses) == 5 and statuses.count("failed") == 1
    (dead,) = [trial for trial in results.trials if not trial.result.ok]
    assert "died (killed by signal SIGKILL)" in dead.result.error
    assert sorted(t.config.trial_id for t in results.trials) == list(range(5))
    assert len({trial.worker for trial in results.trials}) >= 2


def test_a_killed_search_resumes_without_losing_or_repeating_evaluations(tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-c",
        "from nas.cli import search_main; raise SystemExit(search_main())",
        "--problem",
        "toy_problems:problem",
        "--search",
        "regevo",
        "--max-evals",
        "8",
        "--workers",
        "2",
        "--seed",
        "3",
        "--population-size",
        "3",
        "--sample-size",
        "2",
        "--out",
        str(out),
        "--no-progress",
    ]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    driver = subprocess.Popen(command, env=environment, start_new_session=True)
    try:
        _wait_for_finished(out, at_least=3, process=driver)
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have ended on its own
            os.killpg(driver.pid, signal.SIGKILL)  # the driver and its workers, at once
        driver.wait()
    before = read_journal(out)
    assert 3 <= len(before.finished) < 8 and before.unfinished

    results = run_search(
        "toy_problems:problem",
        out,
        resume=True,
        search="regevo",
        max_evals=8,
        num_workers=2,
        seed=3,
        progress=False,
        search_kwargs={"population_size": 3, "sample_size": 2},
    )
    ids = [trial.config.trial_id for trial in results.trials]
    assert sorted(ids) == list(range(8))  # none lost, none repeated
    for old in before.finished:  # finished evaluations are kept as they were
        assert results.trials[ids.index(old.config.trial_id)].result == old.result
    requeued = {config.trial_id: config for config in before.unfinished}
    for trial in results.trials:
        if trial.config.trial_id in requeued:
            assert trial.config == requeued[trial.config.trial_id]
    assert len(read_results(out)) == 8

    with pytest.raises(ValueError, match="different settings .*seed: recorded 3, now 4"):
        run_search(
            "toy_problems:problem",
            out,
            resume=True,
            search="regevo",
            max_evals=9,
            seed=4,
            search_kwargs={"population_size": 3, "sample_size": 2},
        )


def _wait_for_finished(out: Path, at_least: int, process: subprocess.Popen) -> None:
    deadline = time.time() + 240
    while time.time() < deadline:
        assert process.poll() is None, "the search ended before it could be killed"
        journal = out / "journal.jsonl"
        if journal.exists() and journal.read_text().count('"event": "finish"') >= at_least:
            return
        time.sleep(0.2)
    raise AssertionError("the search did not finish enough evaluations in time")


def test_nas_search_on_a_shipped_problem_with_the_process_pool(tmp_path, capsys):
    from nas.cli import search_main

    out = tmp_path / "breast_cancer"
    status = search_main(
        [
            "--problem",
            "problems.breast_cancer:problem",
            "--search",
            "agebo",
            "--max-evals",
            "2",
            "--workers",
            "2",
            "--seed",
            "0",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert status == 0
    rows = read_results(out)
    assert [row["status"] for row in rows] == ["ok", "ok"]
    assert {row["worker"] for row in rows} == {"process-0", "process-1"}
    assert all(float(row["objective"]) > 0.7 for row in rows)  # majority class: 0.63
    assert len(list((out / "models").iterdir())) == 2
    assert "2 evaluations (0 failed)" in capsys.readouterr().out


def test_a_problem_wider_than_the_evaluator_is_refused_before_any_evaluation(tmp_path):
    with pytest.raises(ValueError, match=r"num_ranks=2 .* serial evaluator runs at most 1"):
        run_search(
            "problems.breast_cancer:parallel_problem",
            tmp_path,
            "random",
            max_evals=2,
            evaluator="serial",
            progress=False,
        )
    assert not (tmp_path / "journal.jsonl").exists()


def test_sigterm_stops_nas_search_with_exit_0_and_a_resumable_directory(tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-c",
        "from nas.cli import search_main; raise SystemExit(search_main())",
        "--problem",
        "toy_problems:problem",
        "--search",
        "random",
        "--max-evals",
        "30",
        "--workers",
        "2",
        "--seed",
        "5",
        "--stop-grace",
        "0",
        "--out",
        str(out),
        "--no-progress",
    ]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    driver = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, text=True)
    try:
        _wait_for_finished(out, at_least=2, process=driver)
        driver.send_signal(signal.SIGTERM)  # to the driver only, as `kill PID` does
        stdout, _ = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, stdout
    assert "stopped early: received SIGTERM" in stdout
    assert f"nas-search --resume {out}" in stdout
    before = read_journal(out)
    assert 2 <= len(before.finished) < 30

    results = run_search(
        "toy_problems:problem",
        out,
        "random",
        max_evals=len(before.finished) + len(before.unfinished) + 1,
        num_workers=2,
        seed=5,
        resume=True,
        progress=False,
    )
    ids = sorted(trial.config.trial_id for trial in results.trials)
    assert ids == list(range(len(ids)))  # none lost, none repeated
    assert results.stop_reason is None and results.num_unfinished == 0


def test_nas_search_gives_up_after_consecutive_failures_with_exit_1(tmp_path, capsys):
    code = search_main(
        [
            "--problem",
            "toy_problems:untrainable_problem",
            "--evaluator",
            "serial",
            "--search",
            "random",
            "--max-evals",
            "50",
            "--max-consecutive-failures",
            "3",
            "--out",
            str(tmp_path / "run"),
            "--no-progress",
        ]
    )
    output = capsys.readouterr().out
    assert code == 1
    assert "3 evaluations (3 failed)" in output
    assert "3 evaluations in a row failed (the last: ValueError: the loss has a bug" in output


@pytest.mark.parametrize("seed", [0, 1])
def test_kills_at_random_instants_lose_and_repeat_nothing(tmp_path, seed):
    """SIGKILL of driver and workers at random instants, twice, then resume to the end."""
    rng = random.Random(seed)
    out = tmp_path / "run"
    base = [
        sys.executable,
        "-c",
        "from nas.cli import search_main; raise SystemExit(search_main())",
    ]
    first = [
        *base,
        "--problem",
        "toy_problems:problem",
        "--search",
        "random",
        "--max-evals",
        "6",
        "--workers",
        "2",
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--no-progress",
    ]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    seen: dict[int, object] = {}
    for kill in range(3):
        # Killed before it recorded anything (importing), a search is simply started again.
        resumable = (out / "settings.json").exists()
        command = [*base, "--resume", str(out), "--no-progress"] if resumable else first
        process = subprocess.Popen(
            command,
            env=environment,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if kill < 2:
            time.sleep(rng.uniform(1.0, 8.0))  # start-up, or mid-evaluation
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=600)
        for trial in read_journal(out).finished if (out / "journal.jsonl").exists() else []:
            assert seen.setdefault(trial.config.trial_id, trial.result) == trial.result
    assert process.returncode == 0
    ids = [trial.config.trial_id for trial in read_journal(out).finished]
    assert sorted(ids) == list(range(6))  # none lost, none repeated
