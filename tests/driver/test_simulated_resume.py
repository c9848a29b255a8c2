"""ASHA and RASDA searches on the simulated backend, stopped part-way and resumed.

What a resumed search can be held to depends on the cluster. The journal keeps every
decision, so the resumed scheduler is exactly where the stopped one was; but the
simulated evaluator, like a real cluster, does not come back as it was: its clock
restarts at 0 with every rank free, and evaluations that were running start again from
their beginning. So:

* On **one rank** nothing runs beside the evaluation in progress, the order of results
  does not depend on the clock, and the resumed search ends with exactly the trials of
  an uninterrupted one (configurations, rungs, widths, parents, objectives); only its
  simulated times are shifted, by the time the first session had reached.
* On **many ranks** the order in which evaluations finish after the resume differs
  (re-run evaluations restart together at 0; a search stopped by its budget had run
  fewer at the end), and with it later promotions: the runs diverge from the first
  decision after the stop, for a principled reason, not a bug. What holds exactly is
  that the resumed scheduler decides what the stopped one would have decided, that the
  search proposes the same configurations in the same order, that every trial id and
  checkpoint is run, saved and continued once, and that the resumed run is a function
  of the journal (resuming the same journal twice gives the same trials).
"""

from __future__ import annotations

import copy
from collections import Counter

import pytest
from simulated_checkpoints import CheckpointCheck, Killed, checked_search, on_disk

from nas.driver import read_journal

RUNGS = {"min_epochs": 1, "max_epochs": 9, "reduction_factor": 3}
#: scheduler -> its problem: RASDA's lets it widen (num_ranks 1 or 2).
PROBLEMS = {
    "asha": "problems.breast_cancer:problem",
    "rasda": "problems.breast_cancer:parallel_problem",
}


def search(scheduler: str, out, max_evals: int, ranks: int, **options):
    """The search's results (its checkpoints checked throughout)."""
    return checked_search(
        PROBLEMS[scheduler],
        out,
        max_evals,
        ranks=ranks,
        seed=5,
        scheduler=scheduler,
        scheduler_options=RUNGS,
        **options,
    )[0]


def stop(scheduler: str, out, how: str, at: int, budget: int, ranks: int):
    """Run ``out`` until stopped ``how``: by its budget (``at`` evaluations) or killed
    once ``at`` results are in, with evaluations running; the check of the run."""
    check = CheckpointCheck()
    if how == "budget":
        search(scheduler, out, at, ranks, check=check)
        return check
    with pytest.raises(Killed):
        search(scheduler, out, budget, ranks, kill_after=at, check=check)
    assert read_journal(out).unfinished, "the kill must leave evaluations running"
    return check


def job(trial) -> tuple:
    """What a trial ran and what it scored: everything but where and when."""
    config, result = trial.config, trial.result
    return (
        config.trial_id,
        config.info["config"],
        config.info["rung"],
        config.arch_seq,
        config.hyperparameters,
        config.parent,
        config.initial_epoch,
        config.epochs,
        config.checkpoint_path is not None,
        result.num_ranks,
        result.objective,
        result.learning_curve,
    )


def by_trial_id(results) -> list:
    return sorted(results.trials, key=lambda trial: trial.config.trial_id)


@pytest.mark.parametrize("scheduler", ["asha", "rasda"])
@pytest.mark.parametrize("how", ["budget", "kill"])
def test_on_one_rank_a_resumed_search_ends_with_the_trials_of_an_uninterrupted_one(
    tmp_path, scheduler, how
):
    # One rank caps RASDA's widths at 1 (its widening is checked on many ranks below).
    whole = search(scheduler, tmp_path / "whole", 150, ranks=1)
    stop(scheduler, tmp_path / "parts", how, 60, 150, ranks=1)
    first = {t.config.trial_id: t for t in read_journal(tmp_path / "parts").finished}
    parts = search(scheduler, tmp_path / "parts", 150, ranks=1, resume=True)

    assert [job(t) for t in by_trial_id(parts)] == [job(t) for t in by_trial_id(whole)]
    assert max(t.config.info["rung"] for t in whole.trials) == 2  # promotions to the top
    # The clock restarted at 0: the second session's times are shifted by where the
    # first had got to (the start of the evaluation it re-runs, when it was killed).
    resumed = [t for t in by_trial_id(parts) if t.config.trial_id not in first]
    shift = min(t.result.started_at for t in by_trial_id(whole) if t.config.trial_id not in first)
    for trial, reference in zip(resumed, by_trial_id(whole)[len(first) :]):
        assert trial.result.finished_at + shift == pytest.approx(reference.result.finished_at)
    assert on_disk(tmp_path / "parts") == on_disk(tmp_path / "whole")


