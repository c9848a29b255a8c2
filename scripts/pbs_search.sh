#!/usr/bin/env bash
# A nas search on a PBS cluster (PBS Pro / OpenPBS; Torque: see below), with
# Open MPI's mpirun: one rank per GPU, plus rank 0, the driver.
#
#   cd /path/to/nas && qsub scripts/pbs_search.sh
#
# Submit it from the repository root (PBS runs a copy of this file, or feeds it
# to the shell, so the root is taken from the submission directory; or set
# NAS_ROOT). The job runs `nas-search --evaluator mpi` under mpirun, or, when
# $OUT already holds a search, `nas-search --resume $OUT`.
#
# The same logic as scripts/slurm_search.sbatch, from the same functions
# (scripts/batch_lib.sh): the search stops cleanly before the walltime, at
# nas-search's --timeout (the time left from `qstat -f`, minus SAFETY_MARGIN), or
# on SIGUSR1 to this script (`qsig -s USR1 <job>`: PBS has no warning signal of
# its own), which it passes on to rank 0 as SIGTERM. If the budget (MAX_EVALS)
# is not met, the script submits a follow-on job, `qsub -W
# depend=afterany:<this job>` of this script, which resumes the search; once it
# is met, the log says "the search is complete" and no job follows. A job whose
# nas-search fails, or which finished no evaluation, submits none.
#
# Layout (docs/cluster.md): nodes x GPUS_PER_NODE training ranks, one per GPU,
# and the driver as rank 0, one more process on the first node only: the first
# chunk of the select has mpiprocs=ngpus+1, the others mpiprocs=ngpus (for more
# nodes, raise the count of the second chunk: select=1:...+3:... is 4 nodes).
# place=scatter puts each chunk on a node of its own. GPU binding: each rank
# starts through scripts/batch_lib.sh's wrapper, which sets CUDA_VISIBLE_DEVICES
# from Open MPI's OMPI_COMM_WORLD_RANK and OMPI_COMM_WORLD_LOCAL_RANK: none for the
# driver, entry `slot` of the node's GPUs (PBS's CUDA_VISIBLE_DEVICES) for a
# training rank (its index among the node's training ranks).
#
# Check what it would run, without running it:
#   NAS_DRY_RUN=1 bash scripts/pbs_search.sh
#
#PBS -N nas-search
#PBS -l select=1:ncpus=40:ngpus=4:mpiprocs=5+1:ncpus=40:ngpus=4:mpiprocs=4
#PBS -l place=scatter
#PBS -l walltime=04:00:00
#PBS -j oe
# Torque instead of select:   #PBS -l nodes=1:ppn=5:gpus=4+1:ppn=4:gpus=4
# Usually also: -A <project>, -q <queue>

set -euo pipefail

# --- What to search: edit here (or set NAS_<NAME> in the environment) ---------
PROBLEM="${NAS_PROBLEM:-problems.covertype:parallel_problem}"
SEARCH="${NAS_SEARCH:-agebo}"
MAX_EVALS="${NAS_MAX_EVALS:-200}"
OUT="${NAS_OUT:-runs/covertype-pbs}"     # relative to the repository root
SEED="${NAS_SEED:-0}"
# Seconds of training allowed per evaluation.
EVAL_TIMEOUT="${NAS_EVAL_TIMEOUT:-1800}"
# Seconds kept free at the end of the job: the driver's --stop-grace (20 s),
# the batch in progress (trainings are interrupted when the search stops), and
# start-up and shutdown of all ranks (imports from a shared file system can
# take minutes).
SAFETY_MARGIN="${NAS_SAFETY_MARGIN:-600}"
# The same as walltime above: used only when qstat cannot say the limit.
WALLTIME="${NAS_WALLTIME:-04:00:00}"
# GPUs per node, as ngpus above.
GPUS_PER_NODE="${NAS_GPUS_PER_NODE:-4}"
# 1: nodes x GPUs training ranks + the driver (mpiprocs=ngpus+1 on the first
# chunk); 0: nodes x GPUs ranks in all, the driver taking one GPU's place (that
# GPU stays idle).
EXTRA_DRIVER_RANK="${NAS_EXTRA_DRIVER_RANK:-1}"
# Seconds nas-search waits for running evaluations once it stops (empty: its
# default, 20); those still running are run again by the next job.
STOP_GRACE="${NAS_STOP_GRACE:-}"
# 1: submit a follow-on job while the budget is not met; 0: never.
RESUBMIT="${NAS_RESUBMIT:-1}"
# qsub options of the follow-on jobs, in one string (e.g. "-l walltime=08:00:00
# -A abc"); they run this script again, with its #PBS lines.
RESUBMIT_OPTIONS="${NAS_RESUBMIT_OPTIONS:-}"

