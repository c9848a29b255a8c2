"""TensorFlow's C++ logs: the level each process of nas sets, and the lines TensorFlow
logs while it is imported, which only nas filters (TensorFlow ignores the level then)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import user_environment

from nas._imports import TF_LOG_LEVEL_VARIABLE, quiet_tensorflow_logs, without_tensorflow_logs

BANNER = "I0000 00:00:1796198804.799773    8435 port.cc:153] oneDNN custom operations are on.\n"
NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
WARNING = "W0000 00:00:1796198804.8    8435 tf_utils.cc:12] a warning\n"
ERROR = "E1231 23:59:59.999999    8488 tfg_optimizer_hook.cc:135] tfg_optimizer failed\n"
OLD_FORMAT = "2025-09-17 14:44:05.157831: I external/xla/cudart_stub.cc:32] no cuda\n"
FATAL = "F0000 00:00:1796198804.8    8435 cpu_feature_guard.cc:9] no AVX\n"
PYTHON = "/home/me/wine.py:3: UserWarning: features are not scaled\n"


@pytest.mark.parametrize(
    ("level", "kept"),
    [
        (0, [BANNER, NOTICE, WARNING, ERROR, OLD_FORMAT, FATAL, PYTHON]),
        (1, [NOTICE, WARNING, ERROR, FATAL, PYTHON]),
        (2, [ERROR, FATAL, PYTHON]),
        (3, [FATAL, PYTHON]),
    ],
)
def test_lines_below_the_level_are_dropped_and_others_kept(level, kept):
    text = "".join([BANNER, NOTICE, WARNING, ERROR, OLD_FORMAT, FATAL, PYTHON])
    assert without_tensorflow_logs(text, level) == "".join(kept)


def test_the_default_level_leaves_a_users_own_level_alone(monkeypatch):
    monkeypatch.delenv(TF_LOG_LEVEL_VARIABLE, raising=False)
    quiet_tensorflow_logs()
    assert os.environ[TF_LOG_LEVEL_VARIABLE] == "2"
    monkeypatch.setenv(TF_LOG_LEVEL_VARIABLE, "1")
    quiet_tensorflow_logs()
    assert os.environ[TF_LOG_LEVEL_VARIABLE] == "1"
    quiet_tensorflow_logs(show=True)  # --tf-logs: asked for on the command line
    assert os.environ[TF_LOG_LEVEL_VARIABLE] == "0"


# What a process importing TensorFlow writes to its stderr, from C++ and from Python, in
# the order it does (TensorFlow itself is not imported: it would take seconds).
WRITES = f"""
import os, sys
from nas._imports import tensorflow_logs_filtered
with tensorflow_logs_filtered():
    os.write(2, {BANNER.encode()!r})
    print("from python", file=sys.stderr)
    os.write(2, {ERROR.encode()!r})
os.write(2, {BANNER.encode()!r})  # after the import: TensorFlow's own level applies
"""


@pytest.mark.parametrize("level", ["2", "0"])
def test_what_an_import_writes_is_filtered_at_the_level_and_kept_in_order(level):
    env = {**user_environment(), TF_LOG_LEVEL_VARIABLE: level}
    done = subprocess.run(
        [sys.executable, "-c", WRITES], env=env, capture_output=True, text=True, check=True
    )
    held = [BANNER] if level == "0" else []
    assert done.stderr == "".join([*held, "from python\n", ERROR, BANNER])
