#!/usr/bin/env bash
# A nas search on a PBS cluster (PBS Pro / OpenPBS; Torque: see below), with
# Open MPI's mpirun: one rank per GPU, plus rank 0, the driver.
#
#   cd /path/to/nas && qsub scripts/pbs_search.sh
#
# Submit it from the repository root (PBS runs a copy of this file, so the
# root is taken from the submission directory; or set NAS_ROOT). Submitting it
# again continues the search: when $OUT already holds one, the command is
# `nas-search --resume $OUT`. The job stops starting evaluations at its
# walltime minus SAFETY_MARGIN (read from `qstat -f`), so it ends by itself,
# in time to write everything, and the next job picks up where it stopped.
# To chain jobs: qsub -W depend=afterany:<job id> scripts/pbs_search.sh
#
# Layout (docs/cluster.md): nodes x GPUS_PER_NODE training ranks, one per GPU,
# and the driver as rank 0 on the first node, which therefore runs
# GPUS_PER_NODE + 1 ranks: mpiprocs is one more than ngpus. The driver uses
# little CPU and no GPU. Each training rank picks its GPU itself (its index
# among the node's training ranks, NAS_LOCAL_RANK), so every rank may see all
# the node's GPUs.
#
# Check what it would run, without running it:
#   NAS_DRY_RUN=1 bash scripts/pbs_search.sh
#
#PBS -N nas-search
#PBS -l select=2:ncpus=40:ngpus=4:mpiprocs=5
#PBS -l walltime=04:00:00
#PBS -j oe
# Torque instead of select:   #PBS -l nodes=2:ppn=5:gpus=4
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
# 1: nodes x GPUs training ranks + the driver (needs mpiprocs=ngpus+1);
# 0: nodes x GPUs ranks in all, the driver taking one GPU's place (it stays idle).
EXTRA_DRIVER_RANK="${NAS_EXTRA_DRIVER_RANK:-1}"
# More mpirun options, e.g. (--mca btl ^openib).
MPIRUN_OPTIONS=()

# --- The cluster's software: load what setup used (docs/cluster.md) -----------
# module load openmpi cuda

say() { printf '[pbs_search] %s\n' "$*" >&2; }
die() {
    printf '[pbs_search] ERROR: %s\n' "$*" >&2
    exit 1
}

