"""The progress display: a bar on a terminal, a plain line now and then anywhere else."""

from __future__ import annotations

import io

from nas.driver._progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_a_log_gets_a_line_per_tenth_of_the_budget_and_one_at_the_end():
    log, clock = io.StringIO(), Clock()
    progress = Progress(100, stream=log, clock=clock)
    for _ in range(25):
        clock.now += 1
        progress.update(1, "best val_accuracy 0.9, 0 failed")
    progress.close()
    written = lines(log)
    assert [line.split(",")[0] for line in written] == [
        "10/100 evaluations (10%)",
        "20/100 evaluations (20%)",
        "25/100 evaluations (25%)",
    ]
    assert written[0] == (
        "10/100 evaluations (10%), best val_accuracy 0.9, 0 failed, 00:10 elapsed, "
        "about 01:30 left"
    )
    assert "\r" not in log.getvalue()  # no bar frames in a file


def test_a_slow_search_gets_a_line_a_minute_while_evaluations_finish():
    log, clock = io.StringIO(), Clock()
    progress = Progress(1000, stream=log, clock=clock)
    for minute in range(1, 4):
        clock.now = 60.0 * minute
        progress.update(1, "")
    assert len(lines(log)) == 3
    clock.now = 3600.0
    progress.update(0, "")  # nothing finished for an hour: nothing new to say
    assert len(lines(log)) == 3


def test_a_resumed_search_counts_from_where_it_was():
    log, clock = io.StringIO(), Clock()
    progress = Progress(20, initial=10, stream=log, every=5, clock=clock)
    clock.now = 50.0
    progress.update(5, "")
    assert lines(log) == ["15/20 evaluations (75%), 00:50 elapsed, about 00:50 left"]


def test_a_terminal_gets_a_bar():
    terminal = Terminal()
    progress = Progress(4, stream=terminal)
    progress.update(2, "best val_accuracy 0.9, 0 failed")
    progress.close()
    assert "2/4" in terminal.getvalue() and "eval" in terminal.getvalue()
    assert "evaluations (" not in terminal.getvalue()


def test_nothing_is_shown_when_disabled():
    log = io.StringIO()
    progress = Progress(4, enabled=False, stream=log)
    progress.update(4, "")
    progress.close()
    assert log.getvalue() == ""
