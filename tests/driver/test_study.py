"""The Python entry point, used as a notebook or a script uses it: objects in.

A problem made in the test (no module to import it from), search and scheduler objects,
evaluator objects, callbacks, a cell run twice, resumes that name what changed, and a
problem that cannot work failing once, before any worker starts.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import nas
from nas import Callback, Study
from nas.cli import status_main
from nas.driver import SearchFailedError, read_journal
from nas.evaluate import SerialEvaluator, SimulatedEvaluator
from nas.exceptions import NASError
from nas.export import export_best
from nas.plot import plot_search
from nas.problem import Dataset, Float, Problem, load_problem
from nas.schedule import ASHA
from nas.search import AgEBO, RandomSearch, RegularizedEvolution
from nas.space import ConstantNode, Layer, SearchSpace, VariableNode

SHIPPED = load_problem("problems.breast_cancer:problem")


def tiny_data() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return Dataset(train=(x[:96], y[:96]), valid=(x[96:], y[96:]))


def tiny_problem(load_data=tiny_data) -> Problem:
    """A problem as a notebook makes it: functions of the session, no import string."""
    return Problem(
        "tiny",
        load_data,
        "spaces.dense_skip:dense_skip_space",
        space_kwargs={"input_shape": [4], "output_units": 2, "num_layers": 1},
        hyperparameters={"learning_rate": Float(1e-3, 1e-1, log=True), "epochs": 1},
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        objective="val_accuracy",
        direction="max",
    )


def simulated(problem: Problem = SHIPPED, ranks: int = 4) -> SimulatedEvaluator:
    return SimulatedEvaluator.for_problem(problem, ranks)


@pytest.mark.slow
def test_a_problem_object_trains_with_search_and_evaluator_objects_and_callbacks(tmp_path):
    problem = tiny_problem()
    assert problem.reference is None  # nothing to import it by
    search = RegularizedEvolution.for_problem(problem, population_size=4, sample_size=2, seed=1)
    finished = []

    class Ends(Callback):
        def on_search_start(self, study):
            self.started_with = (study.search, study.evaluator)

        def on_search_end(self, results):
            self.results = results

    ends = Ends()
    with SerialEvaluator(problem) as evaluator:
        results = Study(
            problem,
            tmp_path,
            search,
            max_evals=3,
            evaluator=evaluator,
            callbacks=[finished.append, ends],
            progress=False,
        ).run()
    assert [trial.config.trial_id for trial in finished] == [0, 1, 2]
    assert all(trial.result.ok for trial in results.trials)
    assert ends.started_with == (search, evaluator) and ends.results is results
    assert search.num_told == 3
    # The best model is kept for nas-export in the study's folder, though the
    # evaluator was made without one.
    assert list((tmp_path / "models").glob("trial_*.keras"))
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["search"] == "regevo" and settings["problem_name"] == "tiny"
    assert settings["search_kwargs"] == {"population_size": 4, "sample_size": 2, "seed": 1}

    # Exported from the notebook it ran in: the problem object is given again, as the
    # folder has no reference to import it by; nothing else is retrained.
    with pytest.raises(NASError, match=r"problem 'tiny' as an object.*problem=problem"):
        export_best(tmp_path, top=1)
    (exported,) = export_best(tmp_path, top=1, problem=problem)
    import keras

    assert exported.trial.config.trial_id == results.best(1)[0].config.trial_id
    features = tiny_data().valid[0][:3]
    model = keras.saving.load_model(exported.folder / "model.keras")
    assert model.predict(features, verbose=0).shape == (3, 2)


def test_a_search_of_a_problem_object_loads_plots_and_reports_without_it(tmp_path, capsys):
    problem = tiny_problem()
    Study(
        problem,
        tmp_path,
        "random",
        6,
        evaluator=simulated(problem, ranks=2),
        seed=0,
        progress=False,
    ).run()
    results = nas.load_results(tmp_path)
    assert (results.objective, results.direction) == ("val_accuracy", "max")
    assert [trial.trial_id for trial in results.trials] == list(range(6))
    assert results.best(1)[0].objective == max(trial.objective for trial in results.trials)
    assert [path.name for path in plot_search(tmp_path)] == ["objective.png", "utilisation.png"]
    capsys.readouterr()
    assert status_main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "random on tiny" in printed and "6 of 6 evaluations" in printed


NOTEBOOK_SCRIPT = """
import numpy as np
import nas
from nas.problem import Dataset, Float, Problem
from nas.search import RandomSearch

