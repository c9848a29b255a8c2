"""The driver deletes exactly the checkpoints no later job can continue, at every step,
for every scheduler, on the simulated backend (with checkpoint files written), and a
resumed search deletes what its earlier session left behind once, at its start."""

from __future__ import annotations

import pytest
from simulated_checkpoints import Killed, checked_search, on_disk

from nas.driver import read_journal
from nas.schedule import Scheduler

PROBLEM = "problems.breast_cancer:problem"  # 10 epochs
RUNGS = {"min_epochs": 1, "max_epochs": 9, "reduction_factor": 3}

#: name -> (problem, scheduler, its parameters, simulated ranks, evaluations).
RUNS = {
    "asha": (PROBLEM, "asha", RUNGS, 32, 400),
    "asha-stopping": (PROBLEM, "asha", {**RUNGS, "mode": "stopping"}, 32, 400),
    "sha": (PROBLEM, "sha", RUNGS, 16, 300),
    "rasda": ("problems.breast_cancer:parallel_problem", "rasda", RUNGS, 32, 400),
    "pbt": (PROBLEM, "pbt", {"population": 12, "interval": 2}, 12, 400),
    "lcm": (PROBLEM, "lcm", {"accumulate": 4}, 16, 200),
}


def search(name: str, out, max_evals: int | None = None, **options):
    problem, scheduler, parameters, ranks, evals = RUNS[name]
    return checked_search(
        problem,
        out,
        max_evals or evals,
        ranks=ranks,
        seed=3,
        scheduler=scheduler,
        scheduler_options=parameters,
        **options,
    )


@pytest.mark.parametrize("name", list(RUNS))
def test_the_checkpoints_on_disk_are_those_a_later_job_may_continue_at_every_step(tmp_path, name):
    results, check = search(name, tmp_path)
    assert check.checks > 20  # one per batch of results
    continued = [t for t in results.trials if t.config.parent is not None]
    saved = [t for t in results.trials if t.config.checkpoint_path]
    assert continued and saved, "the run must save and continue checkpoints"
    # What is left at the end is what the scheduler could still continue.
    assert on_disk(tmp_path) == set(check.scheduler.live_checkpoints()) & {
        t.config.trial_id for t in saved
    }


@pytest.mark.parametrize("name, kill_after", [("asha", 60), ("sha", 60), ("pbt", 30)])
def test_a_resumed_search_deletes_what_its_earlier_session_left_once_at_its_start(
    tmp_path, name, kill_after
):
    with pytest.raises(Killed):
        search(name, tmp_path, kill_after=kill_after)
    history = read_journal(tmp_path)
    assert history.unfinished, "the kill must leave evaluations running"
    # Killed as if between saving results and releasing checkpoints: every checkpoint a
    # finished segment saved is still there.
    stale = {t.config.trial_id for t in history.finished if t.config.checkpoint_path}
    for trial_id in stale:
        (tmp_path / "checkpoints" / f"trial_{trial_id}.keras").touch()
    results, check = search(name, tmp_path, resume=True)  # checked as the run starts
    assert check.checks > 1 and len(results.trials) > len(history.finished)
    assert stale - on_disk(tmp_path), "some stale checkpoints must have been deleted"


class Recorder(Scheduler):
    """Reports a live set that the test changes by hand (the default bookkeeping)."""

    live: set[int] = set()

    def ask(self, n):
        return []

    def tell(self, segments):
        pass

    def live_checkpoints(self) -> set[int]:
        return set(self.live)


def test_by_default_a_scheduler_releases_what_left_its_live_set_since_the_last_call():
    scheduler = Recorder(search=None)
    scheduler.live = {1, 2, 3}
    assert scheduler.released_checkpoints() == []
    scheduler.live = {2, 3, 4}
    assert scheduler.released_checkpoints() == [1]
    assert scheduler.released_checkpoints() == []  # reported once
    scheduler.live = set()
    assert sorted(scheduler.released_checkpoints()) == [2, 3, 4]
