#!/usr/bin/env bash
# Shell functions shared by the batch scripts scripts/slurm_search.sbatch and
# scripts/pbs_search.sh (docs/cluster.md): one copy of the logic, two schedulers.
#
# Sourced by a batch script once it has set its variables (PROBLEM, SEARCH, MAX_EVALS,
# OUT, SEED, EVAL_TIMEOUT, SAFETY_MARGIN, WALLTIME, STOP_GRACE, RESUBMIT,
# RESUBMIT_OPTIONS, MODULES, VENV), NAS_ROOT, and
#   BATCH_SCHEDULER  slurm or pbs: which scheduler's commands the functions use;
#   BATCH_NAME       the prefix of the log lines ([slurm_search] ...).
# The script then calls batch_setup, builds its launch command around search_command's
# words and hands it to batch_run, which runs it and decides what follows (the search
# is complete, or a follow-on job continues it).
#
# Run (not sourced) as `bash batch_lib.sh rank COMMAND...`, it is the per-rank wrapper
# that the launcher (srun, mpirun) starts on every rank: it gives the rank its GPU and
# execs COMMAND (see rank_exec).

# --- Log lines ---------------------------------------------------------------------
say() { printf '[%s] %s\n' "${BATCH_NAME:-batch}" "$*" >&2; }
die() {
    printf '[%s] ERROR: %s\n' "${BATCH_NAME:-batch}" "$*" >&2
    exit 1
}

# --- Durations ---------------------------------------------------------------------

