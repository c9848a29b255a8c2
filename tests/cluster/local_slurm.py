"""A real, single-node Slurm for tests: this host as the one node, on loopback ports.

:class:`LocalSlurm` writes a ``slurm.conf`` into a folder of its own (state, spool and
logs go there too), starts ``munged`` when none runs, then ``slurmctld`` and ``slurmd``,
and waits until ``sinfo`` shows the node idle. :meth:`LocalSlurm.stop` ends the two
daemons it started and leaves ``munged`` to whoever started it. Client commands find
the cluster through ``SLURM_CONF``: pass :attr:`LocalSlurm.env` to them.

Needs root (``SlurmUser=root``: slurmd starts the jobs' processes) and Debian's
``slurm-wlm`` (22.05) with ``munge``: ``NAS_SLURM=1 bash scripts/setup.sh`` installs
them. Where something is missing, :func:`LocalSlurm.unavailable` says what, for a skip.

Run it by hand to try a batch script::

    python tests/cluster/local_slurm.py /tmp/slurm   # prints SLURM_CONF=...; Ctrl-C ends it
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

#: Daemons and clients the cluster needs.
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "scancel")
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")

SLURM_CONF = """\
# A single-node Slurm for tests, written by tests/cluster/local_slurm.py.
ClusterName=nastest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={controller_port}
SlurmdPort={node_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
# Job steps' temporary files (PMIx's spmix_appdir_<uid>_<job>.<step>) here, not in
# /tmp: job ids restart at 1 with each test cluster, and a step killed in an earlier
# run leaves its folder behind, which makes the same step of a later cluster fail.
TmpFS={folder}/tmp
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups (containers rarely allow them): processes tracked by their parents.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
# CPUs as consumable resources: two small jobs run at once.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# The node declares more CPUs than the machine has (oversubscribed: a batch script's
# --ntasks-per-node=5 fits on 2 cores), and GPUs that are names only (no device
# files): slurmd takes the configuration as it is written.
SlurmdParameters=config_overrides
GresTypes=gpu
SchedulerType=sched/builtin
ReturnToService=2
# Finished jobs stay visible to scontrol for 10 minutes, for the tests to check.
MinJobAge=600
# A job may overrun its time limit by a minute before it is killed: on a busy
# machine, a job of the tests may take longer than planned to wind down.
OverTimeLimit=1
KillWait=10
InactiveLimit=0
SlurmdTimeout=60
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} Gres=gpu:{gpus} State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _munge_works() -> bool:
    done = subprocess.run(
        "munge -n | unmunge", shell=True, capture_output=True, timeout=10, check=False
    )
    return done.returncode == 0


def _null_device(path: Path) -> None:
    """A character device like /dev/null at ``path``; an empty file if mknod is denied
    (slurmd then logs an error per GPU, and still counts them)."""
    if path.exists():
        return
    null = os.stat("/dev/null").st_rdev
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, null)
    except OSError:
        path.touch()


class LocalSlurm:
    """A one-node Slurm whose configuration, state and logs live in ``folder``."""

    def __init__(self, folder: Path, cpus: int = 16, gpus: int = 4) -> None:
        self.folder = Path(folder)
        self.host = socket.gethostname().split(".")[0]
        #: CPUs and GPUs the node declares (the machine may have fewer: see slurm.conf).
        self.cpus, self.gpus = cpus, gpus
        self.conf = self.folder / "slurm.conf"
        #: The environment of client commands (sbatch, squeue): this cluster's config.
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._daemons: list[subprocess.Popen[bytes]] = []

    @staticmethod
    def unavailable() -> str | None:
        """Why no Slurm can start here, or None when it can."""
        if os.name != "posix" or os.geteuid() != 0:
            return "a local Slurm needs root (its jobs run as SlurmUser=root)"
        missing = [name for name in PROGRAMS if shutil.which(name) is None]
        if missing:
            return (
                f"no {', '.join(missing)} on PATH: install Slurm with "
                "`NAS_SLURM=1 bash scripts/setup.sh` (Debian's slurm-wlm and munge)"
            )
        if not MUNGE_KEY.exists():
            return f"no munge key {MUNGE_KEY} (reinstall munge, or create one with mungekey)"
        return None

    def start(self, timeout: float = 60) -> None:
        """Start munged (unless running), slurmctld and slurmd; wait for an idle node."""
        for sub in ("state", "spool", "tmp"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            SLURM_CONF.format(
                host=self.host,
                folder=self.folder,
                cpus=self.cpus,
                gpus=self.gpus,
                controller_port=_free_port(),
                node_port=_free_port(),
            )
        )
        # Slurm drops GPUs without a device file: copies of /dev/null stand in.
        devices = self.folder / "devices"
        devices.mkdir(exist_ok=True)
        for index in range(self.gpus):
            _null_device(devices / f"gpu{index}")
        (self.folder / "gres.conf").write_text(
            f"NodeName={self.host} Name=gpu File={devices}/gpu[0-{self.gpus - 1}]\n"
        )
        self._start_munge()
        env = self.env
        # -D: in the foreground, so that the processes are ours to end; -i: ignore any
        # state (a clean cluster); -c: clear the job state.
        for command in (["slurmctld", "-D", "-i"], ["slurmd", "-D", "-c"]):
            with open(self.folder / f"{command[0]}.out", "wb") as output:
                self._daemons.append(
                    subprocess.Popen(
                        [*command, "-f", str(self.conf)],
                        env=env,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        try:
            self._wait_idle(timeout)
        except BaseException:
            self.stop()
            raise

    def _start_munge(self) -> None:
        if MUNGE_SOCKET.exists() and _munge_works():
            return
        MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
        shutil.chown(MUNGE_SOCKET.parent, "munge", "munge")
        done = subprocess.run(
            ["runuser", "-u", "munge", "--", "munged"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0 or not _munge_works():
            raise RuntimeError(f"munged did not start: {done.stderr.strip() or done.stdout}")

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            for daemon in self._daemons:
                if daemon.poll() is not None:
                    raise RuntimeError(f"{daemon.args[0]} exited: {self.logs()}")
            done = subprocess.run(
                ["sinfo", "-h", "-N", "-o", "%T"],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            state = done.stdout.strip() or done.stderr.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"the node is not idle after {timeout:g} s ({state}): {self.logs()}")

    def logs(self, lines: int = 20) -> str:
        """The last lines of the daemons' logs, for an error message."""
        text = []
        for name in ("slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out"):
            path = self.folder / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                text.append(f"--- {path} ---\n" + "\n".join(tail))
        return "\n".join(text)

    def stop(self) -> None:
        """End every job, then the daemons this object started, and drop their state."""
        if self._daemons:
            subprocess.run(
                ["scancel", "--full", "--user", "root"],
                env=self.env,
                capture_output=True,
                timeout=30,
                check=False,
            )
        for daemon in reversed(self._daemons):
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()
        self._daemons.clear()
        shutil.rmtree(self.folder / "state", ignore_errors=True)
        shutil.rmtree(self.folder / "spool", ignore_errors=True)


if __name__ == "__main__":
    slurm = LocalSlurm(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/nas-slurm"))
    reason = slurm.unavailable()
    if reason:
        sys.exit(reason)
    slurm.start()
    print(f"SLURM_CONF={slurm.conf}  (Ctrl-C or SIGTERM stops the cluster)", flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        slurm.stop()
