"""The best models are kept during a search and exported ready to use."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nas.cli import export_main
from nas.driver import run_search
from problems.breast_cancer import load_data

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def search_directory(tmp_path_factory):
    directory = tmp_path_factory.mktemp("search")
    run_search(
        "toy_problems:problem",
        directory,
        "random",
        max_evals=5,
        evaluator="serial",
        seed=2,
        keep_models=2,
        progress=False,
    )
    return directory


def test_only_the_best_models_are_kept(search_directory):
    from nas.driver import read_journal

    trials = read_journal(search_directory).finished
    objectives = {f"trial_{t.config.trial_id}.keras": t.result.objective for t in trials}
    kept = {path.name for path in (search_directory / "models").iterdir()}
    assert len(kept) == 2 and kept <= set(objectives), kept
    # No model left out scores better than one kept. Which of two equal scores is kept is
    # not checked: whether two trainings tie depends on the CPU's float kernels.
    worst_kept = min(objectives[name] for name in kept)
    assert all(objectives[name] <= worst_kept for name in set(objectives) - kept), objectives


def test_nas_export_writes_models_that_load_and_predict(search_directory, tmp_path, capsys):
    import keras
    import tensorflow as tf

    assert export_main([str(search_directory), "--top", "2", "--out", str(tmp_path)]) == 0
    folders = sorted(tmp_path.iterdir())
    assert [f.name.split("_")[0] for f in folders] == ["rank1", "rank2"]
    features = load_data().valid[0][:4]
    for folder in folders:
        model = keras.saving.load_model(folder / "model.keras")
        assert model.predict(features, verbose=0).shape == (4, 2)
        served = tf.saved_model.load(str(folder / "saved_model"))
        assert np.asarray(served.serve(features)).shape == (4, 2)
        document = json.loads((folder / "architecture.json").read_text())
        assert document["space"]["factory"] == "spaces.dense_skip:dense_skip_space"
        assert (folder / "architecture.png").read_bytes().startswith(b"\x89PNG")
    assert "rank 1: trial" in capsys.readouterr().out


def test_nas_export_retrains_when_asked_and_explains_missing_models(
    search_directory, tmp_path, capsys
):
    assert export_main([str(search_directory), "--top", "3", "--out", str(tmp_path)]) == 1
    assert "was not kept" in capsys.readouterr().err
    assert (
        export_main(
            [
                str(search_directory),
                "--top",
                "3",
                "--retrain",
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "retrained"),
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "retrained").iterdir())) == 3
