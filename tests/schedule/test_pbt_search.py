"""Population-based training end to end: real trainings, real checkpoints.

The problem (tests/mpi_scripts/pbt_digest_problem.py) records digests of the weights and
optimizer state of every checkpoint saved and of every checkpoint loaded, so the tests
check that a copy starts from exactly what its source saved, not just from its path.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import MPI_SCRIPTS, nas_search_on_ranks

from nas.driver import read_journal, run_search
from nas.driver._driver import CHECKPOINTS_FOLDER
from nas.schedule import lineage
from nas.trial import Trial

PROBLEM = "pbt_digest_problem:problem"
EPOCHS = 3  # the problem's epochs


def check_population_based_training(
    out: Path, digests: Path, population: int, saved_before_resume: Sequence[int] = ()
) -> list[Trial]:
    """The run's lineage is complete and every continued checkpoint was loaded as saved."""
    trials = read_journal(out).finished
    by_id = {trial.config.trial_id: trial for trial in trials}
    assert all(trial.result.ok for trial in trials), [t.result.error for t in trials]
    records = [json.loads(line) for path in digests.glob("*.jsonl") for line in path.open()]
    saved = {r["path"]: r for r in records if r["event"] == "save"}
    loaded = defaultdict(list)
    for record in records:
        if record["event"] == "load":
            loaded[record["path"]].append(record)

    history = lineage(trials, "val_loss")
    assert sorted(history) == list(range(population))
    for steps in history.values():
        assert [step.step for step in steps] == list(range(len(steps)))
        assert steps[-1].end_epoch == EPOCHS  # every member trained to the end
    for trial in trials:
        config = trial.config
        if config.start_from is None:
            assert config.initial_epoch == 0
            continue
        parent = by_id[config.parent]
        assert config.start_from == parent.config.checkpoint_path
        assert config.initial_epoch == parent.config.initial_epoch + parent.result.epochs_trained
        path = str(Path(config.start_from).resolve())
        # Each load of the checkpoint (by its own member and by copies) got what was saved.
        assert loaded[path], f"trial {config.trial_id} never loaded {path}"
        for record in loaded[path]:
            for key in ("weights", "optimizer", "iterations"):
                assert record[key] == saved[path][key], (config.trial_id, key)
        assert saved[path]["iterations"] > 0  # optimizer state came along, not a fresh one

    copies = [s for steps in history.values() for s in steps if s.action == "exploit"]
    assert copies, "no member copied another: the test proves nothing"
    for step in copies:
        copy, source = by_id[step.trial_id], by_id[step.copied_trial]
        assert source.config.info["pbt"]["member"] == step.copied_member != step.member
        assert copy.config.parent == source.config.trial_id
        assert copy.config.arch_seq == source.config.arch_seq
        differing = {
            name
            for name, value in copy.config.hyperparameters.items()
            if value != source.config.hyperparameters[name]
        }
        assert differing <= {"learning_rate"}
        assert step.copied_learning_rate == source.config.hyperparameters["learning_rate"]
        # The copy's weights are its source's, not those of its own previous segment.
        own = history[step.member][step.step - 1]
        own_path = by_id[own.trial_id].config.checkpoint_path
        source_path = str(Path(copy.config.start_from).resolve())
        if own_path is not None and str(Path(own_path).resolve()) in saved:
            own_saved = saved[str(Path(own_path).resolve())]
            assert own_saved["weights"] != saved[source_path]["weights"]
    # Nothing is left to continue: every checkpoint was released (but those saved before
    # a resume: the driver tracks only the checkpoints saved in its own session).
    left = {int(path.stem.split("_")[1]) for path in (out / CHECKPOINTS_FOLDER).glob("*.keras")}
    assert left <= set(saved_before_resume)
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert all(json.loads(row["info"])["pbt"]["member"] in range(population) for row in rows)
    return trials


@pytest.mark.slow
def test_a_pbt_search_stopped_by_its_budget_resumes_to_the_end(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(MPI_SCRIPTS))
    digests = tmp_path / "digests"
    digests.mkdir()
    monkeypatch.setenv("NAS_TEST_DIGESTS", str(digests))
    out = tmp_path / "run"
    arguments = {
        "search": "random",
        "evaluator": "serial",
        "seed": 2,
        "scheduler": "pbt",
        "scheduler_kwargs": {"population": 3, "interval": 1, "quantile": 0.5},
        "keep_models": 0,
        "progress": False,
    }
    first = run_search(PROBLEM, out, max_evals=5, **arguments)
    assert first is not None and len(first.trials) == 5
    resumed = run_search(PROBLEM, out, max_evals=100, resume=True, **arguments)
    assert resumed is not None and resumed.stop_reason is None
    # It ended by itself: 3 members x 3 segments at most, fewer when copies jump ahead.
    assert 3 * 2 <= len(resumed.trials) <= 3 * EPOCHS
    before = [trial.config.trial_id for trial in first.trials]
    check_population_based_training(out, digests, population=3, saved_before_resume=before)
    # One process trains every segment: those continuing a model it kept go on warm
    # (and were checked above to hold what their checkpoint holds).
    assert any(trial.result.warm for trial in resumed.trials)


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_pbt_search_of_four_members_under_mpirun_copies_weights(tmp_path):
    """Four members on two training ranks: members wait for a free rank, so they decide
    asynchronously, against members at other epochs (the case where a copy goes wrong)."""
    digests = tmp_path / "digests"
    digests.mkdir()
    out = tmp_path / "run"
    done = nas_search_on_ranks(
        3,  # rank 0 drives, two ranks train (a 2-core machine runs 3 TensorFlows at best)
        out,
        "--problem",
        PROBLEM,
        "--search",
        "random",
        "--scheduler",
        "pbt",
        "--pbt-population",
        "4",
        "--pbt-interval",
        "1",
        "--pbt-quantile",
        "0.5",
        "--keep-models",
        "2",
        "--max-evals",
        "100",
        "--seed",
        "3",
        timeout=540,
        env={"NAS_TEST_DIGESTS": str(digests)},
    )
    trials = check_population_based_training(out, digests, population=4)
    assert f"{len(trials)} evaluations (0 failed)" in done.stdout
    assert len(trials) <= 4 * EPOCHS  # it ended by itself, far below --max-evals
    assert len({trial.worker for trial in trials}) > 1  # members trained on several ranks
    assert len(list((out / "models").glob("*.keras"))) == 2
