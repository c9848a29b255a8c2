"""The example batch scripts: scripts/slurm_search.sbatch and scripts/pbs_search.sh, and
scripts/batch_lib.sh, the functions they share (and the per-rank GPU wrapper).

Neither Slurm nor PBS is needed: the scripts run in their dry-run mode
(``NAS_DRY_RUN=1``: print the launch command instead of running it), with stand-ins for
``squeue``/``scontrol`` and ``qstat`` on PATH. The ``nas-search`` part of the printed
command must be accepted by nas-search's own argument parser, and ``--timeout`` must be
the job's time left minus the safety margin. tests/cluster runs the Slurm script for
real, under a local Slurm.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from nas.cli._base import run_command
from nas.cli._search import SearchCommand, _settings

ROOT = Path(__file__).resolve().parent.parent
SLURM = ROOT / "scripts" / "slurm_search.sbatch"
PBS = ROOT / "scripts" / "pbs_search.sh"
LIB = ROOT / "scripts" / "batch_lib.sh"
BASH = shutil.which("bash")

pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")

QSTAT_OUTPUT = """\
Job Id: 7.pbs01
    Job_Name = nas-search
    resources_used.walltime = {used}
    Resource_List.select = 2:ncpus=40:ngpus=4:mpiprocs=5
    Resource_List.walltime = {walltime}
