"""Keras callbacks per trial: the problem's ``callbacks`` factory, called in the worker
for each evaluation, and ``tensorboard=True`` (``nas-search --tensorboard``): per-trial
logs under ``DIR/tensorboard/<trial_id>`` with TensorBoard's HParams summary."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from types import SimpleNamespace

import cloudpickle
import numpy as np
import pytest
from conftest import nas_search_on_ranks

from nas import Study
from nas.cli import search_main
from nas.driver import read_journal
from nas.driver._study import CHANGEABLE
from nas.evaluate._evaluation import evaluate, problem_source, trial_callbacks
from nas.exceptions import ProblemError
from nas.problem import Dataset, Float, Problem, load_problem
from nas.train import Stage, Status
from nas.train._tensorboard import hparams_values
from nas.trial import Config, TrialInfo

#: A problem module as a user writes one: a callbacks factory recording, from the
#: worker, which trial each callback trained.
PROBLEM_MODULE = """
import json
import os

import keras
import numpy as np

from nas.problem import Dataset, Float, Problem


def load_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return Dataset(train=(x[:96], y[:96]), valid=(x[96:], y[96:]))


class Record(keras.callbacks.Callback):
    def __init__(self, info):
        super().__init__()
        self.info = info
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1

    def on_train_end(self, logs=None):
        if self.info.rank != 0:
            return
        folder = self.info.directory / "mine"
        folder.mkdir(exist_ok=True)
        record = {
            "pid": os.getpid(),
            "arch_seq": list(self.info.arch_seq),
            "learning_rate": self.info.hyperparameters["learning_rate"],
            "epochs": self.epochs,
        }
        (folder / f"{self.info.trial_id}.json").write_text(json.dumps(record))


def make_callbacks(info):
    return [Record(info)]