@pytest.mark.parametrize("scheduler", ["asha", "rasda"])
@pytest.mark.parametrize("how", ["budget", "kill"])
def test_on_many_ranks_a_resumed_search_decides_as_the_stopped_one_and_loses_nothing(
    tmp_path, scheduler, how
):
    ranks, budget = 24, 300
    whole = search(scheduler, tmp_path / "whole", budget, ranks)
    stopped = stop(scheduler, tmp_path / "parts", how, 100, budget, ranks).scheduler
    history = read_journal(tmp_path / "parts")
    resumed = CheckpointCheck()
    parts = search(scheduler, tmp_path / "parts", budget, ranks, resume=True, check=resumed)
    replayed = resumed.initial_scheduler

    # The journal brought the scheduler back to where it stopped: it asks for the same
    # jobs and keeps the same checkpoints.
    assert set(replayed.live_checkpoints()) == set(stopped.live_checkpoints())
    assert copy.deepcopy(replayed).ask(ranks) == copy.deepcopy(stopped).ask(ranks)

    trials = by_trial_id(parts)
    reference = by_trial_id(whole)
    # Every trial id once, up to the budget; what ran before the stop as in the
    # uninterrupted run, and what was running then re-run with its trial id and job.
    assert [t.config.trial_id for t in trials] == list(range(budget))
    ran = {t.config.trial_id for t in history.finished}
    rerun = {c.trial_id for c in history.unfinished}
    assert [job(t) for t in trials if t.config.trial_id in ran] == [
        job(t) for t in reference if t.config.trial_id in ran
    ]
    # Re-run segments score as they did: the new simulated evaluator re-simulated the
    # checkpoints saved before the resume (Evaluator.restore), at the widths they ran
    # at, which differ from the re-run segment's for RASDA.
    assert [job(t) for t in trials if t.config.trial_id in rerun] == [
        job(t) for t in reference if t.config.trial_id in rerun
    ]
    paths = {c.trial_id: c.checkpoint_path for c in history.unfinished}
    assert {
        t.config.trial_id: t.config.checkpoint_path for t in trials if t.config.trial_id in rerun
    } == paths
    before = ran | rerun
    # The search proposed the same configurations, in the same order, before and after.
    new = [
        {t.config.info["config"]: t.config.arch_seq for t in run if t.config.info["rung"] == 0}
        for run in (trials, reference)
    ]
    common = new[0].keys() & new[1].keys()
    last_before = max(t.config.info["config"] for t in trials if t.config.trial_id in before)
    assert max(common) > last_before  # and proposed after the resume
    assert {c: new[0][c] for c in common} == {c: new[1][c] for c in common}
    # Each configuration's segments form one chain, each continuing the checkpoint its
    # previous rung saved, at the width of its rung; no checkpoint is continued twice.
    by_id = {t.config.trial_id: t for t in trials}
    continued = Counter(t.config.parent for t in trials if t.config.parent is not None)
    assert continued and max(continued.values()) == 1
    widths = rung_widths(scheduler, resumed.scheduler)
    for trial in trials:
        config, rung = trial.config, trial.config.info["rung"]
        assert trial.result.num_ranks == widths[rung]
        if rung == 0:
            assert config.parent is None
            continue
        parent = by_id[config.parent]
        assert parent.config.checkpoint_path and parent.result.ok
        assert parent.config.info["config"] == config.info["config"]
        assert parent.config.info["rung"] == rung - 1
        assert config.initial_epoch == parent.config.epochs
    if scheduler == "rasda":
        assert len(set(widths)) > 1  # it widened
    # The resumed run is a function of the journal. (Stopped again rather than copied:
    # the journal holds the checkpoints' paths, which a copy would not move.)
    stop(scheduler, tmp_path / "again", how, 100, budget, ranks)
    again = search(scheduler, tmp_path / "again", budget, ranks, resume=True)
    assert [job(t) for t in by_trial_id(again)] == [job(t) for t in trials]
    assert on_disk(tmp_path / "again") == on_disk(tmp_path / "parts")


def rung_widths(name: str, scheduler) -> list[int]:
    """The width of each rung: RASDA's, or 1."""
    return list(scheduler.widths) if name == "rasda" else [1] * len(scheduler.resources)


def test_a_search_folder_moved_between_sessions_resumes_in_its_new_place(tmp_path):
    """The journal records checkpoint paths, but re-run evaluations take theirs from
    the folder they resume in: scratch space is often moved or copied on clusters."""
    whole = search("asha", tmp_path / "whole", 150, ranks=1)
    stop("asha", tmp_path / "parts", "kill", 60, 150, ranks=1)
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    (tmp_path / "parts").rename(moved)
    resumed = search("asha", moved, 150, ranks=1, resume=True)
    assert [job(t) for t in by_trial_id(resumed)] == [job(t) for t in by_trial_id(whole)]
    assert not (tmp_path / "parts").exists()  # nothing was written where it used to be
    rerun = [t for t in resumed.trials if t.config.trial_id >= 60 and t.config.checkpoint_path]
    assert rerun and all(t.config.checkpoint_path.startswith(str(moved)) for t in rerun)
    assert on_disk(moved) == on_disk(tmp_path / "whole")
