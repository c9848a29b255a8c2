"""``nas-train``: in-process runs of ``train_main`` plus one subprocess smoke test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from nas.cli import COMMANDS, TrainCommand, train_main
from nas.problem import Dataset, Float, Problem
from nas.train import Status, TrainingResult

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "problems.breast_cancer:problem"


def toy_data() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    chance = float(np.mean(y[100:] == 1))
    return Dataset(
        train=(x[:100], y[:100]), valid=(x[100:], y[100:]), baselines={"majority_class": chance}
    )


def broken_data() -> Dataset:
    raise RuntimeError("the archive is corrupt")


@pytest.fixture
def toy_problems(monkeypatch):
    """A module of problems to point ``--problem`` at."""
    module = types.ModuleType("cli_toy_problems")
    for name, load_data in (("problem", toy_data), ("broken", broken_data)):
        setattr(
            module,
            name,
            Problem(
                name,
                load_data,
                "spaces.dense_skip:dense_skip_space",
                space_kwargs={"input_shape": [4], "output_units": 2, "num_layers": 1},
                hyperparameters={"learning_rate": Float(1e-3, 0.1, log=True), "epochs": 2},
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
                objective="val_accuracy",
                direction="max",
            ),
        )
    monkeypatch.setitem(sys.modules, "cli_toy_problems", module)
    return module


def error_line(capsys) -> str:
    """The whole of stderr, which must be one line."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_the_command_is_registered():
    assert COMMANDS["nas-train"] is TrainCommand


def test_help_exits_zero(capsys):
    assert train_main(["--help"]) == 0
    assert "--problem" in capsys.readouterr().out


@pytest.mark.slow
def test_train_prints_the_run_and_writes_json_and_a_drawing(toy_problems, tmp_path, capsys):
    output, drawing = tmp_path / "result.json", tmp_path / "arch.png"
    status = train_main(
        [
            "--problem",
            "cli_toy_problems:problem",
            "--arch",
            "[2, 1]",
            "--hp",
            "learning_rate=0.02",
            "--epochs",
            "3",
            "--json",
            str(output),
            "--draw",
            str(drawing),
        ]
    )
    printed, errors = capsys.readouterr()
    assert status == 0, errors
    assert "arch_seq       [2, 1]" in printed
    assert "learning_rate=0.02" in printed and "epochs=3" in printed
    assert "parameters     " in printed
    header = next(line for line in printed.splitlines() if line.startswith("epoch"))
    assert header.split() == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert "<- best" in printed
    result = TrainingResult.from_dict(json.loads(output.read_text()))
    assert result.status is Status.OK and result.arch_seq == [2, 1] and result.epochs_trained == 3
    assert f"objective      val_accuracy = {result.objective:.4f}" in printed
    assert "baselines      majority_class" in printed
    assert drawing.read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_random_architectures_follow_the_seed_and_arch_json_replays_them(
    toy_problems, tmp_path, capsys
):
    output = tmp_path / "result.json"
    arguments = ["--problem", "cli_toy_problems", "--epochs", "1", "--seed", "4"]
    assert train_main([*arguments, "--json", str(output)]) == 0
    first = json.loads(output.read_text())
    space = toy_problems.problem.build_space()
    assert first["arch_seq"] == space.sample(np.random.default_rng(4))
    replay = tmp_path / "replay.json"
    assert train_main([*arguments, "--arch-json", str(output), "--json", str(replay)]) == 0
    assert json.loads(replay.read_text())["arch_seq"] == first["arch_seq"]
    assert json.loads(replay.read_text())["objective"] == first["objective"]


def test_a_failed_training_exits_1_with_the_reason(toy_problems, capsys):
    assert train_main(["--problem", "cli_toy_problems:broken", "--arch", "[1, 0]"]) == 1
    printed = capsys.readouterr().out
    assert "status         failed" in printed
    assert "reason         data stage: RuntimeError: the archive is corrupt" in printed


@pytest.mark.parametrize(
    ("arguments", "culprit"),
    [
        (["--arch", "random"], "the following arguments are required: --problem"),
        (["--problem", "no_such_module:problem"], "--problem: cannot import module"),
        (["--problem", "cli_toy_problems:nothing"], "has no attribute 'nothing'"),
        (["--problem", "cli_toy_problems", "--arch", "[1, 0"], "--arch: expected 'random' or"),
        (["--problem", "cli_toy_problems", "--arch", "[1]"], "arch_seq has 1 entries"),
        (["--problem", "cli_toy_problems", "--arch", "[99, 0]"], "arch_seq[0] = 99"),
        (["--problem", "cli_toy_problems", "--arch-json", "missing.json"], "cannot read"),
        (["--problem", "cli_toy_problems", "--hp", "dropout=0.1"], "['dropout']"),
        (["--problem", "cli_toy_problems", "--hp", "epochs"], "expected KEY=VALUE"),
        (["--problem", "cli_toy_problems", "--hp", "optimizer=sgd"], "fixed at 'adam'"),
        (["--problem", "cli_toy_problems", "--epochs", "0"], "expected a positive int"),
        (["--problem", "cli_toy_problems", "--seed", "x"], "expected a non-negative int"),
        (["--problem", "cli_toy_problems", "--timeout", "-1"], "expected a positive number"),
        (["--problem", "cli_toy_problems", "--frobnicate"], "unrecognized arguments"),
        (["--problem", "p", "--arch", "[1]", "--arch-json", "f"], "not allowed with argument"),
    ],
)
def test_bad_flags_and_values_exit_2_with_one_line(toy_problems, capsys, arguments, culprit):
    assert train_main(arguments) == 2
    line = error_line(capsys)
    assert line.startswith("nas-train: error: ") and culprit in line
    assert "Traceback" not in line


def test_debug_shows_the_traceback(toy_problems, capsys):
    assert train_main(["--problem", "no_such_module:problem", "--debug"]) == 2
    error = capsys.readouterr().err
    assert "Traceback (most recent call last)" in error
    assert error.strip().splitlines()[-1].startswith("nas-train: error: --problem")


@pytest.mark.slow
def test_the_installed_command_runs_in_a_subprocess(tmp_path):
    script = shutil.which("nas-train") or str(Path(sys.executable).with_name("nas-train"))
    if os.access(script, os.X_OK):
        command = [script]
    else:  # not installed: run the entry point function as the script would
        command = [sys.executable, "-c", "from nas.cli import train_main; exit(train_main())"]
    output = tmp_path / "result.json"
    arguments = ["--problem", PROBLEM, "--epochs", "1", "--json", str(output)]
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run(
        command + arguments, capture_output=True, text=True, env=environment, timeout=240
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "objective      val_accuracy = " in completed.stdout
    assert json.loads(output.read_text())["status"] == "ok"