problem = Problem(
    "tiny_callbacks",
    load_data,
    "spaces.dense_skip:dense_skip_space",
    space_kwargs={"input_shape": [4], "output_units": 2, "num_layers": 1},
    hyperparameters={"learning_rate": Float(1e-3, 1e-1, log=True), "epochs": 2},
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    objective="val_accuracy",
    direction="max",
    callbacks=make_callbacks,
)
"""


def tiny_data() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return Dataset(train=(x[:96], y[:96]), valid=(x[96:], y[96:]))


def tiny_problem(callbacks=None, epochs=1) -> Problem:
    """A problem as a notebook makes it (no import string)."""
    return Problem(
        "tiny",
        tiny_data,
        "spaces.dense_skip:dense_skip_space",
        space_kwargs={"input_shape": [4], "output_units": 2, "num_layers": 1},
        hyperparameters={"learning_rate": Float(1e-3, 1e-1, log=True), "epochs": epochs},
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        objective="val_accuracy",
        direction="max",
        callbacks=callbacks,
    )


@pytest.fixture(scope="module")
def problem_file(tmp_path_factory) -> Path:
    # One file for the module: a second file of the same name would not import.
    path = tmp_path_factory.mktemp("problem") / "tiny_callbacks.py"
    path.write_text(PROBLEM_MODULE)
    return path


# -- without training -------------------------------------------------------------------


def test_a_callbacks_factory_must_be_a_function():
    with pytest.raises(ProblemError, match="callbacks must be a function"):
        tiny_problem(callbacks=["not", "a", "function"])


def test_configs_carry_the_search_folder_and_tensorboard_through_the_journal_format():
    config = Config(3, (1, 0), {"epochs": 1}, directory="runs/x", tensorboard=True)
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    old = {k: v for k, v in config.to_dict().items() if k not in ("directory", "tensorboard")}
    assert Config.from_dict(old) == Config(3, (1, 0), {"epochs": 1})  # an older journal


def test_the_factory_gets_the_trial_and_its_callbacks_follow_tensorboards(tmp_path):
    import keras

    seen = []

    def factory(info):
        seen.append(info)
        return [keras.callbacks.Callback()]

    problem = tiny_problem(callbacks=factory)
    config = Config(7, (1, 0), {"learning_rate": 0.01}, directory=str(tmp_path), tensorboard=True)
    made = trial_callbacks(problem, config)
    assert seen == [TrialInfo(config, tmp_path, 0, 1)]
    assert (seen[0].trial_id, seen[0].arch_seq, seen[0].hyperparameters) == (
        7,
        (1, 0),
        {"learning_rate": 0.01},
    )
    kinds = [type(callback).__name__ for callback in made]
    assert kinds == ["TensorBoard", "HParamsSummary", "Callback"]
    assert Path(made[0].log_dir) == tmp_path / "tensorboard" / "7"
    # Rank 1 of a group of 2: its own callbacks, not TensorBoard's (rank 0 writes them).
    group = SimpleNamespace(Get_rank=lambda: 1, Get_size=lambda: 2)
    assert [type(c).__name__ for c in trial_callbacks(problem, config, group)] == ["Callback"]
    assert seen[-1] == TrialInfo(config, tmp_path, 1, 2)
    # Outside a search (no folder), no TensorBoard logs.
    bare = Config(7, (1, 0))
    assert [type(c).__name__ for c in trial_callbacks(problem, bare)] == ["Callback"]
    assert seen[-1].directory is None


def test_a_factory_that_fails_fails_the_evaluation_naming_it(tmp_path):
    def broken(info):
        raise RuntimeError("no such logger")

    def wrong(info):
        return ["a callback?"]

    config = Config(4, (1, 0), {}, directory=str(tmp_path))
    result = evaluate(problem_source(tiny_problem(callbacks=broken)), config, None)
    assert (result.status, result.error_stage) == (Status.FAILED, Stage.SETUP)
    assert result.error == (
        "the callbacks factory of problem 'tiny' failed for trial 4: RuntimeError: no such logger"
    )
    result = evaluate(problem_source(tiny_problem(callbacks=wrong)), config, None)
    assert result.status is Status.FAILED
    assert "must return a list of keras.callbacks.Callback, got 'a callback?'" in result.error


def test_a_notebook_factory_travels_with_the_pickled_problem():
    records = []  # a closure over the session's state: cloudpickle carries it by value
    problem = tiny_problem(callbacks=lambda info: records.append(info.trial_id) or [])
    copy = pickle.loads(cloudpickle.dumps(problem))
    assert copy.callbacks(TrialInfo(Config(5, (0, 0)))) == []


def test_hparams_values_are_what_the_hparams_summary_takes():
    values = hparams_values(
        (1, np.int64(0)), {"learning_rate": np.float32(0.5), "optimizer": "adam", "x": [1]}
    )
    assert values == {"learning_rate": 0.5, "optimizer": "adam", "x": "[1]", "arch_seq": "[1, 0]"}


def test_tensorboard_is_a_setting_a_resume_may_change(tmp_path):
    assert "tensorboard" in CHANGEABLE
    with pytest.raises(ValueError, match="tensorboard must be True or False"):
        Study(tiny_problem(), tmp_path, tensorboard="yes")
    study = Study(tiny_problem(), tmp_path, tensorboard=True)
    assert study.settings["tensorboard"] is True


# -- training ---------------------------------------------------------------------------


def read_tensorboard(run: Path) -> dict:
    """The hparams plugin data and the scalars (as tensors) TensorBoard reads in ``run``
    and its ``train``/``validation`` sub-runs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found = {}
    for name in ("", "train", "validation"):
        accumulator = EventAccumulator(str(run / name), size_guidance={"tensors": 0})
        accumulator.Reload()
        try:
            hparams = accumulator.PluginTagToContent("hparams")
        except KeyError:
            hparams = {}
        found[name] = {
            "hparams": hparams,
            "tensors": {
                tag: [float(np.asarray(_tensor(e))) for e in accumulator.Tensors(tag)]
                for tag in accumulator.Tags()["tensors"]
                if tag not in hparams
            },
        }
    return found


def _tensor(event):
    import tensorflow as tf

    return tf.make_ndarray(event.tensor_proto)


def check_trial_logs(directory: Path, trial_id: int, epochs: int) -> None:
    logs = read_tensorboard(directory / "tensorboard" / str(trial_id))
    assert "_hparams_/session_start_info" in logs[""]["hparams"]
    objective = logs[""]["tensors"]["objective"]
    assert len(objective) == epochs and objective == sorted(objective)  # best so far
    assert len(logs["train"]["tensors"]["epoch_loss"]) == epochs
    assert len(logs["validation"]["tensors"]["epoch_accuracy"]) == epochs