# duration_seconds TEXT: a PBS duration in seconds. Formats: SS, MM:SS,
# HH:MM:SS (hours may pass 24), DD:HH:MM:SS; a fraction of a second is dropped.
duration_seconds() {
    local text=${1%%.*} days=0 hours=0 minutes=0 seconds=0 fields=()
    [[ $text =~ ^[0-9]+(:[0-9]+){0,3}$ ]] || return 1
    IFS=: read -r -a fields <<<"$text"
    case ${#fields[@]} in
        1) seconds=${fields[0]} ;;
        2) minutes=${fields[0]} seconds=${fields[1]} ;;
        3) hours=${fields[0]} minutes=${fields[1]} seconds=${fields[2]} ;;
        *) days=${fields[0]} hours=${fields[1]} minutes=${fields[2]} seconds=${fields[3]} ;;
    esac
    echo $((((10#$days * 24 + 10#$hours) * 60 + 10#$minutes) * 60 + 10#$seconds))
}

# qstat_value NAME: the value of "NAME = value" in `qstat -f` of this job.
qstat_value() {
    qstat -f "$PBS_JOBID" 2>/dev/null |
        awk -v name="$1" '$1 == name && $2 == "=" { print $3; exit }'
}

# seconds_left: how long this job may still run: its walltime (from qstat, or
# WALLTIME) minus the time used (resources_used.walltime, at least the time
# this script has run). Prints nothing when neither qstat nor WALLTIME says.
seconds_left() {
    local limit="" used=""
    if [ -n "${PBS_JOBID:-}" ]; then
        limit="$(qstat_value Resource_List.walltime || true)"
        used="$(qstat_value resources_used.walltime || true)"
    fi
    if [ -n "$limit" ] && limit="$(duration_seconds "$limit")"; then
        :
    else
        [ -z "$limit" ] || say "cannot read qstat's walltime '$limit'; using WALLTIME=$WALLTIME"
        [ -n "$WALLTIME" ] || return 0
        limit="$(duration_seconds "$WALLTIME")" || return 1
    fi
    used="$( (duration_seconds "$used" || echo 0) 2>/dev/null)"
    [ "$used" -ge "$SECONDS" ] || used=$SECONDS
    echo $((limit - used))
}

# search_timeout: the value of --timeout, the time left minus SAFETY_MARGIN.
search_timeout() {
    local left
    left="$(seconds_left)" || die "WALLTIME='$WALLTIME' is not a PBS duration (HH:MM:SS)"
    [ -n "$left" ] || return 0
    if [ "$((left - SAFETY_MARGIN))" -lt 60 ]; then
        die "only ${left}s left, less than SAFETY_MARGIN=${SAFETY_MARGIN}s plus a minute:" \
            "ask for a longer walltime or a shorter EVAL_TIMEOUT"
    fi
    echo $((left - SAFETY_MARGIN))
}

# --- The repository, its environment, the node list --------------------------
NAS_ROOT="${NAS_ROOT:-${PBS_O_WORKDIR:-$PWD}}"
[ -f "$NAS_ROOT/scripts/env.sh" ] ||
    die "$NAS_ROOT is not the nas repository: submit from its root or set NAS_ROOT"
# shellcheck source=scripts/env.sh
source "$NAS_ROOT/scripts/env.sh"
cd "$NAS_ROOT"

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
# nodes in this order, so ranks 0..GPUS_PER_NODE are on the first node.
# (MPICH/Hydra and Intel MPI: lines "node:slots" and mpiexec -f FILE -n N.)
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
search=("$NAS_ROOT/.venv/bin/nas-search" --evaluator mpi --max-evals "$MAX_EVALS"
    --eval-timeout "$EVAL_TIMEOUT" --no-progress)
timeout="$(search_timeout)"
if [ -n "$timeout" ]; then
    search+=(--timeout "$timeout")
fi
if [ -f "$OUT/settings.json" ]; then
    say "$OUT holds a search: resuming it"
    search+=(--resume "$OUT")
else
    search+=(--problem "$PROBLEM" --search "$SEARCH" --seed "$SEED" --out "$OUT")
fi
# Open MPI passes only its own variables to other nodes: -x sends the rest.
# (Not CUDA_VISIBLE_DEVICES: PBS sets it on each node for that node's GPUs.)
mpirun_options=(-np "$ranks" --hostfile "$hostfile" --map-by slot)
for variable in PATH LD_LIBRARY_PATH PYTHONPATH TF_CPP_MIN_LOG_LEVEL NAS_DATA_PARALLEL; do
    if [ -n "${!variable:-}" ]; then
        mpirun_options+=(-x "$variable")
    fi
done
command=(mpirun "${mpirun_options[@]}" ${MPIRUN_OPTIONS[@]+"${MPIRUN_OPTIONS[@]}"}
    "${search[@]}")

say "${#nodes[@]} node(s) x $GPUS_PER_NODE GPU(s): $ranks ranks (rank 0 drives);" \
    "--timeout ${timeout:-none} (time left minus ${SAFETY_MARGIN}s)"
if [ "${NAS_DRY_RUN:-0}" = 1 ]; then
    printf '%q ' "${command[@]}"
    printf '\n'
    exit 0
fi
status=0
"${command[@]}" || status=$?
rm -f "$hostfile"
if [ "$status" -eq 0 ]; then
    say "done; if the budget of $MAX_EVALS evaluations is not reached, submit again to continue"
else
    say "nas-search ended with status $status; submit again to continue from $OUT (--resume)"
fi
exit "$status"
