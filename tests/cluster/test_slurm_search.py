"""scripts/slurm_search.sbatch under a real Slurm (local_slurm.py): jobs of a minute or
two that search, stop before their time limit, and continue in a follow-on job.

The search is a random search of paced_problem.py on three ranks (the driver and two
"GPUs", which Slurm counts and nothing uses), started by ``srun --mpi=pmix``.

The cluster starts once per session, at the first test that asks for ``local_slurm``,
and stops after the last. Where it cannot start (not root, Slurm not installed), those
tests are skipped with the reason; with ``NAS_SLURM=1`` (set by ``.ci/run``, where
``scripts/setup.sh`` installed Slurm) they fail instead, so that CI cannot skip them
unnoticed. (The fixture lives here, not in a conftest.py of this folder: the tests
elsewhere import names from the top-level ``conftest``, which a second one would shadow.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_slurm import LocalSlurm

import nas

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "slurm_search.sbatch"
HERE = Path(__file__).resolve().parent

pytestmark = [pytest.mark.slow, pytest.mark.mpi]


def _cannot_start(reason: str) -> None:
    if os.environ.get("NAS_SLURM") == "1":
        pytest.fail(f"NAS_SLURM=1 but no local Slurm: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def local_slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSlurm]:
    """A running one-node Slurm; pass ``local_slurm.env`` to sbatch, squeue, ..."""
    reason = LocalSlurm.unavailable()
    if reason:
        _cannot_start(reason)
    slurm = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        slurm.start()
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        _cannot_start(f"the local Slurm did not start: {error}")
    try:
        yield slurm
    finally:
        slurm.stop()


#: What the refused job's log says: FolderInUseError's message.
IN_USE = re.compile(r"is in use by another search \(.*pid.*\)")


def job_environment(slurm: LocalSlurm, out: Path, **variables: str) -> dict[str, str]:
    """The environment of sbatch, which the jobs inherit (sbatch's --export=ALL): the
    local cluster, this Python's environment, the problem importable on every rank."""
    env = {
        name: value
        for name, value in slurm.env.items()
        # The tests may themselves run inside a batch job, or with a user's settings.
        if not (name.startswith(("SLURM_", "SBATCH_", "NAS_")) and name != "SLURM_CONF")
    }
    env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]),
        NAS_ROOT=str(ROOT),
        NAS_VENV=str(Path(sys.executable).parent.parent),
        NAS_PROBLEM="paced_problem:problem",
        NAS_SEARCH="random",
        NAS_OUT=str(out),
        NAS_EVAL_TIMEOUT="120",
        NAS_STOP_GRACE="5",
    )
    env.update(variables)
    return env