# --- The site: where the software is (docs/cluster.md) -------------------------
# Modules to load before anything else, in one string (e.g. "openmpi/4.1 cuda/12"):
# the ones scripts/setup.sh was run with.
MODULES="${NAS_MODULES:-}"
# The virtual environment with nas (empty: .venv in the repository).
VENV="${NAS_VENV:-}"
# The MPI launcher: Open MPI's mpirun (or mpiexec, the same program).
MPIRUN="${NAS_MPIRUN:-mpirun}"
# 1: each rank's GPU from Open MPI's variables (see above); 0: every rank sees
# all the node's GPUs and nas picks one by NAS_LOCAL_RANK (docs/cluster.md).
BIND_GPUS="${NAS_BIND_GPUS:-1}"
# More mpirun options, e.g. (--mca btl ^openib).
MPIRUN_OPTIONS=()

# --- The repository, its environment, the node list --------------------------
NAS_ROOT="${NAS_ROOT:-${PBS_O_WORKDIR:-$PWD}}"
if [ ! -f "$NAS_ROOT/scripts/batch_lib.sh" ]; then
    echo "[pbs_search] ERROR: $NAS_ROOT is not the nas repository:" \
        "submit from its root or set NAS_ROOT" >&2
    exit 1
fi
BATCH_SCHEDULER=pbs
BATCH_NAME=pbs_search
# The follow-on job runs the repository's copy: PBS may feed a job script to the
# shell on its standard input, leaving no file to name.
BATCH_SCRIPT="$NAS_ROOT/scripts/pbs_search.sh"
# shellcheck source=scripts/batch_lib.sh
source "$NAS_ROOT/scripts/batch_lib.sh"
batch_setup

if [ -n "${PBS_NODEFILE:-}" ]; then
    # PBS lists each node once per MPI process; keep each once, in order.
    mapfile -t nodes < <(awk 'NF && !seen[$1]++ { print $1 }' "$PBS_NODEFILE")
else
    nodes=("$(uname -n)")
fi
[ "${#nodes[@]}" -gt 0 ] || die "no nodes in PBS_NODEFILE='${PBS_NODEFILE:-}'"
[ "$GPUS_PER_NODE" -ge 1 ] 2>/dev/null || die "GPUS_PER_NODE must be >= 1, not '$GPUS_PER_NODE'"

# An Open MPI hostfile: the first node holds the driver and its training
# ranks, every other node one rank per GPU. mpirun --map-by slot fills the
# nodes in this order, so ranks 0..GPUS_PER_NODE are on the first node, the
# node this script runs on. (MPICH/Hydra and Intel MPI: lines "node:slots" and
# mpiexec -f FILE -n N.)
hostfile="${TMPDIR:-/tmp}/nas-hosts.${PBS_JOBID:-$$}"
ranks=0
{
    for node in "${nodes[@]}"; do
        slots=$GPUS_PER_NODE
        if [ "$node" = "${nodes[0]}" ] && [ "$EXTRA_DRIVER_RANK" = 1 ]; then
            slots=$((GPUS_PER_NODE + 1))
        fi
        ranks=$((ranks + slots))
        printf '%s slots=%d\n' "$node" "$slots"
    done
} >"$hostfile"

# --- The command -----------------------------------------------------------------
search_command # sets `search` (nas-search's words) and `timeout`
# Where rank 0 writes its process id, for the SIGUSR1 trap to send it SIGTERM.
DRIVER_PIDFILE="${TMPDIR:-/tmp}/nas-driver.${PBS_JOBID:-$$}"
# Open MPI passes only its own variables to other nodes: -x sends the rest.
# (Not CUDA_VISIBLE_DEVICES: PBS sets it on each node for that node's GPUs.)
mpirun_options=(-np "$ranks" --hostfile "$hostfile" --map-by slot)
for variable in PATH LD_LIBRARY_PATH PYTHONPATH TF_CPP_MIN_LOG_LEVEL NAS_DATA_PARALLEL; do
    if [ -n "${!variable:-}" ]; then
        mpirun_options+=(-x "$variable")
    fi
done
wrapper=()
if [ "$BIND_GPUS" = 1 ]; then
    wrapper=(bash "$NAS_ROOT/scripts/batch_lib.sh" rank)
fi
command=(env DRIVER_PIDFILE="$DRIVER_PIDFILE" "$MPIRUN" "${mpirun_options[@]}"
    ${MPIRUN_OPTIONS[@]+"${MPIRUN_OPTIONS[@]}"} ${wrapper[@]+"${wrapper[@]}"} "${search[@]}")

say "${#nodes[@]} node(s) x $GPUS_PER_NODE GPU(s): $ranks ranks (rank 0 drives);" \
    "--timeout ${timeout:-none} (time left minus ${SAFETY_MARGIN}s)"
if [ "${NAS_DRY_RUN:-0}" = 1 ]; then
    printf '%q ' "${command[@]}"
    printf '\n'
    exit 0
fi

# --- The run -----------------------------------------------------------------------
trap 'rm -f "$hostfile" "$DRIVER_PIDFILE"' EXIT
batch_run "${command[@]}"
