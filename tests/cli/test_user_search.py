"""A user's own problem, searched from the shell the way a user does it.

Each test starts the real commands in a folder holding the user's module, with the
environment of a user's shell (no PYTHONPATH, no TensorFlow log level): the module must
be found by the driver, its worker processes and the MPI ranks, and the console must
hold the search's output, not TensorFlow's C++ logs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import NAS_SEARCH, nas_search_on_ranks, tensorflow_log_lines, user_environment

# Real trainings in fresh processes: tens of seconds each on a loaded 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DATA = """
import numpy as np
from nas.problem import Dataset


def load_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return Dataset(train=(x[:64], y[:64]), valid=(x[64:], y[64:]))
"""
#: A dense skip space of one layer, linear or identity, with or without a skip from the
#: input: four architectures, one of which (a Dense plus the skip, then relu) is the
#: pattern TensorFlow's oneDNN rewrite used to log an error for.
PROBLEM = """
from nas.problem import Problem

problem = Problem(
    "user_tabular",
    load_data,
    "spaces.dense_skip:dense_skip_space",
    space_kwargs={"input_shape": [4], "output_units": 2, "num_layers": 1,
                  "units": [8], "activations": [None]},
    hyperparameters={"batch_size": 16, "epochs": 1},
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    objective="val_accuracy",
    direction="max",
)
"""


def write_module(folder: Path) -> None:
    """``nas_user_tabular.py``, a problem module as a user writes one."""
    (folder / "nas_user_tabular.py").write_text(DATA + PROBLEM)


def run_command(folder: Path, command: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The installed ``command ARGUMENTS`` (``nas-train``, ``nas-export``: beside
    nas-search) run in ``folder``, as typed in a user's shell."""
    return subprocess.run(
        [str(NAS_SEARCH.with_name(command)), *arguments],
        cwd=folder,
        env=user_environment(),
        capture_output=True,
        text=True,
        timeout=540,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def nas_search(folder: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``nas-search ARGUMENTS`` run in ``folder``, as typed in a user's shell."""
    return run_command(folder, "nas-search", *arguments)


def explained(done: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"


def test_a_search_of_a_users_module_on_the_pool_prints_no_tensorflow_line(tmp_path):
    write_module(tmp_path)
    done = nas_search(
        tmp_path,
        *("--problem", "nas_user_tabular:problem", "--search", "grid"),
        *("--max-evals", "4", "--workers", "2", "--out", "run"),
    )
    assert done.returncode == 0, explained(done)
    assert "4 evaluations (0 failed)" in done.stdout, explained(done)
    assert tensorflow_log_lines(done.stdout + done.stderr) == [], explained(done)
    # Not a terminal: plain progress lines, no bar frames.
    assert "\r" not in done.stderr
    assert "4/4 evaluations (100%), best val_accuracy" in done.stderr, explained(done)
    assert "nas-export run --top 3" in done.stdout


def test_tf_logs_shows_tensorflows_lines(tmp_path):
    write_module(tmp_path)
    done = nas_search(
        tmp_path,
        *("--problem", "nas_user_tabular:problem", "--search", "random", "--tf-logs"),
        *("--max-evals", "1", "--evaluator", "serial", "--out", "run"),
    )
    assert done.returncode == 0, explained(done)
    assert tensorflow_log_lines(done.stderr), explained(done)


def test_a_problem_file_is_searched_from_another_folder(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    # The problem imports a module beside it, as python path/to/file.py would allow.
    (user / "nas_user_data.py").write_text(DATA)
    (user / "nas_user_file.py").write_text("from nas_user_data import load_data\n" + PROBLEM)
    (tmp_path / "elsewhere").mkdir()
    done = nas_search(
        tmp_path / "elsewhere",
        *("--problem", "../user/nas_user_file.py:problem", "--search", "random"),
        *("--max-evals", "2", "--workers", "2", "--out", "run"),
    )
    assert done.returncode == 0, explained(done)
    assert "2 evaluations (0 failed)" in done.stdout, explained(done)


@pytest.mark.mpi
def test_mpi_ranks_import_the_users_module_from_the_working_folder(tmp_path):
    write_module(tmp_path)
    done = nas_search_on_ranks(
        3,
        tmp_path / "run",
        *("--problem", "nas_user_tabular:problem", "--search", "random", "--max-evals", "2"),
        timeout=540,
        cwd=tmp_path,
    )
    assert "2 evaluations (0 failed)" in done.stdout, explained(done)
    assert tensorflow_log_lines(done.stdout + done.stderr) == [], explained(done)


#: The problem with a callbacks factory that logs each training's epochs to a CSV file
#: in the working folder, named after the trial and the folder it was given.
LOGGED = """
import keras


def log_epochs(info):
    where = "search" if info.directory is not None else "alone"
    return [keras.callbacks.CSVLogger(f"epochs_{where}_{info.trial_id}.csv")]


problem.callbacks = log_epochs
"""


def epochs_logged(path: Path) -> list[str]:
    return [line.split(",")[0] for line in path.read_text().splitlines()[1:]]


def test_the_users_callbacks_run_in_nas_train_the_search_and_a_retraining_export(tmp_path):
    (tmp_path / "nas_user_logged.py").write_text(DATA + PROBLEM + LOGGED)
    problem = ("--problem", "nas_user_logged:problem")

    done = run_command(tmp_path, "nas-train", *problem, "--epochs", "2")
    assert done.returncode == 0, explained(done)
    assert epochs_logged(tmp_path / "epochs_alone_0.csv") == ["0", "1"]

    (tmp_path / "epochs_alone_0.csv").unlink()

    search = ("--search", "random", "--max-evals", "2", "--evaluator", "serial")
    done = nas_search(tmp_path, *problem, *search, "--keep-models", "0", "--out", "run")
    assert done.returncode == 0, explained(done)
    for trial_id in (0, 1):
        assert epochs_logged(tmp_path / f"epochs_search_{trial_id}.csv") == ["0"]

    retrain = ("--top", "1", "--retrain", "--epochs", "2", "--out", "exported")
    done = run_command(tmp_path, "nas-export", "run", *retrain)
    assert done.returncode == 0, explained(done)
    [retrained] = tmp_path.glob("epochs_alone_*.csv")
    assert epochs_logged(retrained) == ["0", "1"]
