"""The MPI evaluator's placement policy, as pure code: no MPI, no ranks started."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, rank_env
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.evaluate import _mpi_protocol
from nas.evaluate._mpi_protocol import Backoff, describe_ranks, group_tag
from nas.evaluate._rank_packing import RankPacker, largest_power_of_two


def fill(packer: RankPacker, prefix: str = "busy") -> list[tuple[str, tuple[int, ...]]]:
    """Occupy every free rank with a width-1 config."""
    for index in range(len(packer.free_ranks)):
        packer.enqueue(f"{prefix}{index}", 1)
    return packer.place()


def test_first_fit_lets_narrow_configs_backfill_past_a_wide_one() -> None:
    packer = RankPacker(range(1, 5))
    for key, width in [("a", 2), ("wide", 4), ("b", 1), ("c", 1), ("d", 1)]:
        packer.enqueue(key, width)
    assert packer.place() == [("a", (1, 2)), ("b", (3,)), ("c", (4,))]
    assert packer.waiting == ["wide", "d"]  # the wide one keeps its place in the queue
    for rank in (1, 2):
        packer.release(rank)
    assert packer.place() == [("d", (1,))]  # still first fit: "wide" needs 4
    for rank in (1, 3, 4):
        packer.release(rank)
    assert packer.place() == [("wide", (1, 2, 3, 4))]
    assert packer.num_waiting == 0


def test_a_group_gets_the_lowest_numbered_free_ranks() -> None:
    packer = RankPacker(range(1, 7))
    fill(packer)
    for rank in (5, 2, 6, 4):
        packer.release(rank)
    assert packer.free_ranks == (2, 4, 5, 6)
    packer.enqueue("pair", 2)
    packer.enqueue("single", 1)
    assert packer.place() == [("pair", (2, 4)), ("single", (5,))]


def test_a_config_gets_the_rank_it_prefers_when_free_and_never_waits_for_it() -> None:
    packer = RankPacker(range(1, 5))
    fill(packer)
    for rank in (1, 3, 4):
        packer.release(rank)
    packer.enqueue("warm on 3", 1, preferred=3)
    packer.enqueue("warm on 2", 1, preferred=2)  # busy: the lowest free rank instead
    packer.enqueue("anywhere", 1)
    assert packer.place() == [("warm on 3", (3,)), ("warm on 2", (1,)), ("anywhere", (4,))]
    assert packer.free_ranks == ()


@pytest.mark.parametrize(("width", "rank"), [(2, 1), (1, 9), (1, 0)])
def test_only_a_single_rank_config_may_prefer_a_worker_rank(width, rank) -> None:
    packer = RankPacker(range(1, 5))
    with pytest.raises(ValueError, match=f"width {width}, rank {rank}"):
        packer.enqueue("config", width, preferred=rank)


def test_the_starvation_guard_holds_freed_ranks_for_the_oldest_config() -> None:
    packer = RankPacker(range(1, 5))
    fill(packer)
    packer.enqueue("wide", 4)
    passed = 0
    rank = 1
    # Ranks free one at a time and a narrow config always takes them: without the
    # guard, "wide" would never start.
    for step in range(20):
        packer.release(rank)
        packer.enqueue(f"narrow{step}", 1)
        started = packer.place()
        if not started:
            break
        assert started == [(f"narrow{step}", (rank,))]
        passed += 1
        rank = rank % 4 + 1
    assert passed == packer.num_ranks + 1  # "more configs than there are worker ranks"
    assert packer.starving
    assert packer.num_free == 0  # the free rank is held, not offered to the driver
    held = packer.free_ranks
    assert len(held) == 1
    for other in range(1, 5):  # the others end; "wide" starts before anything else
        if other not in held:
            packer.release(other)
    assert packer.place()[0] == ("wide", (1, 2, 3, 4))
    assert not packer.starving


def test_no_guard_before_the_oldest_config_was_passed_over_enough() -> None:
    packer = RankPacker(range(1, 5))
    fill(packer)
    packer.enqueue("wide", 4)
    for step in range(packer.num_ranks):
        packer.release(1)
        packer.enqueue(f"narrow{step}", 1)
        assert packer.place() == [(f"narrow{step}", (1,))]
        assert not packer.starving


def test_num_free_is_zero_without_free_ranks_and_bounded_by_the_queue() -> None:
    packer = RankPacker(range(1, 9))
    assert packer.num_free == 8  # empty queue: one config per free rank
    fill(packer)
    assert packer.num_free == 0
    packer.enqueue("waits", 1)
    assert packer.num_free == 0
    for rank in (1, 2, 3):
        packer.release(rank)
    assert packer.place() == [("waits", (1,))]
    assert packer.num_free == 2

    small = RankPacker(range(1, 9), max_waiting=2)
    fill(small)
    for rank in range(1, 7):
        small.release(rank)
    small.enqueue("wide-a", 8)
    assert small.place() == []
    assert small.num_free == 1  # six free ranks, but only one more config may wait
    small.enqueue("wide-b", 8)
    assert small.num_free == 0


def test_the_queue_never_grows_past_max_waiting_when_num_free_is_obeyed() -> None:
    packer = RankPacker(range(1, 5))
    fill(packer)
    for rank in (1, 2, 3):
        packer.release(rank)
    submitted = 0
    while packer.num_free > 0:  # the driver's loop, with configs that never fit
        packer.enqueue(f"wide{submitted}", 4)
        packer.place()
        submitted += 1
    # Configs that cannot start do not fill ranks, so the driver is asked for more,
    # up to the bound on the queue.
    assert packer.num_waiting == submitted == packer.max_waiting


@pytest.mark.parametrize(("workers", "width"), [(1, 1), (3, 2), (4, 4), (7, 4), (63, 32)])
def test_max_width_is_the_largest_power_of_two_that_fits(workers: int, width: int) -> None:
    assert RankPacker(range(1, workers + 1)).max_width == width
    assert largest_power_of_two(workers) == width


def test_too_wide_or_invalid_widths_are_refused() -> None:
    packer = RankPacker(range(1, 7))
    with pytest.raises(ValueError, match=r"num_ranks=8 .* 4 ranks .* 6 worker ranks"):
        packer.enqueue("too wide", 8)
    for bad in (0, -1, True, 1.5, "2"):
        with pytest.raises(ValueError, match="positive int"):
            packer.check_width(bad)  # type: ignore[arg-type]
    assert packer.num_waiting == 0


def test_bad_arguments_and_releases_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one worker rank"):
        RankPacker([])
    with pytest.raises(ValueError, match="max_waiting"):
        RankPacker(range(1, 3), max_waiting=0)
    packer = RankPacker(range(1, 3))
    with pytest.raises(ValueError, match="released twice"):
        packer.release(1)
    with pytest.raises(ValueError, match="not one of the worker ranks"):
        packer.release(7)
    with pytest.raises(ValueError, match="only busy"):
        packer.quarantine([1])


def test_quarantined_ranks_do_not_count_until_they_answer() -> None:
    packer = RankPacker(range(1, 5))
    fill(packer)
    packer.quarantine([1, 2])  # they overran
    assert packer.num_usable == 2
    packer.enqueue("wide", 4)
    packer.release(3)
    assert packer.drop_unplaceable() == []  # rank 4 still works: no hurry
    packer.release(4)
    assert packer.drop_unplaceable() == ["wide"]  # only a silent rank could unblock it
    packer.release(1)  # answered at last: usable again
    assert packer.quarantined == {2}
    assert packer.num_usable == 3


def test_a_config_too_wide_for_the_usable_ranks_does_not_get_held_ranks() -> None:
    packer = RankPacker(range(1, 5))
    fill(packer)
    packer.quarantine([4])
    packer.enqueue("wide", 4)
    for step in range(12):  # far more than 4 pass it over: narrow ones keep flowing
        rank = step % 3 + 1
        packer.release(rank)
        packer.enqueue(f"narrow{step}", 1)
        assert packer.place() == [(f"narrow{step}", (rank,))]
    assert not packer.starving


@settings(max_examples=200, deadline=None)
@given(
    num_ranks=st.integers(1, 9),
    widths=st.lists(st.sampled_from([1, 1, 1, 2, 4, 8]), min_size=1, max_size=40),
    seed=st.randoms(use_true_random=False),
)
def test_random_runs_keep_groups_disjoint_and_run_everything(
    num_ranks: int, widths: list[int], seed
) -> None:
    packer: RankPacker[int] = RankPacker(range(1, num_ranks + 1))
    widths = [min(width, packer.max_width) for width in widths]
    running: dict[int, tuple[int, ...]] = {}
    started: list[int] = []
    pending = list(range(len(widths)))
    while pending or running or packer.num_waiting:
        while pending and packer.num_free > 0:  # the driver's loop
            key = pending.pop(0)
            packer.enqueue(key, widths[key])
        for key, ranks in packer.place():
            assert len(ranks) == widths[key]
            busy = {rank for group in running.values() for rank in group}
            assert not busy & set(ranks)
            running[key] = ranks
            started.append(key)
        assert packer.num_waiting <= packer.max_waiting
        assert running, "nothing runs while configs wait: the queue is stuck"
        key = seed.choice(sorted(running))  # one evaluation ends
        for rank in running.pop(key):
            packer.release(rank)
    assert sorted(started) == list(range(len(widths)))


def test_worker_names_and_group_tags() -> None:
    assert describe_ranks([3]) == "rank 3"
    assert describe_ranks([4, 3]) == "ranks 3-4"
    assert describe_ranks([3, 5]) == "ranks 3,5"
    assert describe_ranks([1, 2, 3, 6, 8, 9]) == "ranks 1-3,6,8-9"
    tags = {group_tag(evaluation_id) for evaluation_id in range(100_000)}
    assert min(tags) > 99 and max(tags) <= 32767  # MPI's guaranteed tag range


class FakeTime:
    """Stands for the ``time`` module of the protocol: a clock that moves only when told
    to or when slept on, and a record of the sleeps (no dependence on the machine)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_backoff_sleeps_a_fraction_of_the_wait_within_its_bounds(monkeypatch) -> None:
    clock = FakeTime()
    monkeypatch.setattr(_mpi_protocol, "time", clock)
    backoff = Backoff(first=1e-4, longest=5e-3, fraction=0.1)
    assert backoff.interval == 1e-4
    clock.now += 0.02  # waited 20 ms
    assert backoff.interval == pytest.approx(2e-3)
    clock.now += 10
    assert backoff.interval == 5e-3
    backoff.reset()
    assert backoff.interval == 1e-4
    # What is slept, not how long it took: the limit caps the interval, 0 sleeps not at all.
    backoff.sleep(limit=0)
    backoff.sleep(limit=5e-5)
    backoff.sleep()
    assert clock.slept == [0.0, 5e-5, 1e-4]


def test_importing_the_evaluators_starts_neither_mpi_nor_tensorflow() -> None:
    code = (
        "import sys, nas.evaluate; "
        "print(sorted(m for m in ('mpi4py.MPI', 'tensorflow', 'keras') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=rank_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
