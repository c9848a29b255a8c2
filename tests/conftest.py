"""Shared test set-up: quiet TensorFlow, and skip hardware-bound markers where absent."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Rank scripts and small problems that tests run under mpirun: on the ranks' path.
MPI_SCRIPTS = ROOT / "tests" / "mpi_scripts"
#: The installed ``nas-search``, beside this interpreter.
NAS_SEARCH = Path(sys.executable).parent / "nas-search"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _skip_reason(marker: str) -> str | None:
    if marker == "mpi" and (
        shutil.which("mpirun") is None or not importlib.util.find_spec("mpi4py")
    ):
        return "needs mpirun and mpi4py (run scripts/setup.sh)"
    if marker == "horovod" and not importlib.util.find_spec("horovod"):
        return "needs Horovod built with TensorFlow and MPI (run scripts/setup.sh)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker in ("mpi", "horovod"):
            reason = _skip_reason(marker) if marker in item.keywords else None
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def rank_env() -> dict[str, str]:
    """The environment for mpirun: as in scripts/env.sh, with this python's bin first."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Rank scripts import the project's packages from the checkout, and the problems
    # of tests/mpi_scripts by name.
    paths = [str(ROOT), str(MPI_SCRIPTS), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    if os.geteuid() == 0:
        # Open MPI refuses to start ranks as root without both of these.
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def run_ranks(
    ranks: int,
    command: Sequence[str | Path],
    *,
    timeout: float,
    check: bool = True,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``mpirun --oversubscribe -np RANKS COMMAND...``; with ``check``, fail on error.

    ``command`` usually starts with ``sys.executable``. The output is captured and
    shown in full when the run fails, since a failing rank's traceback is in it. The
    ranks start in ``cwd`` (default: this process's working folder).
    """
    mpirun = shutil.which("mpirun")
    assert mpirun is not None, "no mpirun on PATH (run scripts/setup.sh)"
    full = [mpirun, "--oversubscribe", "-np", str(ranks), *map(str, command)]
    try:
        done = subprocess.run(
            full,
            env={**rank_env(), **(env or {})},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:  # a hang: show what the ranks said
        pytest.fail(
            f"{' '.join(full)} did not end within {timeout:g} s\n"
            f"--- stdout ---\n{_text(expired.stdout)[-20000:]}\n"
            f"--- stderr ---\n{_text(expired.stderr)[-20000:]}"
        )
    if check:
        assert done.returncode == 0, (
            f"{' '.join(full)} exited with {done.returncode}\n"
            f"--- stdout ---\n{done.stdout[-20000:]}\n--- stderr ---\n{done.stderr[-20000:]}"
        )
    return done


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def nas_search_on_ranks(
    ranks: int,
    out: Path,
    *arguments: str | Path,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``mpirun -np RANKS nas-search --evaluator mpi --out OUT --no-progress ARGUMENTS``,
    which must succeed (see :func:`run_ranks`)."""
    command = [NAS_SEARCH, "--evaluator", "mpi", "--out", out, "--no-progress", *arguments]
    return run_ranks(ranks, command, timeout=timeout, env=env, cwd=cwd)


#: TensorFlow's C++ logging: absl's ``E0000 00:00:1796198825.43 8488 file.cc:135]``, the
#: older ``2025-09-17 14:44:05.157831: I file.cc:32]``, or absl's notice before them.
_TENSORFLOW_LINE = re.compile(
    r"([IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\]"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\]"
    r"|WARNING: All log messages before absl::InitializeLog\(\))"
)


def tensorflow_log_lines(output: str) -> list[str]:
    """The lines of TensorFlow's C++ logging in a program's ``output`` (also one glued to
    the end of another line, as after a progress bar's frame)."""
    return [line for line in output.splitlines() if _TENSORFLOW_LINE.search(line)]


def user_environment() -> dict[str, str]:
    """This environment as a user's shell has it: no TensorFlow log level set, and no
    PYTHONPATH, so that only what nas itself does decides what is imported and shown."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL")
    }


@pytest.fixture
def training_state_probe() -> Callable[[], Any]:
    """Makes Keras callbacks telling whether the optimizer's and the compiled loss's and
    metrics' variables exist when ``fit`` starts, before it traces its train step
    (``probe.made``)."""
    import keras

    class Probe(keras.callbacks.Callback):
        made: bool | None = None

        def on_train_begin(self, logs=None):
            metrics = self.model.metrics  # a Metric made whole (Mean) has no built
            self.made = self.model.optimizer.built and all(
                getattr(metric, "built", True) for metric in metrics
            )

    return Probe


@pytest.fixture
def mpirun() -> Callable[..., subprocess.CompletedProcess[str]]:
    """:func:`run_ranks`, for tests that start real MPI ranks (mark them ``mpi``)."""
    return run_ranks


# -- searches to load (tests/results): run for real on the simulated evaluator --------

#: A maximised objective (val_accuracy), ASHA's decisions on three ranks.
RESULTS_PROBLEM = "problems.breast_cancer:problem"
RESULTS_ASHA = {"min_epochs": 1, "max_epochs": 9, "reduction_factor": 3}
RESULTS_MAX_EVALS = 12


def _simulated_search(problem: str, out: Path, max_evals: int = RESULTS_MAX_EVALS, resume=False):
    from nas import run_search

    return run_search(
        problem,
        out,
        "random",
        max_evals,
        evaluator="simulated",
        num_workers=3,
        seed=4,
        scheduler="asha",
        scheduler_kwargs=RESULTS_ASHA,
        keep_models=0,
        resume=resume,
        progress=False,
    )


@pytest.fixture
def simulated_search():
    """``simulated_search(problem, out, max_evals=12, resume=False)``: an ASHA search on
    three simulated ranks, as a user would run it (trials finish out of trial order, as
    on any parallel evaluator)."""
    return _simulated_search


@pytest.fixture(scope="session")
def finished_search(tmp_path_factory) -> Path:
    """The folder of a finished ASHA search of :data:`RESULTS_MAX_EVALS` trials on
    :data:`RESULTS_PROBLEM` (do not write to it: tests share it)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    _simulated_search(RESULTS_PROBLEM, out)
    return out


@pytest.fixture
def running_snapshot(finished_search, tmp_path):
    """``snapshot(lines, torn="")``: the search folder as a reader sees it while the
    search runs: the journal is append-only, so what was written after any moment is
    the end of the finished one; ``torn`` is half a line being written."""

    def snapshot(lines: int, torn: str = "") -> Path:
        out = tmp_path / f"at_{lines}{'_torn' if torn else ''}"
        out.mkdir()
        shutil.copy(finished_search / "settings.json", out)
        journal = (finished_search / "journal.jsonl").read_text().splitlines(keepends=True)
        (out / "journal.jsonl").write_text("".join(journal[:lines]) + torn)
        return out

    return snapshot


def _as_written_before_the_objective_was_recorded(settings: dict, problem: str) -> dict:
    settings = dict(settings, problem=problem)
    del settings["objective"], settings["direction"]
    return settings


@pytest.fixture
def earlier_version_snapshot(running_snapshot):
    """``snapshot(problem)``: a running search's folder as an earlier version wrote it,
    before the objective and its direction were recorded, with ``problem`` as the
    recorded reference of its problem."""

    def snapshot(problem: str) -> Path:
        out = running_snapshot(40)
        journal = out / "journal.jsonl"
        records = [json.loads(line) for line in journal.read_text().splitlines()]
        for record in records:
            if record.get("event") == "start":
                record["settings"] = _as_written_before_the_objective_was_recorded(
                    record["settings"], problem
                )
        journal.write_text("".join(json.dumps(record) + "\n" for record in records))
        settings = json.loads((out / "settings.json").read_text())
        settings = _as_written_before_the_objective_was_recorded(settings, problem)
        (out / "settings.json").write_text(json.dumps(settings))
        return out

    return snapshot


@pytest.fixture
def figures(monkeypatch):
    """The figures nas's plots save, in the order saved, to look at after the call."""
    from matplotlib.figure import Figure

    saved, savefig = [], Figure.savefig

    def recording_savefig(figure, *args, **kwargs):
        saved.append(figure)
        return savefig(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recording_savefig)
    return saved
