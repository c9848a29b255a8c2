"""The example batch scripts: scripts/slurm_search.sbatch and scripts/pbs_search.sh.

Neither Slurm nor PBS is needed: the scripts run in their dry-run mode
(``NAS_DRY_RUN=1``: print the launch command instead of running it), with stand-ins for
``squeue``/``scontrol`` and ``qstat`` on PATH. The ``nas-search`` part of the printed
command must be accepted by nas-search's own argument parser, and ``--timeout`` must be
the job's time left minus the safety margin.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from nas.cli._base import run_command
from nas.cli._search import SearchCommand, _settings

ROOT = Path(__file__).resolve().parent.parent
SLURM = ROOT / "scripts" / "slurm_search.sbatch"
PBS = ROOT / "scripts" / "pbs_search.sh"
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


@pytest.mark.parametrize("script", [SLURM, PBS], ids=lambda path: path.name)
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
    # srun: one rank per GPU on 2 nodes x 4 GPUs, plus the driver on the first node.
    assert words[:2] == ["env", f"SLURM_HOSTFILE={tmp_path}/nas-hosts.4242"]
    assert "srun" in words
    assert option(words, "--ntasks") == "9"
    assert option(words, "--distribution") == "arbitrary"
    assert option(words, "--cpus-per-task") == "8"
    hosts = (tmp_path / "nas-hosts.4242").read_text().split()
    assert hosts == ["gpu001"] * 5 + ["gpu002"] * 4


def test_slurm_without_an_extra_driver_rank(tmp_path: Path) -> None:
    words = slurm(tmp_path, "4:00:00", NAS_EXTRA_DRIVER_RANK="0", NAS_GPUS_PER_NODE="2")
    assert option(words, "--ntasks") == "4"
    hosts = (tmp_path / "nas-hosts.4242").read_text().split()
    assert hosts == ["gpu001"] * 2 + ["gpu002"] * 2


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


def test_pbs_command_starts_a_new_search(tmp_path: Path) -> None:
    words = pbs(tmp_path, "04:00:00", NAS_EVAL_TIMEOUT="600")
    args = parse_search(words)
    assert args.timeout == 4 * 3600 - 100 - 600
    assert args.problem == "problems.covertype:parallel_problem" and args.evaluator == "mpi"
    hostfile = tmp_path / "nas-hosts.7.pbs01"
    assert words[:5] == ["mpirun", "-np", "9", "--hostfile", str(hostfile)]
    assert hostfile.read_text().splitlines() == ["cn1 slots=5", "cn2 slots=4"]
    assert words[words.index("-x") + 1] == "PATH"


def test_pbs_resumes_and_falls_back_to_the_walltime_variable(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "settings.json").write_text(json.dumps({"problem": "problems.digits:problem"}))
    args = parse_search(pbs(tmp_path, None, NAS_WALLTIME="01:30:00", NAS_SAFETY_MARGIN="600"))
    assert args.resume == out and args.problem is None
    assert 5400 - 600 - seconds_the_script_ran() <= args.timeout <= 5400 - 600


def test_directives_agree_with_the_variables() -> None:
    """The defaults at the top match the #SBATCH / #PBS requests they stand in for."""
    slurm = SLURM.read_text()
    directives = dict(re.findall(r"^#SBATCH --([a-z-]+)=(\S+)", slurm, re.MULTILINE))
    assert f"NAS_WALLTIME:-{directives['time']}}}" in slurm
    assert f"SLURM_GPUS_ON_NODE:-{directives['gpus-per-node']}}}" in slurm
    assert int(directives["ntasks-per-node"]) == int(directives["gpus-per-node"]) + 1

    pbs = PBS.read_text()
    select = dict(re.findall(r"(\w+)=(\d+)", re.search(r"^#PBS -l select=(\S+)", pbs, re.M)[1]))
    walltime = re.search(r"^#PBS -l walltime=(\S+)", pbs, re.MULTILINE)[1]
    assert f"NAS_WALLTIME:-{walltime}}}" in pbs
    assert f"NAS_GPUS_PER_NODE:-{select['ngpus']}}}" in pbs
    assert int(select["mpiprocs"]) == int(select["ngpus"]) + 1