# slurm_duration_seconds TEXT: a Slurm duration in seconds. Formats: MM, MM:SS,
# HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS. Fails on anything else (UNLIMITED...).
slurm_duration_seconds() {
    local text=$1 days=0 hours=0 minutes=0 seconds=0 fields=()
    [[ $text =~ ^([0-9]+-)?[0-9]+(:[0-9]+){0,2}$ ]] || return 1
    if [[ $text == *-* ]]; then
        days=${text%%-*}
        IFS=: read -r -a fields <<<"${text#*-}"
        hours=${fields[0]} minutes=${fields[1]:-0} seconds=${fields[2]:-0}
    else
        IFS=: read -r -a fields <<<"$text"
        case ${#fields[@]} in
            1) minutes=${fields[0]} ;;
            2) minutes=${fields[0]} seconds=${fields[1]} ;;
            *) hours=${fields[0]} minutes=${fields[1]} seconds=${fields[2]} ;;
        esac
    fi
    echo $((((10#$days * 24 + 10#$hours) * 60 + 10#$minutes) * 60 + 10#$seconds))
}

# pbs_duration_seconds TEXT: a PBS duration in seconds. Formats: SS, MM:SS,
# HH:MM:SS (hours may pass 24), DD:HH:MM:SS; a fraction of a second is dropped.
pbs_duration_seconds() {
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

# duration_seconds TEXT: a duration in this scheduler's format, in seconds.
duration_seconds() { "${BATCH_SCHEDULER}_duration_seconds" "$@"; }

# --- Time left -> --timeout ----------------------------------------------------------

# walltime_left: WALLTIME minus the time this script has run; nothing without WALLTIME.
walltime_left() {
    local limit
    [ -n "$WALLTIME" ] || return 0
    limit="$(duration_seconds "$WALLTIME")" || return 1
    echo $((limit - SECONDS))
}

# slurm_seconds_left: squeue knows (time already used, a limit changed by an
# administrator); else WALLTIME. Nothing for a job without limit.
slurm_seconds_left() {
    local left
    if [ -n "${SLURM_JOB_ID:-}" ] &&
        left="$(squeue -h -j "$SLURM_JOB_ID" -o %L 2>/dev/null)" && [ -n "$left" ]; then
        left="${left//[[:space:]]/}"
        case $left in
            UNLIMITED | NOT_SET) return 0 ;;
        esac
        if slurm_duration_seconds "$left"; then
            return 0
        fi
        say "cannot read squeue's time left '$left'; using WALLTIME=$WALLTIME"
    fi
    walltime_left
}

# qstat_value NAME: the value of "NAME = value" in `qstat -f` of this job.
qstat_value() {
    qstat -f "$PBS_JOBID" 2>/dev/null |
        awk -v name="$1" '$1 == name && $2 == "=" { print $3; exit }'
}

# pbs_seconds_left: Walltime.Remaining (Torque, in seconds) when qstat shows it; else
# Resource_List.walltime minus resources_used.walltime (PBS Pro, OpenPBS; the time used
# is at least the time this script has run: MoM updates it only now and then); else
# WALLTIME.
pbs_seconds_left() {
    local remaining="" limit="" used=""
    if [ -n "${PBS_JOBID:-}" ]; then
        remaining="$(qstat_value Walltime.Remaining || true)"
        if [[ $remaining =~ ^[0-9]+$ ]]; then
            echo $((10#$remaining))
            return 0
        fi
        limit="$(qstat_value Resource_List.walltime || true)"
        used="$(qstat_value resources_used.walltime || true)"
    fi
    if [ -z "$limit" ]; then
        walltime_left
        return
    fi
    if ! limit="$(pbs_duration_seconds "$limit")"; then
        say "cannot read qstat's walltime '$limit'; using WALLTIME=$WALLTIME"
        walltime_left
        return
    fi
    used="$(pbs_duration_seconds "$used" 2>/dev/null || echo 0)"
    [ "$used" -ge "$SECONDS" ] || used=$SECONDS
    echo $((limit - used))
}

# search_timeout: the value of --timeout, the time left minus SAFETY_MARGIN.
search_timeout() {
    local left
    left="$("${BATCH_SCHEDULER}_seconds_left")" ||
        die "WALLTIME='$WALLTIME' is not a duration of $BATCH_SCHEDULER (HH:MM:SS)"
    [ -n "$left" ] || return 0
    if [ "$((left - SAFETY_MARGIN))" -lt 60 ]; then
        die "only ${left}s left, less than SAFETY_MARGIN=${SAFETY_MARGIN}s plus a minute:" \
            "ask for a longer time limit or a shorter EVAL_TIMEOUT"
    fi
    echo $((left - SAFETY_MARGIN))
}

# --- The site: modules, environment ------------------------------------------------------

# batch_setup: load MODULES, source scripts/env.sh, cd to NAS_ROOT; sets VENV and PYTHON
# and checks that the environment has nas-search.
batch_setup() {
    if [ -n "$MODULES" ]; then
        command -v module >/dev/null 2>&1 ||
            die "MODULES='$MODULES' but there is no 'module' command in this shell"
        # Some module systems read unset variables.
        set +u
        # shellcheck disable=SC2086 # one word per module
        module load $MODULES
        set -u
    fi
    # shellcheck source=scripts/env.sh
    source "$NAS_ROOT/scripts/env.sh"
    cd "$NAS_ROOT" || die "cannot cd to $NAS_ROOT"
    VENV="${VENV:-$NAS_ROOT/.venv}"
    PYTHON="$VENV/bin/python"
    [ -x "$VENV/bin/nas-search" ] ||
        die "no $VENV/bin/nas-search: run scripts/setup.sh, or set VENV to nas's environment"
}

# --- The search: new or resumed --------------------------------------------------------

# search_command: sets the array `search` to nas-search's command line, and `timeout`:
# --resume OUT when OUT holds a search, else a new search into OUT.
search_command() {
    search=("$VENV/bin/nas-search" --evaluator mpi --max-evals "$MAX_EVALS"
        --eval-timeout "$EVAL_TIMEOUT" --no-progress)
    timeout="$(search_timeout)"
    if [ -n "$timeout" ]; then
        search+=(--timeout "$timeout")
    fi
    if [ -n "$STOP_GRACE" ]; then
        search+=(--stop-grace "$STOP_GRACE")
    fi
    if [ -f "$OUT/settings.json" ]; then
        say "$OUT holds a search: resuming it"
        search+=(--resume "$OUT")
    else
        search+=(--problem "$PROBLEM" --search "$SEARCH" --seed "$SEED" --out "$OUT")
    fi
}

# progress: "DONE MAX_EVALS", the evaluations finished and the budget of the search
# in $OUT, read from its journal by nas.load_results (it only reads; no problem import:
# the direction plays no part in counting). "0 0" without one.
progress() {
    [ -f "$OUT/journal.jsonl" ] || {
        echo 0 0
        return 0
    }
    "$PYTHON" - "$OUT" <<'EOF'
import sys

import nas

progress = nas.load_results(sys.argv[1], direction="max").progress
print(progress.done, progress.max_evals)
EOF
}

# --- Follow-on jobs ----------------------------------------------------------------------

# scheduler_free_env PREFIX: `-u NAME` for every variable of this job named PREFIX*,
# for env: a follow-on job submitted from within a job gets variables of its own.
scheduler_free_env() {
    local name
    for name in $(compgen -e); do
        if [[ $name == "$1"* ]] && [ "$name" != SLURM_CONF ]; then
            printf -- '-u\n%s\n' "$name"
        fi
    done
}

# slurm_submit_follow_on: this script again (under Slurm, the copy this job runs: its
# #SBATCH lines too), to start once this job has ended (afterany: whatever its
# state). The environment goes with it (sbatch's default --export=ALL), less this
# job's SLURM_* variables; from the directory this job was submitted from, so that
# relative paths mean the same. Prints the new job's id.
slurm_submit_follow_on() {
    local options=() unset_env=() job
    read -r -a options <<<"$RESUBMIT_OPTIONS"
    mapfile -t unset_env < <(scheduler_free_env SLURM_)
    job="$(cd "${SLURM_SUBMIT_DIR:-$NAS_ROOT}" &&
        env ${unset_env[@]+"${unset_env[@]}"} sbatch --parsable \
            --dependency="afterany:$SLURM_JOB_ID" ${options[@]+"${options[@]}"} "$BATCH_SCRIPT")" ||
        return 1
    echo "${job%%;*}"
}

# pbs_submit_follow_on: qsub -W depend=afterany:$PBS_JOBID of the repository's
# pbs_search.sh (PBS may run a job script from its standard input: there is no copy
# to name), with this job's environment (-V: NAS_* settings, modules) less its PBS_*
# variables, from the directory this job was submitted from. Prints the new job's id.
pbs_submit_follow_on() {
    local options=() unset_env=() job
    read -r -a options <<<"$RESUBMIT_OPTIONS"
    mapfile -t unset_env < <(scheduler_free_env PBS_)
    job="$(cd "${PBS_O_WORKDIR:-$NAS_ROOT}" &&
        env ${unset_env[@]+"${unset_env[@]}"} qsub -V -W depend="afterany:$PBS_JOBID" \
            ${options[@]+"${options[@]}"} "$BATCH_SCRIPT")" || return 1
    echo "${job//[[:space:]]/}"
}

# --- Stopping cleanly: the signal trap ---------------------------------------------------

# slurm_stop_ranks: SIGTERM to the job's steps (the ranks) through Slurm, which rank 0
# takes as "stop cleanly" and the workers ignore; SIGTERM to srun itself would kill them.
slurm_stop_ranks() { scancel --signal=TERM "$SLURM_JOB_ID"; }

# pbs_stop_ranks: SIGTERM to rank 0, on this node (the first), whose process id the
# rank wrapper wrote to DRIVER_PIDFILE. Not to mpirun: it takes SIGTERM as "kill the
# job" (and passes on only SIGUSR1/2, which would kill the ranks).
pbs_stop_ranks() {
    local pid
    pid="$(cat "$DRIVER_PIDFILE" 2>/dev/null)" && [ -n "$pid" ] && kill -TERM "$pid"
}

# stop_search: SIGUSR1 to this script (Slurm's --signal=B:USR1@..., `scancel --batch
# --signal=USR1`, PBS's `qsig -s USR1`): the job's end is near; stop the search.
stopping=0
stop_search() {
    say "SIGUSR1: the time limit is near; stopping the search (SIGTERM to its ranks)"
    stopping=1
    "${BATCH_SCHEDULER}_stop_ranks" ||
        say "could not send SIGTERM to the search; it stops at its --timeout"
}

# --- The run -------------------------------------------------------------------------------

# batch_run COMMAND...: run the launch command, with SIGUSR1 trapped; then decide what
# follows from the journal: the search is complete, or a follow-on job continues it.
# Exits the script.
batch_run() {
    local done_before done max_evals job status=0 search_pid
    read -r done_before _ < <(progress) || done_before=0
    # The command in the background: bash runs a trap only between commands, and
    # `wait` returns (above 128) when one has run; wait again until it has ended.
    # Its standard input is not the script's (PBS may feed the script through it).
    trap stop_search USR1
    "$@" </dev/null &
    search_pid=$!
    while :; do
        wait "$search_pid" && status=0 || status=$?
        kill -0 "$search_pid" 2>/dev/null || break
    done
    trap - USR1
    if [ "$status" -gt 128 ] && [ "$stopping" = 1 ]; then
        # nas-search takes SIGTERM as "stop cleanly" while it searches; one that comes
        # after the search (the ranks winding down: the summary is above) ends the
        # process. The journal is written as results arrive: it decides what follows.
        say "nas-search ended with status $status after the stop signal; its journal says:"
        status=0
    fi
    if [ "$status" -ne 0 ]; then
        say "nas-search ended with status $status (see above); no follow-on job." \
            "Submit again to continue from $OUT (--resume)"
        exit "$status"
    fi
    read -r done max_evals < <(progress) ||
        die "cannot read the progress of $OUT from its journal (see above)"
    if [ "$done" -ge "$max_evals" ]; then
        say "the search is complete: $done of $max_evals evaluations (the budget is met); no follow-on job"
    elif [ "$done" -le "$done_before" ]; then
        say "no evaluation finished in this job ($done of $max_evals): not submitting a" \
            "follow-on job; the search ended by itself or cannot go on (see above)"
    elif [ "$RESUBMIT" != 1 ]; then
        say "$done of $max_evals evaluations; RESUBMIT=$RESUBMIT: submit again to continue"
    else
        say "$done of $max_evals evaluations: continuing in a follow-on job"
        job="$("${BATCH_SCHEDULER}_submit_follow_on")" ||
            die "could not submit the follow-on job; submit this script again by hand to continue"
        say "submitted job $job to continue the search once this job ends"
    fi
    exit 0
}

# --- The per-rank wrapper ------------------------------------------------------------------

# rank_exec COMMAND...: exec COMMAND with this rank's GPU. The launcher's own variables
# say which rank this is: Open MPI's OMPI_COMM_WORLD_RANK/_LOCAL_RANK, MPICH's
# PMI_RANK/MPI_LOCALRANKID, else Slurm's SLURM_PROCID/SLURM_LOCALID (srun).
#
#   - rank 0, the driver, binds no GPU: CUDA_VISIBLE_DEVICES="" (nothing it imports
#     can take GPU memory); it writes its process id to DRIVER_PIDFILE when set.
#   - a training rank takes its slot among the training ranks of its node (the local
#     rank, less one on the first node, where rank 0 is: the first node's ranks are
#     0, 1, ..., so rank == local rank there only) and keeps entry `slot` of the
#     CUDA_VISIBLE_DEVICES the scheduler gave the task (all the node's GPUs: Slurm's
#     --gpus-per-node, PBS's ngpus). nas then sees one GPU and uses it: its own
#     binding, NAS_LOCAL_RANK mod (GPUs it sees), computes the same slot by MPI.
#   - a task that sees one GPU or none, or an unknown launcher: unchanged (nas binds).
#   - every rank ignores SIGUSR1 (below).
rank_exec() {
    local rank="" local="" slot devices=()
    if [ -n "${OMPI_COMM_WORLD_RANK:-}" ] && [ -n "${OMPI_COMM_WORLD_LOCAL_RANK:-}" ]; then
        rank=$OMPI_COMM_WORLD_RANK local=$OMPI_COMM_WORLD_LOCAL_RANK
    elif [ -n "${PMI_RANK:-}" ] && [ -n "${MPI_LOCALRANKID:-}" ]; then
        rank=$PMI_RANK local=$MPI_LOCALRANKID
    elif [ -n "${SLURM_PROCID:-}" ] && [ -n "${SLURM_LOCALID:-}" ]; then
        rank=$SLURM_PROCID local=$SLURM_LOCALID
    fi
    # SIGUSR1 is for the batch script (the job's end is near): a launcher that passes
    # it on to the ranks (mpirun does, and a `qsig` or `scancel --signal=USR1` may
    # reach them) must not end them. Ignored across exec; nas does not use it.
    trap '' USR1
    if [ "$rank" = 0 ]; then
        export CUDA_VISIBLE_DEVICES=""
        if [ -n "${DRIVER_PIDFILE:-}" ]; then
            echo "$$" >"$DRIVER_PIDFILE"
        fi
    elif [ -n "$rank" ] && [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
        slot=$local
        if [ "$rank" = "$local" ]; then
            slot=$((local - 1))
        fi
        IFS=, read -r -a devices <<<"$CUDA_VISIBLE_DEVICES"
        if [ "${#devices[@]}" -gt 1 ]; then
            export CUDA_VISIBLE_DEVICES="${devices[slot % ${#devices[@]}]}"
        fi
    fi
    exec "$@"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    # Run, not sourced: the per-rank wrapper.
    set -euo pipefail
    [ "${1:-}" = rank ] && [ "$#" -ge 2 ] ||
        die "usage: bash batch_lib.sh rank COMMAND... (the batch scripts source this file)"
    shift
    rank_exec "$@"
fi