def load_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return Dataset(train=(x[:96], y[:96]), valid=(x[96:], y[96:]))

problem = Problem(
    "from_main", load_data, "spaces.dense_skip:dense_skip_space",
    space_kwargs={"input_shape": [4], "output_units": 2, "num_layers": 1},
    hyperparameters={"learning_rate": Float(1e-3, 1e-1, log=True), "epochs": 1},
    loss="sparse_categorical_crossentropy", metrics=["accuracy"],
    objective="val_accuracy", direction="max",
)

def search():
    study = nas.Study(problem, "run", RandomSearch.for_problem(problem, seed=0),
                      max_evals=2, evaluator="process", num_workers=2, progress=False)
    results = study.run()
    print("ok", sum(trial.result.ok for trial in results.trials))
"""


@pytest.mark.slow
def test_a_problem_defined_in_a_scripts_main_reaches_the_pool_workers(tmp_path):
    # Its functions live in __main__, which spawned workers cannot import by name.
    script = tmp_path / "search.py"
    script.write_text(NOTEBOOK_SCRIPT + '\nif __name__ == "__main__":\n    search()\n')
    done = run_script(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "ok 2"


@pytest.mark.slow
def test_a_script_without_a_main_guard_gets_one_clear_message(tmp_path):
    script = tmp_path / "search.py"
    script.write_text(NOTEBOOK_SCRIPT + "\nsearch()\n")
    done = run_script(script)
    assert done.returncode == 1
    assert 'under `if __name__ == "__main__":`' in done.stderr
    # One traceback (the driver's), not one per worker.
    assert done.stderr.count("Traceback") == 1, done.stderr


def run_script(script) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, script.name],
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )


def test_running_the_same_cell_twice_offers_resume_or_overwrite(tmp_path):
    def study(max_evals, **options):
        return Study(
            SHIPPED,
            tmp_path,
            "random",
            max_evals,
            evaluator=simulated(),
            seed=0,
            progress=False,
            **options,
        )

    assert len(study(4).run().trials) == 4
    with pytest.raises(ValueError, match="pass if_exists='resume' .* or if_exists='overwrite'"):
        study(4).run()
    resumed = study(6, if_exists="resume").run()
    assert sorted(t.config.trial_id for t in resumed.trials) == list(range(6))
    again = study(3, if_exists="overwrite").run()
    assert sorted(t.config.trial_id for t in again.trials) == [0, 1, 2]
    assert len(read_journal(tmp_path).finished) == 3


def test_resuming_with_other_objects_names_the_difference(tmp_path):
    def study(search, **options):
        return Study(
            SHIPPED, tmp_path, search, 4, evaluator=simulated(), progress=False, **options
        )

    study(AgEBO.for_problem(SHIPPED, kappa=1.96, seed=3)).run()
    with pytest.raises(ValueError, match=r"search_kwargs: recorded \{.*'kappa': 1.96.*now"):
        study(AgEBO.for_problem(SHIPPED, kappa=0.5, seed=3), if_exists="resume").run()
    with pytest.raises(ValueError, match="search: recorded 'agebo', now 'random'"):
        study(RandomSearch.for_problem(SHIPPED, seed=3), if_exists="resume").run()
    # The same objects again continue it.
    resumed = study(AgEBO.for_problem(SHIPPED, kappa=1.96, seed=3), if_exists="resume")
    assert len(resumed.run().trials) == 4


def test_a_scheduler_object_is_recorded_and_made_again_on_resume(tmp_path):
    search = RandomSearch.for_problem(SHIPPED, seed=2)
    asha = ASHA(search, min_epochs=1, max_epochs=9, reduction_factor=3)
    first = Study(SHIPPED, tmp_path, search, 20, scheduler=asha, evaluator=simulated(), seed=2)
    first.progress = False
    first.run()
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["scheduler"] == "nas.schedule._asha:ASHA"
    assert settings["scheduler_kwargs"] == {
        "min_epochs": 1,
        "max_epochs": 9,
        "reduction_factor": 3,
    }
    # By name, as `nas-search --resume` does: the same scheduler, continued.
    resumed = Study(
        SHIPPED,
        tmp_path,
        settings["search"],
        30,
        scheduler=settings["scheduler"],
        scheduler_options=settings["scheduler_kwargs"],
        search_options=settings["search_kwargs"],
        evaluator=simulated(),
        seed=2,
        if_exists="resume",
        progress=False,
    ).run()
    assert len(resumed.trials) == 30
    assert max(t.config.info["rung"] for t in resumed.trials) >= 1  # promotions went on


def test_a_study_runs_once(tmp_path):
    study = Study(SHIPPED, tmp_path, "random", 2, evaluator=simulated(), progress=False)
    study.run()
    with pytest.raises(RuntimeError, match="this study has run: make a new Study"):
        study.run()


def test_a_search_made_for_another_problem_is_refused(tmp_path):
    other = RandomSearch.for_problem(tiny_problem())
    with pytest.raises(ValueError, match="the search was made for a space with choices"):
        Study(SHIPPED, tmp_path, other)


def test_a_search_already_told_results_is_refused(tmp_path):
    search = RandomSearch.for_problem(SHIPPED, seed=0)
    Study(SHIPPED, tmp_path / "a", search, 2, evaluator=simulated(), progress=False).run()
    with pytest.raises(ValueError, match="already been told results: make a new one"):
        Study(SHIPPED, tmp_path / "b", search, 2)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"search": "annealing"}, "unknown search 'annealing'; expected one of"),
        ({"scheduler": "hyperband"}, "unknown scheduler 'hyperband'"),
        ({"evaluator": "ray"}, "unknown evaluator 'ray'"),
        ({"if_exists": "append"}, "if_exists must be one of ['error', 'resume', 'overwrite']"),
        ({"max_evals": 0}, "max_evals must be a positive int, got 0"),
        ({"callbacks": [3]}, "a callback must be a nas.driver.Callback or a function"),
        ({"search_options": {"kappa": object()}}, "search_options must hold JSON values"),
    ],
)
def test_bad_arguments_are_refused_when_the_study_is_made(tmp_path, arguments, message):
    with pytest.raises(ValueError) as caught:
        Study(SHIPPED, tmp_path, **arguments)
    assert message in str(caught.value)


def test_an_output_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "results").write_text("")
    with pytest.raises(ValueError, match="is a file: give a folder"):
        Study(SHIPPED, tmp_path / "results")


def test_data_that_cannot_load_fails_once_before_any_worker_starts(tmp_path):
    def missing():
        raise FileNotFoundError("/scratch/data.npz")

    calls = []

    class Spy(SerialEvaluator):
        def submit(self, config):  # pragma: no cover - must not be reached
            calls.append(config)

    study = Study(tiny_problem(missing), tmp_path, evaluator=Spy(tiny_problem()))
    with pytest.raises(SearchFailedError, match="loading the data failed: FileNotFoundError"):
        study.run()
    assert calls == [] and not (tmp_path / "journal.jsonl").exists()


def reshaping_space(input_shape):
    """A space whose every model fails to build: 4 features cannot be reshaped to 3."""
    space = SearchSpace({"x": tuple(input_shape)})
    reshaped = space.add(ConstantNode(Layer("Reshape", target_shape=(3,))), space.input("x"))
    space.add(VariableNode([Layer("Dense", units=2), Layer("Dense", units=2)]), reshaped)
    return space


def test_a_space_that_never_builds_fails_once_before_any_worker_starts(tmp_path):
    problem = Problem(
        "unbuildable",
        tiny_data,
        reshaping_space,
        space_kwargs={"input_shape": [4]},
        loss="sparse_categorical_crossentropy",
    )
    with pytest.raises(SearchFailedError, match="none of 10 random architectures of its space"):
        Study(problem, tmp_path, evaluator="serial").run()
    assert not (tmp_path / "journal.jsonl").exists()


def test_data_that_do_not_fit_the_space_fail_once_before_any_worker_starts(tmp_path):
    # Nine input features in the space against the data's four: one line naming both,
    # before any worker starts, not once per evaluation from inside Keras.
    problem = Problem(
        "nine_features",
        tiny_data,
        "spaces.dense_skip:dense_skip_space",
        space_kwargs={"input_shape": [9], "output_units": 2, "num_layers": 1},
        loss="sparse_categorical_crossentropy",
    )
    with pytest.raises(SearchFailedError, match=r"input.*\(9,\).*\(4,\)|\(4,\).*\(9,\)"):
        Study(problem, tmp_path, evaluator="serial").run()
    assert not (tmp_path / "journal.jsonl").exists()
