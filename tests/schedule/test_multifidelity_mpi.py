"""ASHA and RASDA with real training under ``mpirun --oversubscribe``: 1 driver rank and
3 training ranks (widths 1 and 2), ten segments each.

Every run must end by itself. From the journal and the saved models: a promoted segment
starts at the epoch its parent reached, and its optimizer went on counting steps from
the parent's (its state came with the checkpoint); widths and learning rates follow the
scheduler's rule.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import nas_search_on_ranks

from nas.train._group import warmup_plan

# About a minute each on an idle 2-core machine; the timeout leaves room for a busy one.
pytestmark = [pytest.mark.mpi, pytest.mark.slow, pytest.mark.timeout(900)]

NUM_TRAIN, BATCH_SIZE = 455, 64  # as in tests/mpi_scripts/multifidelity_problem.py
RESOURCES = [1, 2, 4]  # --min-epochs 1 --max-epochs 4 --reduction-factor 2


def search(out: Path, scheduler: str, problem: str = "problem") -> dict[int, dict]:
    """Run a search of ten segments; its finished trials by id."""
    done = nas_search_on_ranks(
        4,
        out,
        "--problem",
        f"multifidelity_problem:{problem}",
        "--search",
        "random",
        "--scheduler",
        scheduler,
        "--min-epochs",
        "1",
        "--max-epochs",
        "4",
        "--reduction-factor",
        "2",
        "--max-evals",
        "10",
        "--keep-models",
        "10",
        "--seed",
        "3",
    )
    assert "10 evaluations (0 failed)" in done.stdout, done.stdout
    events = [json.loads(line) for line in (out / "journal.jsonl").open()]
    return {
        event["trial"]["config"]["trial_id"]: event["trial"]
        for event in events
        if event["event"] == "finish"
    }


def steps_per_epoch(width: int) -> int:
    """Optimizer steps of one epoch on ``width`` ranks (each takes an equal shard)."""
    return math.ceil((NUM_TRAIN // width) / BATCH_SIZE)


def check_segments(trials: dict[int, dict], out: Path) -> list[tuple[dict, object]]:
    """Check continuation from the journal and the saved models; return (trial, model)."""
    import keras

    import nas.space  # noqa: F401  (registers the space's layers for loading)

    promoted = [t for t in trials.values() if t["config"]["parent"] is not None]
    assert promoted, "no configuration was promoted"
    checked = []
    for trial in trials.values():
        config, result, info = trial["config"], trial["result"], trial["config"]["info"]
        assert config["epochs"] == RESOURCES[info["rung"]]
        assert result["status"] == "ok", result["error"]
        steps = 0
        chain = trial
        while chain is not None:  # the optimizer steps of every segment up to this one
            steps += chain["result"]["epochs_trained"] * steps_per_epoch(
                chain["result"]["num_ranks"]
            )
            parent = chain["config"]["parent"]
            if parent is not None:
                reached = trials[parent]["config"]["initial_epoch"]
                reached += trials[parent]["result"]["epochs_trained"]
                assert chain["config"]["initial_epoch"] == reached
                assert (
                    chain["config"]["info"]["config"] == trials[parent]["config"]["info"]["config"]
                )
            chain = None if parent is None else trials[parent]
        assert config["initial_epoch"] + result["epochs_trained"] == config["epochs"]
        model = keras.saving.load_model(out / "models" / f"trial_{config['trial_id']}.keras")
        # Continued, not restarted: the step count includes the parents' steps.
        assert int(model.optimizer.iterations.numpy()) == steps, trial
        checked.append((trial, model))
    return checked


def test_asha_promotes_configurations_that_continue_their_checkpoints(tmp_path):
    trials = search(tmp_path, "asha")
    for trial, model in check_segments(trials, tmp_path):
        config = trial["config"]
        hyperparameters = config["hyperparameters"]
        width = trial["result"]["num_ranks"]
        assert width == hyperparameters["num_ranks"]  # ASHA leaves the width to the search
        # The default data-parallel rule, linear scaling, warmed up over a quarter of
        # the configuration's 4 epochs: one ramp shared by the segments, so rung 0 (one
        # epoch) ends on the ramp's last step and later rungs train at the scaled rate.
        spe = steps_per_epoch(width)
        ramp = warmup_plan(hyperparameters["learning_rate"], width, spe, epochs=4)
        expected = ramp.rate(config["epochs"] * spe - 1)  # the rate of the last step
        rate = float(model.optimizer.learning_rate.numpy())
        assert rate == pytest.approx(expected, rel=1e-5)
        if width == 2:
            scaled = hyperparameters["learning_rate"] * 2
            assert (rate < scaled) == (config["info"]["rung"] == 0)
    assert {t["config"]["info"]["rung"] for t in trials.values()} >= {0, 1}
    rung_0_widths = {
        t["result"]["num_ranks"] for t in trials.values() if t["config"]["info"]["rung"] == 0
    }
    assert rung_0_widths == {1, 2}
    # Checkpoints of configurations that cannot go on were deleted.
    left = {path.name for path in (tmp_path / "checkpoints").glob("*.keras")}
    top = {f"trial_{i}.keras" for i, t in trials.items() if t["config"]["info"]["rung"] == 2}
    assert not left & top


def test_rasda_doubles_the_width_at_each_rung_up_to_the_ranks_there_are(tmp_path):
    # The problem declares widths up to 4; three training ranks run at most 2.
    trials = search(tmp_path, "rasda", "wide_problem")
    for trial, model in check_segments(trials, tmp_path):
        config, result = trial["config"], trial["result"]
        info, hyperparameters = config["info"], config["hyperparameters"]
        rung = info["rung"]
        # Widths 1, 2, then 2 again: 4 is asked for, but 3 training ranks give 2.
        assert result["num_ranks"] == info["width"] == [1, 2, 2][rung]
        assert info.get("width_capped_from") == (4 if rung == 2 else None)
        assert ("resize" in info) == (rung == 1)
        if rung == 1:
            assert result["data_parallel"] in {"horovod", "mpi"}
            assert result["global_batch_size"] == 2 * BATCH_SIZE
        # Square root for Adam, linear for SGD, once the re-warm-up has ended.
        factor = {"adam": math.sqrt, "sgd": float}[hyperparameters["optimizer"]]
        rate = float(model.optimizer.learning_rate.numpy())
        expected = hyperparameters["learning_rate"] * factor(info["width"])
        assert rate == pytest.approx(expected, rel=1e-5)
        assert info["learning_rate_scaling"]["rule"] == (
            "sqrt" if hyperparameters["optimizer"] == "adam" else "linear"
        )
    assert {t["config"]["info"]["rung"] for t in trials.values()} >= {0, 1}