def submit(env: dict[str, str], options: list[str]) -> str:
    """``sbatch OPTIONS slurm_search.sbatch`` from the repository root; the job id."""
    done = subprocess.run(
        ["sbatch", "--parsable", *options, str(SCRIPT)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(";")[0]


def jobs(slurm: LocalSlurm, name: str) -> dict[str, dict[str, str]]:
    """The jobs called ``name``, running or ended (slurm.conf keeps ended ones 10
    minutes): job id -> scontrol's fields."""
    done = subprocess.run(
        ["scontrol", "show", "job", "--oneliner"],
        env=slurm.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    found = {}
    for line in done.stdout.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if fields.get("JobName") == name:
            found[fields["JobId"]] = fields
    return found


def wait_until(condition, timeout: float, what: str, slurm: LocalSlurm, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            text = "\n".join(f"--- {log} ---\n{log.read_text()}" for log in logs.glob("*.out"))
            pytest.fail(f"{what} after {timeout:g} s\n{text}\n{slurm.logs()}")
        time.sleep(2)


ENDED = ("COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "OUT_OF_MEMORY")


def all_ended(slurm: LocalSlurm, name: str, at_least: int):
    def check() -> bool:
        found = jobs(slurm, name)
        return len(found) >= at_least and all(job["JobState"] in ENDED for job in found.values())

    return check


@pytest.mark.timeout(900)
def test_a_search_longer_than_a_job_continues_in_exactly_one_follow_on_job(
    local_slurm: LocalSlurm, tmp_path: Path
) -> None:
    """Job 1 (2 minutes) stops about a minute into its search (--timeout: the time left
    minus SAFETY_MARGIN; or Slurm's SIGUSR1, a few seconds before the limit) and submits
    job 2, which resumes the search and meets the budget; no third job follows.

    An evaluation takes at least 20 s (paced_problem.py), so each of the two workers
    finishes at most 3 in job 1's 65 s of search and 5 s of stop grace: 6 of the
    budget of 7, whatever the machine's speed. Job 2 gets 5 minutes (its sbatch options
    are the script's RESUBMIT_OPTIONS), so that the rest fits even on a busy machine
    (evaluations of 35 s here, with the load at 10 on 2 cores); it ends as soon as the
    budget is met.
    """
    name = "nas-chain"
    out = tmp_path / "run"
    # One task per GPU, as the script asks for: its srun --overcommit adds the driver's.
    common = ["--nodes=1", "--ntasks-per-node=2", "--gpus-per-node=2", "--cpus-per-task=1"]
    common += [f"--job-name={name}", f"--output={tmp_path}/job-%j.out"]
    # @1: sent 1 to 31 s before the limit (Slurm checks every 30 s).
    first = [*common, "--time=2", "--signal=B:USR1@1"]
    follow_on = [*common, "--time=5", "--signal=B:USR1@1"]
    env = job_environment(
        local_slurm,
        out,
        NAS_MAX_EVALS="7",
        NAS_SAFETY_MARGIN="55",
        NAS_RESUBMIT_OPTIONS=" ".join(follow_on),
    )
    first_job = submit(env, first)
    wait_until(
        all_ended(local_slurm, name, 2), 840, "the chain has not ended", local_slurm, tmp_path
    )

    found = jobs(local_slurm, name)
    assert len(found) == 2, found  # no third job
    second_job = next(job for job in found if job != first_job)
    logs = {job: (tmp_path / f"job-{job}.out").read_text() for job in found}
    for job, fields in found.items():
        assert (fields["JobState"], fields["ExitCode"]) == ("COMPLETED", "0:0"), logs[job]
    assert found[second_job]["Dependency"] in ("(null)", f"afterany:{first_job}(unfulfilled)")
    assert f"submitted job {second_job} to continue the search" in logs[first_job]
    assert "search stopped: " in logs[first_job]
    assert "srun -n 3 nas-search --resume" in logs[first_job]  # as the job started it
    assert "holds a search: resuming it" in logs[second_job]
    assert "the search is complete: 7 of 7 evaluations" in logs[second_job]
    assert "follow-on" not in logs[second_job].replace("no follow-on job", "")

    # Every trial finished exactly once, those cut short by job 1's stop included.
    journal = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    finishes = Counter(e["trial"]["config"]["trial_id"] for e in journal if e["event"] == "finish")
    assert sorted(finishes) == list(range(7)) and set(finishes.values()) == {1}, finishes
    results = nas.load_results(out)
    assert results.progress.done == 7 and results.progress.sessions == 2
    assert not results.running
    finished = Counter(trial.trial_id for trial in results.trials)
    assert sorted(finished) == list(range(7)) and set(finished.values()) == {1}
    assert all(trial.status == "ok" for trial in results.trials)


@pytest.mark.timeout(600)
def test_a_second_job_on_a_folder_in_use_is_refused_and_usr1_stops_the_first(
    local_slurm: LocalSlurm, tmp_path: Path
) -> None:
    """A job submitted while another searches in the same folder is refused, and its log
    names the holder (FolderInUseError). SIGUSR1 to the first one's batch script (what
    Slurm's --signal=B:USR1 sends) stops its search cleanly, exit 0."""
    name = "nas-twice"
    out = tmp_path / "run"
    options = ["--nodes=1", "--ntasks-per-node=2", "--gpus-per-node=1", "--cpus-per-task=1"]
    options += [f"--job-name={name}", f"--output={tmp_path}/job-%j.out", "--time=5"]
    options += ["--signal=B:USR1@1"]
    env = job_environment(
        local_slurm, out, NAS_MAX_EVALS="100", NAS_SAFETY_MARGIN="60", NAS_RESUBMIT="0"
    )
    journal = out / "journal.jsonl"

    def searching() -> bool:
        return journal.exists() and '"finish"' in journal.read_text()

    first = submit(env, options)
    wait_until(searching, 400, "no evaluation finished", local_slurm, tmp_path)
    second = submit(env, options)
    wait_until(
        lambda: jobs(local_slurm, name)[second]["JobState"] in ENDED,
        300,
        "the second job has not ended",
        local_slurm,
        tmp_path,
    )
    subprocess.run(["scancel", "--batch", "--signal=USR1", first], env=local_slurm.env, check=True)
    wait_until(
        all_ended(local_slurm, name, 2), 300, "the first job has not ended", local_slurm, tmp_path
    )

    found = jobs(local_slurm, name)
    assert len(found) == 2, found
    log = {job: (tmp_path / f"job-{job}.out").read_text() for job in (first, second)}
    assert found[second]["JobState"] == "FAILED", log[second]
    assert IN_USE.search(log[second]) and "resuming it" in log[second], log[second]
    assert "no follow-on job" in log[second]
    assert (found[first]["JobState"], found[first]["ExitCode"]) == ("COMPLETED", "0:0")
    assert "SIGUSR1" in log[first] and "search stopped: received SIGTERM" in log[first]
    assert "RESUBMIT=0: submit again to continue" in log[first]
    assert not IN_USE.search(log[first])
    # The stop wrote everything: one session, what finished is in the journal.
    results = nas.load_results(out)
    assert results.progress.done >= 1 and results.progress.sessions == 1
