"""The journal: whole records or none after a kill at any byte, and resumable after."""

from __future__ import annotations

import json
from dataclasses import replace

from nas.driver._journal import JOURNAL_NAME, Journal, read_journal
from nas.evaluate import unreported_result
from nas.train import Status
from nas.trial import Config, Trial


def config(trial_id: int) -> Config:
    return Config(trial_id, (trial_id, 1), {"learning_rate": 0.01}, seed=trial_id)


def finished(trial_id: int) -> Trial:
    result = unreported_result(config(trial_id), 1.0, Status.FAILED, "x")
    result = replace(result, status=Status.OK, objective=0.5, error=None, error_stage=None)
    return Trial(config(trial_id), result, "w", 1.0)


def write_session(directory) -> None:
    journal = Journal(directory)
    journal.start({"search": "random"})
    journal.submit([config(0), config(1)], {"rng": 1})
    journal.finish(finished(0))
    journal.submit([config(2)], {"rng": 2})
    journal.finish(finished(1))
    journal.close()


def test_a_kill_at_any_byte_leaves_whole_records_or_none(tmp_path):
    write_session(tmp_path / "full")
    data = (tmp_path / "full" / JOURNAL_NAME).read_bytes()
    line_ends = [index + 1 for index, byte in enumerate(data) if byte == ord("\n")]
    for cut in range(len(data) + 1):
        directory = tmp_path / f"cut{cut}"
        directory.mkdir()
        (directory / JOURNAL_NAME).write_bytes(data[:cut])
        state = read_journal(directory)
        complete = sum(end <= cut for end in line_ends)  # records wholly written
        submitted = [0, 0, 2, 2, 3, 3][complete]
        assert len(state.submitted) == submitted, cut
        assert len(state.finished) == [0, 0, 0, 1, 1, 2][complete], cut
        # The two configs proposed together arrive together, with their search state.
        assert (
            state.search_state
            == [None, None, {"rng": 1}, {"rng": 1}, {"rng": 2}, {"rng": 2}][complete]
        )


def test_a_resumed_session_cuts_the_torn_line_before_appending(tmp_path):
    write_session(tmp_path)
    path = tmp_path / JOURNAL_NAME
    path.write_bytes(path.read_bytes()[:-7])  # the last finish record torn by a kill
    journal = Journal(tmp_path)  # a resume opens it again
    journal.start({"search": "random"})
    journal.finish(finished(1))
    journal.close()
    state = read_journal(tmp_path)  # would raise if the torn line were left mid-file
    assert [trial.config.trial_id for trial in state.finished] == [0, 1]
    assert state.num_sessions == 2 and [c.trial_id for c in state.unfinished] == [2]


def test_journals_of_one_config_per_submission_still_read(tmp_path):
    record = {"event": "submit", "config": config(4).to_dict(), "search": {"rng": 3}}
    (tmp_path / JOURNAL_NAME).write_text(json.dumps(record) + "\n")
    state = read_journal(tmp_path)
    assert list(state.submitted) == [4] and state.submitted[4] == config(4)