"""


def fake_tool(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


#: Wall seconds of the last dry run, measured around it.
_last_run_seconds = [0.0]


def seconds_the_script_ran() -> int:
    """A bound on the ``$SECONDS`` the last script subtracted from the time left: bash
    counts whole seconds, so one more than its measured duration at most; one spare.
    2 on an idle machine (0 or 1 counted), more where the script ran slowly."""
    return int(_last_run_seconds[0]) + 2


def dry_run(script: Path, tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in dry-run mode from ``tmp_path`` with fake scheduler tools."""
    fakes = tmp_path / "bin"
    fakes.mkdir(exist_ok=True)
    env = {
        name: value
        for name, value in os.environ.items()
        # The tests may themselves run inside a batch job.
        if not name.startswith(("SLURM_", "PBS_", "NAS_"))
    }
    env.update(
        PATH=os.pathsep.join([str(fakes), env.get("PATH", "")]),
        NAS_ROOT=str(ROOT),
        NAS_DRY_RUN="1",
        TMPDIR=str(tmp_path),
        NAS_OUT=str(tmp_path / "out"),
    )
    env.update(variables)
    started = time.monotonic()
    done = subprocess.run(
        [BASH, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    _last_run_seconds[0] = time.monotonic() - started
    return done


def launched(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The printed command, as words."""
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, done.stdout
    return shlex.split(lines[0])


def parse_search(words: list[str]) -> argparse.Namespace:
    """The arguments after ``.../nas-search``, parsed by nas-search's own parser."""
    programs = [i for i, word in enumerate(words) if Path(word).name == "nas-search"]
    assert len(programs) == 1, words
    assert words[programs[0]] == str(ROOT / ".venv" / "bin" / "nas-search")
    parsed: list[argparse.Namespace] = []

    class ParseOnly(SearchCommand):
        def run(self, args: argparse.Namespace) -> int:
            parsed.append(args)
            return 0

    assert run_command(ParseOnly(), words[programs[0] + 1 :]) == 0, words
    _settings(parsed[0])  # the flags fit together (--out or --resume, ...)
    return parsed[0]


def option(words: list[str], name: str) -> str:
    """The value of ``name=VALUE`` in ``words``."""
    values = [word.split("=", 1)[1] for word in words if word.startswith(name + "=")]
    assert len(values) == 1, (name, words)
    return values[0]


@pytest.mark.parametrize("script", [SLURM, PBS, LIB], ids=lambda path: path.name)
def test_scripts_pass_bash_n(script: Path) -> None:
    done = subprocess.run([BASH, "-n", str(script)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


# -- Slurm ---------------------------------------------------------------------------


def slurm(tmp_path: Path, time_left: str | None, **variables: str) -> list[str]:
    fakes = tmp_path / "bin"
    fakes.mkdir(exist_ok=True)
    if time_left is None:
        fake_tool(fakes, "squeue", "exit 1\n")
    else:
        fake_tool(fakes, "squeue", f'[ "$*" = "-h -j 4242 -o %L" ] || exit 2\necho {time_left}\n')
    fake_tool(fakes, "scontrol", "printf 'gpu001\\ngpu002\\n'\n")
    variables = {
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NODELIST": "gpu[001-002]",
        "SLURM_CPUS_PER_TASK": "8",
        **variables,
    }
    return launched(dry_run(SLURM, tmp_path, **variables))


@pytest.mark.parametrize(
    ("time_left", "seconds"),
    [
        ("1-02:03:04", 93784),
        ("3:59:47", 14387),
        ("59:07", 3547),  # squeue drops the hours under one hour: minutes:seconds
        ("2-00", 172800),
        ("90", 5400),  # a lone number is minutes
    ],
)
def test_slurm_timeout_is_time_left_minus_margin(
    tmp_path: Path, time_left: str, seconds: int
) -> None:
    words = slurm(tmp_path, time_left, NAS_EVAL_TIMEOUT="600")
    args = parse_search(words)
    assert args.timeout == seconds - 600  # the default margin
    assert args.eval_timeout == 600


def test_slurm_command_starts_a_new_search(tmp_path: Path) -> None:
    words = slurm(
        tmp_path,
        "4:00:00",
        NAS_SAFETY_MARGIN="900",
        NAS_PROBLEM="problems.breast_cancer:parallel_problem",
        NAS_MAX_EVALS="50",
        NAS_SEARCH="regevo",
    )
    args = parse_search(words)
    assert args.timeout == 4 * 3600 - 900
    assert (args.problem, args.search, args.max_evals) == (
        "problems.breast_cancer:parallel_problem",
        "regevo",
        50,
    )
    assert args.evaluator == "mpi" and args.resume is None
    assert args.out == tmp_path / "out"
    # srun: one rank per GPU on 2 nodes x 4 GPUs, plus the driver on the first node: 9
    # tasks in a job of 8 (--ntasks-per-node=4), the driver sharing the first node's CPUs.
    assert words[:4] == [
        "env",
        "-u",
        "SLURM_NTASKS_PER_NODE",
        f"SLURM_HOSTFILE={tmp_path}/nas-hosts.4242",
    ]
    assert words[4] == "srun"
    assert option(words, "--ntasks") == "9"
    assert "--overcommit" in words[: words.index("bash")]
    assert option(words, "--distribution") == "arbitrary"
    assert option(words, "--cpus-per-task") == "8"
    hosts = (tmp_path / "nas-hosts.4242").read_text().split()
    assert hosts == ["gpu001"] * 5 + ["gpu002"] * 4


def test_slurm_without_an_extra_driver_rank(tmp_path: Path) -> None:
    words = slurm(tmp_path, "4:00:00", NAS_EXTRA_DRIVER_RANK="0", NAS_GPUS_PER_NODE="2")
    assert option(words, "--ntasks") == "4"
    hosts = (tmp_path / "nas-hosts.4242").read_text().split()
    assert hosts == ["gpu001"] * 2 + ["gpu002"] * 2


def rank_environments(words: list[str], ranks: list[tuple[str, dict[str, str]]]) -> list[str]:
    """What each rank sees as CUDA_VISIBLE_DEVICES ("unset" when unset): the launcher's
    part of ``words`` is played by hand, each rank running the words from the wrapper
    (``bash .../batch_lib.sh rank``) on, with ``sh`` in place of nas-search. ``ranks``:
    per rank, its node and the launcher's variables."""
    wrapper = words[words.index("bash") : words.index(str(ROOT / ".venv" / "bin" / "nas-search"))]
    assert wrapper == ["bash", str(LIB), "rank"], words
    seen = []
    for _node, variables in ranks:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("SLURM_", "OMPI_", "PMI", "MPI_", "CUDA_"))
        }
        env.update(variables)
        done = subprocess.run(
            [*wrapper, "sh", "-c", 'printf %s "${CUDA_VISIBLE_DEVICES-unset}"'],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        seen.append(done.stdout)
    return seen


def nas_local_ranks(hosts: list[str]) -> list[int | None]:
    """NAS_LOCAL_RANK of each rank, as nas computes it (nas/evaluate/_mpi_worker.py):
    the index among the worker ranks (not rank 0) of its node, in rank order."""
    return [
        None if rank == 0 else sum(1 for other in range(1, rank) if hosts[other] == host)
        for rank, host in enumerate(hosts)
    ]


def srun_tasks(hosts: list[str], devices: str) -> list[tuple[str, dict[str, str]]]:
    """The variables srun gives each task of SLURM_HOSTFILE ``hosts`` (arbitrary
    distribution), every task seeing the node's GPUs ``devices`` (--gpus-per-node)."""
    return [
        (
            host,
            {
                "SLURM_PROCID": str(rank),
                "SLURM_LOCALID": str(hosts[:rank].count(host)),
                "SLURM_NODEID": str(sorted(set(hosts)).index(host)),
                "CUDA_VISIBLE_DEVICES": devices,
            },
        )
        for rank, host in enumerate(hosts)
    ]


@pytest.mark.parametrize("devices", ["0,1,2,3", "4,5,6,7"])
def test_slurm_binds_one_gpu_per_training_rank_and_none_to_the_driver(
    tmp_path: Path, devices: str
) -> None:
    """2 nodes x 4 GPUs: the printed srun line starts 9 ranks through the wrapper; rank 0
    (the driver, first node) sees no GPU, each training rank the GPU of its slot on its
    node, the slot nas's own binding (NAS_LOCAL_RANK mod GPUs) would pick."""
    words = slurm(tmp_path, "4:00:00")
    hosts = (tmp_path / "nas-hosts.4242").read_text().split()
    assert hosts == ["gpu001"] * 5 + ["gpu002"] * 4  # the driver on the first node only
    seen = rank_environments(words, srun_tasks(hosts, devices))
    gpus = devices.split(",")
    expected = ["" if local is None else gpus[local % 4] for local in nas_local_ranks(hosts)]
    assert seen == expected
    assert seen == ["", *gpus, *gpus]


def test_slurm_binding_with_the_driver_in_a_gpus_place(tmp_path: Path) -> None:
    words = slurm(tmp_path, "4:00:00", NAS_EXTRA_DRIVER_RANK="0")
    hosts = (tmp_path / "nas-hosts.4242").read_text().split()
    assert hosts == ["gpu001"] * 4 + ["gpu002"] * 4
    seen = rank_environments(words, srun_tasks(hosts, "0,1,2,3"))
    # Rank 0 none, the first node's 3 workers GPUs 0-2 (GPU 3 idle), the second node 0-3.
    assert seen == ["", "0", "1", "2", "0", "1", "2", "3"]


def test_the_wrapper_leaves_a_single_gpu_or_an_unknown_launcher_alone(tmp_path: Path) -> None:
    words = slurm(tmp_path, "4:00:00")
    one_gpu = {"SLURM_PROCID": "6", "SLURM_LOCALID": "1", "CUDA_VISIBLE_DEVICES": "2"}
    no_gpu = {"SLURM_PROCID": "6", "SLURM_LOCALID": "1"}
    unknown = {"CUDA_VISIBLE_DEVICES": "0,1"}
    seen = rank_environments(words, [("n", one_gpu), ("n", no_gpu), ("n", unknown)])
    assert seen == ["2", "unset", "0,1"]


def test_slurm_without_the_wrapper(tmp_path: Path) -> None:
    words = slurm(tmp_path, "4:00:00", NAS_BIND_GPUS="0")
    assert "bash" not in words and str(LIB) not in words
    assert words[words.index("srun") + 1].startswith("--")
    parse_search(words)


def test_slurm_resumes_a_search_in_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "settings.json").write_text(json.dumps({"problem": "problems.digits:problem"}))
    args = parse_search(slurm(tmp_path, "2:00:00", NAS_EVAL_TIMEOUT="300"))
    assert args.resume == out and args.out is None and args.problem is None
    assert args.timeout == 2 * 3600 - 600


def test_slurm_falls_back_to_the_walltime_variable(tmp_path: Path) -> None:
    args = parse_search(slurm(tmp_path, None, NAS_WALLTIME="02:00:00", NAS_SAFETY_MARGIN="600"))
    # Less the seconds the script itself ran.
    assert 2 * 3600 - 600 - seconds_the_script_ran() <= args.timeout <= 2 * 3600 - 600


def test_slurm_srun_starts_the_ranks_with_pmix_unless_told_otherwise(tmp_path: Path) -> None:
    words = slurm(tmp_path, "4:00:00", NAS_STOP_GRACE="7")
    assert option(words, "--mpi") == "pmix"
    assert words.index("--mpi=pmix") < words.index(str(ROOT / ".venv" / "bin" / "nas-search"))
    assert parse_search(words).stop_grace == 7
    # The site's default plugin (srun without --mpi), and nas-search's own stop grace.
    words = slurm(tmp_path, "4:00:00", NAS_SRUN_MPI="")
    assert not any(word.startswith("--mpi") for word in words)
    assert parse_search(words).stop_grace is None


def test_slurm_refuses_an_environment_without_nas_search(tmp_path: Path) -> None:
    done = dry_run(SLURM, tmp_path, NAS_VENV=str(tmp_path / "no-venv"))
    assert done.returncode != 0
    assert "no-venv/bin/nas-search" in done.stderr and not done.stdout


def test_slurm_job_without_time_limit_has_no_timeout(tmp_path: Path) -> None:
    assert parse_search(slurm(tmp_path, "UNLIMITED")).timeout is None


def test_slurm_refuses_a_time_left_below_the_margin(tmp_path: Path) -> None:
    fakes = tmp_path / "bin"
    fakes.mkdir()
    fake_tool(fakes, "squeue", "echo 10:30\n")  # 630 s: less than the margin + a minute
    fake_tool(fakes, "scontrol", "echo gpu001\n")
    done = dry_run(
        SLURM, tmp_path, SLURM_JOB_ID="1", SLURM_JOB_NODELIST="gpu001", NAS_EVAL_TIMEOUT="1800"
    )
    assert done.returncode != 0
    assert "SAFETY_MARGIN" in done.stderr and not done.stdout


# -- PBS -----------------------------------------------------------------------------


def pbs(tmp_path: Path, walltime: str | None, used: str = "00:01:40", **variables: str):
    fakes = tmp_path / "bin"
    fakes.mkdir(exist_ok=True)
    if walltime is None:
        fake_tool(fakes, "qstat", "exit 1\n")
    else:
        output = QSTAT_OUTPUT.format(walltime=walltime, used=used)
        fake_tool(fakes, "qstat", f'[ "$*" = "-f 7.pbs01" ] || exit 2\ncat <<EOF\n{output}EOF\n')
    nodefile = tmp_path / "nodefile"
    nodefile.write_text("cn1\n" * 5 + "cn2\n" * 5)
    variables = {"PBS_JOBID": "7.pbs01", "PBS_NODEFILE": str(nodefile), **variables}
    return launched(dry_run(PBS, tmp_path, **variables))


@pytest.mark.parametrize(
    ("walltime", "used", "seconds"),
    [("04:00:00", "00:01:40", 4 * 3600 - 100), ("48:00:00", "00:00:00", 48 * 3600)],
)
def test_pbs_timeout_is_walltime_left_minus_margin(
    tmp_path: Path, walltime: str, used: str, seconds: int
) -> None:
    args = parse_search(pbs(tmp_path, walltime, used, NAS_SAFETY_MARGIN="1000"))
    if used == "00:00:00":  # at least the time the script ran
        assert seconds - 1000 - seconds_the_script_ran() <= args.timeout <= seconds - 1000
    else:
        assert args.timeout == seconds - 1000


def test_pbs_takes_torques_walltime_remaining_first(tmp_path: Path) -> None:
    fakes = tmp_path / "bin"
    fakes.mkdir()
    output = QSTAT_OUTPUT.format(walltime="04:00:00", used="00:01:40")
    output += "    Walltime.Remaining = 7000\n"
    fake_tool(fakes, "qstat", f'[ "$*" = "-f 7.pbs01" ] || exit 2\ncat <<EOF\n{output}EOF\n')
    nodefile = tmp_path / "nodefile"
    nodefile.write_text("cn1\n" * 5 + "cn2\n" * 4)
    words = launched(
        dry_run(
            PBS, tmp_path, PBS_JOBID="7.pbs01", PBS_NODEFILE=str(nodefile), NAS_SAFETY_MARGIN="600"
        )
    )
    assert parse_search(words).timeout == 7000 - 600


def test_pbs_command_starts_a_new_search(tmp_path: Path) -> None:
    words = pbs(tmp_path, "04:00:00", NAS_EVAL_TIMEOUT="600")
    args = parse_search(words)
    assert args.timeout == 4 * 3600 - 100 - 600
    assert args.problem == "problems.covertype:parallel_problem" and args.evaluator == "mpi"
    hostfile = tmp_path / "nas-hosts.7.pbs01"
    assert words[:2] == ["env", f"DRIVER_PIDFILE={tmp_path}/nas-driver.7.pbs01"]
    assert words[2:7] == ["mpirun", "-np", "9", "--hostfile", str(hostfile)]
    assert hostfile.read_text().splitlines() == ["cn1 slots=5", "cn2 slots=4"]
    assert words[words.index("-x") + 1] == "PATH"


def test_pbs_binds_one_gpu_per_training_rank_and_none_to_the_driver(tmp_path: Path) -> None:
    """2 nodes x 4 GPUs under mpirun: Open MPI's rank variables, as for srun's."""
    words = pbs(tmp_path, "04:00:00", NAS_MPIRUN="mpiexec")
    assert words[2] == "mpiexec"
    hosts = ["cn1"] * 5 + ["cn2"] * 4
    tasks = [
        (
            host,
            {
                "OMPI_COMM_WORLD_RANK": str(rank),
                "OMPI_COMM_WORLD_LOCAL_RANK": str(hosts[:rank].count(host)),
                "CUDA_VISIBLE_DEVICES": "0,1,2,3",
            },
        )
        for rank, host in enumerate(hosts)
    ]
    seen = rank_environments(words, tasks)
    assert seen == ["", "0", "1", "2", "3", "0", "1", "2", "3"]
    expected = ["" if local is None else str(local % 4) for local in nas_local_ranks(hosts)]
    assert seen == expected


def test_the_wrapper_writes_the_drivers_pid(tmp_path: Path) -> None:
    pidfile = tmp_path / "driver.pid"
    done = subprocess.run(
        [BASH, str(LIB), "rank", "sh", "-c", "echo $$; grep SigIgn /proc/$$/status || true"],
        env={
            **os.environ,
            "DRIVER_PIDFILE": str(pidfile),
            "OMPI_COMM_WORLD_RANK": "0",
            "OMPI_COMM_WORLD_LOCAL_RANK": "0",
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    pid, *ignored = done.stdout.split("\n", 1)
    assert pidfile.read_text().strip() == pid  # exec: the same process
    if ignored and ignored[0].startswith("SigIgn:"):  # Linux: SIGUSR1 is ignored
        assert int(ignored[0].split()[1], 16) & (1 << (signal.SIGUSR1 - 1))


FAKE_PYTHON = """#!/bin/sh
# nas.load_results(OUT).progress, as batch_lib.sh's progress() reads it: one line
# of {progress} per call.
calls={folder}/python-calls
echo x >>"$calls"
sed -n "$(wc -l <"$calls")p" {folder}/progress
"""


@pytest.mark.parametrize(
    ("progress", "follows"),
    [(["0 10", "4 10"], True), (["0 10", "10 10"], False), (["4 10", "4 10"], False)],
)
def test_pbs_submits_a_follow_on_job_while_the_budget_is_not_met(
    tmp_path: Path, progress: list[str], follows: bool
) -> None:
    """The run, not the dry run: mpirun, qsub and the environment's python are stand-ins;
    the journal says how far the search got before and after the job."""
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    fake_tool(venv, "nas-search", "exit 0\n")
    (tmp_path / "progress").write_text("\n".join(progress) + "\n")
    (venv / "python").write_text(FAKE_PYTHON.format(folder=tmp_path, progress=progress))
    (venv / "python").chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    (out / "journal.jsonl").write_text("")
    fakes = tmp_path / "bin"
    fakes.mkdir()
    fake_tool(fakes, "mpirun", f'echo "$@" >{tmp_path}/mpirun-args\n')
    fake_tool(
        fakes,
        "qsub",
        f'{{ pwd; echo "$@"; env | grep "^PBS_" || true; }} >{tmp_path}/qsub-args\necho 8.pbs01\n',
    )
    fake_tool(fakes, "qstat", "exit 1\n")
    nodefile = tmp_path / "nodefile"
    nodefile.write_text("cn1\n" * 5 + "cn2\n" * 4)
    workdir = tmp_path / "submitted-from"
    workdir.mkdir()
    done = dry_run(
        PBS,
        tmp_path,
        NAS_DRY_RUN="0",
        NAS_VENV=str(venv.parent),
        PBS_JOBID="7.pbs01",
        PBS_NODEFILE=str(nodefile),
        PBS_O_WORKDIR=str(workdir),
        NAS_RESUBMIT_OPTIONS="-l walltime=08:00:00 -A abc",
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mpirun-args").read_text().startswith("-np 9 --hostfile")
    assert not (tmp_path / "nas-hosts.7.pbs01").exists()  # cleaned up
    if follows:
        where, args, *pbs_variables = (tmp_path / "qsub-args").read_text().splitlines()
        assert where == str(workdir)
        assert args == (
            "-V -W depend=afterany:7.pbs01 -l walltime=08:00:00 -A abc "
            f"{ROOT}/scripts/pbs_search.sh"
        )
        assert pbs_variables == []  # not this job's
        assert "submitted job 8.pbs01 to continue the search" in done.stderr
    else:
        assert not (tmp_path / "qsub-args").exists()
        assert "the search is complete" in done.stderr or "no evaluation finished" in done.stderr


def test_pbs_resumes_and_falls_back_to_the_walltime_variable(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "settings.json").write_text(json.dumps({"problem": "problems.digits:problem"}))
    args = parse_search(pbs(tmp_path, None, NAS_WALLTIME="01:30:00", NAS_SAFETY_MARGIN="600"))
    assert args.resume == out and args.problem is None
    assert 5400 - 600 - seconds_the_script_ran() <= args.timeout <= 5400 - 600


def test_pbs_usr1_stops_the_search_through_rank_0(tmp_path: Path) -> None:
    """``qsig -s USR1``: the script sends SIGTERM to rank 0, whose process id the rank
    wrapper wrote; the run is real, with an mpirun that starts rank 0 only."""
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    marks = tmp_path / "marks"
    fake_tool(
        venv,
        "nas-search",
        f"trap 'echo stopped >>{marks}; exit 0' TERM\necho started >>{marks}\n"
        "while :; do sleep 0.1; done\n",
    )
    fake_tool(venv, "python", "echo 0 10\n")
    fakes = tmp_path / "bin"
    fakes.mkdir()
    # mpirun's options dropped; the command run as Open MPI's rank 0.
    fake_tool(
        fakes,
        "mpirun",
        'while [ "$1" != bash ]; do shift; done\n'
        'OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_LOCAL_RANK=0 exec "$@"\n',
    )
    fake_tool(fakes, "qstat", "exit 1\n")
    env = {name: value for name, value in os.environ.items() if not name.startswith("NAS_")}
    env.update(
        PATH=os.pathsep.join([str(fakes), env.get("PATH", "")]),
        NAS_ROOT=str(ROOT),
        NAS_VENV=str(venv.parent),
        NAS_OUT=str(tmp_path / "out"),
        TMPDIR=str(tmp_path),
        PBS_JOBID="9.pbs01",
    )
    script = subprocess.Popen(
        [BASH, str(PBS)], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not (marks.exists() and "started" in marks.read_text()):
            assert time.monotonic() < deadline and script.poll() is None, "rank 0 did not start"
            time.sleep(0.1)
        script.send_signal(signal.SIGUSR1)
        _, stderr = script.communicate(timeout=30)
    finally:
        if script.poll() is None:
            script.kill()
    assert script.returncode == 0, stderr
    assert marks.read_text().split() == ["started", "stopped"]
    assert "SIGUSR1: the time limit is near" in stderr
    assert not (tmp_path / "nas-driver.9.pbs01").exists()  # cleaned up


def test_directives_agree_with_the_variables() -> None:
    """The defaults at the top match the #SBATCH / #PBS requests they stand in for."""
    slurm = SLURM.read_text()
    directives = dict(re.findall(r"^#SBATCH --([a-z-]+)=(\S+)", slurm, re.MULTILINE))
    assert f"NAS_WALLTIME:-{directives['time']}}}" in slurm
    assert f"SLURM_GPUS_ON_NODE:-{directives['gpus-per-node']}}}" in slurm
    # SIGUSR1 (the clean stop) comes when the time left is the safety margin.
    assert directives["signal"].startswith("B:USR1@")
    assert f"NAS_SAFETY_MARGIN:-{directives['signal'].split('@')[1]}}}" in slurm

    # One task per GPU: the driver's task is one more, on the first node only (srun
    # --overcommit), not a slot on every node.
    assert directives["ntasks-per-node"] == directives["gpus-per-node"]

    pbs = PBS.read_text()
    # Two chunks: the first node with the driver (mpiprocs = ngpus + 1), then the others.
    first, others = re.search(r"^#PBS -l select=(\S+)", pbs, re.M)[1].split("+")
    first_chunk = dict(re.findall(r"(\w+)=(\d+)", first))
    other_chunks = dict(re.findall(r"(\w+)=(\d+)", others))
    assert first.startswith("1:") and re.match(r"\d+:", others)
    walltime = re.search(r"^#PBS -l walltime=(\S+)", pbs, re.MULTILINE)[1]
    assert f"NAS_WALLTIME:-{walltime}}}" in pbs
    assert f"NAS_GPUS_PER_NODE:-{first_chunk['ngpus']}}}" in pbs
    assert int(first_chunk["mpiprocs"]) == int(first_chunk["ngpus"]) + 1
    assert other_chunks["ngpus"] == other_chunks["mpiprocs"] == first_chunk["ngpus"]
    assert re.search(r"^#PBS -l place=scatter", pbs, re.MULTILINE)