def check_hparams(directory: Path, trial_id: int, config: Config) -> None:
    from tensorboard.plugins.hparams import plugin_data_pb2

    run = directory / "tensorboard" / str(trial_id)
    content = read_tensorboard(run)[""]["hparams"]["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert start.group_name == str(trial_id)
    assert start.hparams["arch_seq"].string_value == str(list(config.arch_seq))
    rate = config.hyperparameters["learning_rate"]
    assert start.hparams["learning_rate"].number_value == pytest.approx(rate)


@pytest.mark.slow
def test_pool_workers_call_the_factory_per_trial_and_write_tensorboard_logs(
    problem_file, tmp_path
):
    run = tmp_path / "run"
    problem = load_problem(f"{problem_file}:problem")
    results = Study(
        problem,
        run,
        "random",
        2,
        evaluator="process",
        num_workers=2,
        seed=0,
        tensorboard=True,
        progress=False,
    ).run()
    assert all(trial.result.ok for trial in results.trials)
    for trial in results.trials:
        config = trial.config
        record = json.loads((run / "mine" / f"{config.trial_id}.json").read_text())
        assert record["pid"] != os.getpid()  # made and run in a worker process
        assert record["arch_seq"] == list(config.arch_seq)
        assert record["learning_rate"] == config.hyperparameters["learning_rate"]
        assert record["epochs"] == 2
        check_trial_logs(run, config.trial_id, epochs=2)
        check_hparams(run, config.trial_id, config)
    assert sorted(path.name for path in (run / "tensorboard").iterdir()) == ["0", "1"]


@pytest.mark.slow
def test_serial_tensorboard_logs_and_a_resume_that_turns_them_off(tmp_path):
    def study(max_evals, **options):
        return Study(
            tiny_problem(),
            tmp_path,
            "random",
            max_evals,
            evaluator="serial",
            seed=0,
            progress=False,
            **options,
        )

    study(1, tensorboard=True).run()
    check_trial_logs(tmp_path, 0, epochs=1)
    results = study(2, if_exists="resume").run()  # tensorboard=False now
    assert [trial.result.ok for trial in results.trials] == [True, True]
    assert [path.name for path in (tmp_path / "tensorboard").iterdir()] == ["0"]
    assert json.loads((tmp_path / "settings.json").read_text())["tensorboard"] is False
    # Overwriting the search removes its logs with its other files.
    study(1, if_exists="overwrite").run()
    assert not (tmp_path / "tensorboard").exists()


@pytest.mark.slow
def test_nas_search_tensorboard_writes_the_logs_and_keeps_the_setting(
    problem_file, tmp_path, capsys
):
    out = tmp_path / "run"
    argv = ["--problem", f"{problem_file}:problem", "--evaluator", "serial", "--seed", "0"]
    argv += ["--max-evals", "2", "--out", str(out), "--no-progress", "--tensorboard"]
    assert search_main(argv) == 0
    assert f"tensorboard --logdir {out / 'tensorboard'}" in capsys.readouterr().out
    journal = read_journal(out)
    for trial in journal.finished:
        check_trial_logs(out, trial.config.trial_id, epochs=2)
        check_hparams(out, trial.config.trial_id, trial.config)
        assert (out / "mine" / f"{trial.config.trial_id}.json").exists()
    assert json.loads((out / "settings.json").read_text())["tensorboard"] is True
    # A resume keeps it unless told otherwise.
    assert search_main(["--resume", str(out), "--max-evals", "3", "--no-progress"]) == 0
    assert (out / "tensorboard" / "2").is_dir()


#: The same problem trained by groups of 2 ranks, whose factory records every rank's call.
GROUP_PROBLEM_MODULE = (
    PROBLEM_MODULE.replace('"tiny_callbacks"', '"tiny_group_callbacks"')
    .replace('"epochs": 2}', '"epochs": 2, "num_ranks": 2}')
    .replace(
        "def make_callbacks(info):\n",
        "def make_callbacks(info):\n"
        "    folder = info.directory / 'calls'\n"
        "    folder.mkdir(exist_ok=True)\n"
        "    name = f'{info.trial_id}_{info.rank}_of_{info.num_ranks}'\n"
        "    (folder / name).write_text(str(os.getpid()))\n",
    )
)


@pytest.mark.slow
@pytest.mark.mpi
@pytest.mark.timeout(900)
def test_on_a_group_of_ranks_every_rank_calls_the_factory_and_the_first_writes_the_logs(
    tmp_path,
):
    path = tmp_path / "tiny_group_callbacks.py"
    path.write_text(GROUP_PROBLEM_MODULE)
    out = tmp_path / "run"
    done = nas_search_on_ranks(
        3, out, "--problem", f"{path}:problem", "--max-evals", "1", "--tensorboard"
    )
    (trial,) = read_journal(out).finished
    assert trial.result.ok and trial.result.num_ranks == 2, (trial.result.error, done.stdout)
    calls = sorted(path.name for path in (out / "calls").iterdir())
    assert calls == ["0_0_of_2", "0_1_of_2"]
    pids = {(out / "calls" / name).read_text() for name in calls}
    assert len(pids) == 2  # two ranks
    assert json.loads((out / "mine" / "0.json").read_text())["epochs"] == 2  # rank 0's
    check_trial_logs(out, 0, epochs=2)
    check_hparams(out, 0, trial.config)
    run = out / "tensorboard" / "0"
    for folder in (run, run / "train", run / "validation"):
        assert len(list(folder.glob("events.out.tfevents.*"))) == 1, folder  # one writer
