#!/usr/bin/env bash
# Set up everything nas needs on this machine, then check that it works.
#
#   bash scripts/setup.sh              # CPU: TensorFlow from the extra `cpu`
#   NAS_GPU=1 bash scripts/setup.sh    # NVIDIA GPUs: extra `gpu`, Horovod with NCCL
#
# Safe to run again: every step checks whether it is already done and says so
# in one line. Steps:
#   1. Debian packages: Open MPI, graphviz, build tools (only what is missing;
#      with NAS_SLURM=1 also Slurm)
#   2. the virtual environment .venv (reused when present)
#   3. pip install -e '.[cpu,mpi,test]' or '.[gpu,mpi,test]' (skipped while
#      pyproject.toml and the extras are unchanged)
#   4. Horovod 0.28.1 with TensorFlow + MPI (+ NCCL for GPUs), built once into
#      a wheel cache
#   5. a 2-rank mpirun smoke check (skipped once passed for this install)
#
# Environment:
#   NAS_GPU=1|0         1: TensorFlow for NVIDIA GPUs (`tensorflow[and-cuda]`)
#                       and Horovod built with HOROVOD_GPU_OPERATIONS=NCCL (needs
#                       the CUDA toolkit and NCCL: docs/install.md); 0: CPU only.
#                       Unset: keep the flavour .venv has (CPU for a new one), so
#                       scripts/test.sh never swaps a GPU TensorFlow for a CPU one
#   NAS_CACHE=DIR       downloads, built wheels and logs (default ~/.cache/nas)
#   NAS_SKIP_HOROVOD=1  do not install Horovod (the mpi4py data-parallel
#                       fallback still works); CI ignores it
#   NAS_SLURM=1         also install Slurm and munge (Debian's slurm-wlm), for
#                       the tests that submit scripts/slurm_search.sbatch to a
#                       local one-node Slurm (tests/cluster; .ci/run sets it).
#                       A search never needs it: on a cluster, Slurm is the site's
#   NAS_BUILD_JOBS=N    parallel compile jobs for Horovod (default 2)
#   PYTHON=EXE          interpreter that creates .venv (default python3)
#   HOROVOD_GPU_OPERATIONS, HOROVOD_CUDA_HOME, HOROVOD_NCCL_HOME, ...  passed on
#                       to the Horovod build (NAS_GPU=1 defaults the first to
#                       NCCL, and HOROVOD_NCCL_HOME to a module's NCCL_HOME,
#                       NCCL_ROOT or EBROOTNCCL)
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$NAS_ROOT"

VENV="$NAS_ROOT/.venv"
PY="$VENV/bin/python"
BASE_PYTHON="${PYTHON:-python3}"
NAS_CACHE="${NAS_CACHE:-${HOME:?HOME is not set; set NAS_CACHE}/.cache/nas}"
LOG_DIR="$NAS_CACHE/logs"
BUILD_JOBS="${NAS_BUILD_JOBS:-2}"
SKIP_HOROVOD="${NAS_SKIP_HOROVOD:-0}"
HOROVOD_VERSION=0.28.1
# Horovod 0.28.1 predates setuptools' built-in bdist_wheel (70.1); the upper
# bound is the newest major this build was tried with.
BUILD_REQUIREMENTS=("setuptools>=70.1,<85" "wheel")

START_SECONDS=$SECONDS
mkdir -p "$LOG_DIR"

say() { printf '[setup] %s\n' "$*"; }
warn() { printf '[setup] WARNING: %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# run_logged NAME CMD...: run CMD with its output in $LOG_DIR/NAME.log; on
# failure print the log's tail (and its error lines) and stop the script.
run_logged() {
    local name=$1; shift
    local log="$LOG_DIR/$name.log"
    if ! "$@" >"$log" 2>&1; then
        printf '[setup] ERROR: %s failed. Last lines of %s:\n' "$name" "$log" >&2
        tail -n 60 "$log" | sed 's/^/    /' >&2
        # The first errors (compiler, CMake, make, Python) are often far above
        # the tail, which pip fills with clean-up noise.
        local errors='(^|[[:space:]])(fatal )?error:|[A-Za-z]+Error:|CMake Error|\*\*\* .*Error [0-9]+'
        if grep -q -E "$errors" "$log"; then
            printf '[setup] First error lines:\n' >&2
            grep -E "$errors" "$log" | grep -v -E '^[[:space:]]*except ' | head -n 15 |
                sed 's/^/    /' >&2
        fi
        exit 1
    fi
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------------------
# 1. System packages
# ---------------------------------------------------------------------------
missing_pkgs=()
if have mpicc && have mpirun; then
    # An MPI already on PATH (Debian's, or a cluster module) is used as is:
    # mixing two MPIs in one job is a classic source of hangs.
    say "MPI: found $(command -v mpirun) ($(mpirun --version 2>&1 | head -n1)), skipping Open MPI"
else
    missing_pkgs+=(openmpi-bin libopenmpi-dev)
fi
have dot || missing_pkgs+=(graphviz)   # draws architectures to PNG
if [ "$SKIP_HOROVOD" != 1 ]; then
    # Horovod's C++ extension is built with CMake, a C++ compiler and the
    # interpreter's headers.
    have cmake || missing_pkgs+=(cmake)
    have make || missing_pkgs+=(make)
    have g++ || missing_pkgs+=(g++)
    header_python="$BASE_PYTHON"
    [ -x "$PY" ] && header_python="$PY"
    if ! "$header_python" -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
        2>/dev/null; then
        missing_pkgs+=(python3-dev)
    fi
fi
if [ "${NAS_SLURM:-0}" = 1 ]; then
    # Daemons and clients of the tests' local Slurm; slurm-wlm brings munge and
    # the pmix plugin of srun --mpi=pmix.
    { have slurmctld && have slurmd && have sbatch && have munged; } || missing_pkgs+=(slurm-wlm)
fi
# Debian splits venv/ensurepip out of the interpreter package.
if [ ! -x "$PY" ] && ! "$BASE_PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    missing_pkgs+=(python3-venv)
fi

if [ ${#missing_pkgs[@]} -eq 0 ]; then
    say "system packages: all present, skipping apt-get"
elif [ "$(id -u)" -eq 0 ] && have apt-get; then
    say "system packages: installing ${missing_pkgs[*]} (logs: $LOG_DIR/apt*.log)"
    export DEBIAN_FRONTEND=noninteractive
    run_logged apt-update apt-get update -q
    run_logged apt apt-get install -y -q --no-install-recommends "${missing_pkgs[@]}"
else
    warn "missing system packages: ${missing_pkgs[*]}"
    warn "  Debian/Ubuntu: sudo apt-get install ${missing_pkgs[*]}"
    warn "  cluster: 'module load' an MPI (and cmake, a compiler) instead of openmpi-*"
    warn "  continuing; steps that need them will fail or be skipped"
fi

# ---------------------------------------------------------------------------
# 2. Virtual environment
# ---------------------------------------------------------------------------
supported_python='import sys; sys.exit(not (3, 10) <= sys.version_info[:2] < (3, 13))'
if [ -x "$PY" ] && "$PY" -c "$supported_python" 2>/dev/null; then
    say "venv: reusing .venv ($("$PY" -V 2>&1))"
elif [ -e "$VENV" ]; then
    # Never delete someone's environment silently.
    die ".venv exists but its python is missing, broken or not 3.10-3.12; remove it (rm -rf .venv) and re-run"
else
    have "$BASE_PYTHON" || die "no '$BASE_PYTHON' on PATH; install Python 3.10-3.12 or set PYTHON=/path/to/python3"
    "$BASE_PYTHON" -c "$supported_python" ||
        die "$BASE_PYTHON is $("$BASE_PYTHON" -V 2>&1); nas needs Python 3.10-3.12 (set PYTHON=...)"
    say "venv: creating .venv with $("$BASE_PYTHON" -V 2>&1)"
    "$BASE_PYTHON" -m venv "$VENV"
fi

# ---------------------------------------------------------------------------
# 3. The package and its Python dependencies
# ---------------------------------------------------------------------------
# Which TensorFlow: the extra `cpu` (tensorflow-cpu on x86_64) or `gpu`
# (tensorflow[and-cuda]). Both wheels install the same `tensorflow` module, so
# exactly one may be in .venv. Without NAS_GPU, the flavour already installed
# is kept: tensorflow-cpu is CPU; `tensorflow` with NVIDIA's cuDNN wheel, or on
# x86_64 (where it is the GPU build), is GPU.
installed_tf_flavour() {
    "$PY" - <<'EOF' 2>/dev/null || true
import importlib.metadata as m
import platform


def installed(name):
    try:
        m.version(name)
    except m.PackageNotFoundError:
        return False
    return True


if installed("tensorflow-cpu"):
    print("cpu")
elif installed("tensorflow"):
    cudnn = any(installed(f"nvidia-cudnn-cu{major}") for major in (11, 12, 13))
    print("gpu" if cudnn or platform.machine() in ("x86_64", "AMD64") else "cpu")
EOF
}

case "${NAS_GPU:-}" in
    1) TF_FLAVOUR=gpu ;;
    0) TF_FLAVOUR=cpu ;;
    "")
        TF_FLAVOUR="$(installed_tf_flavour)"
        TF_FLAVOUR="${TF_FLAVOUR:-cpu}"
        ;;
    *) die "NAS_GPU must be 1 (GPUs) or 0 (CPU only), not '$NAS_GPU'" ;;
esac
EXTRAS="$TF_FLAVOUR,mpi,test"
if [ "$TF_FLAVOUR" = gpu ]; then
    # Horovod's GPU build: allreduce of GPU tensors through NCCL, unless the
    # caller chose otherwise (HOROVOD_GPU_OPERATIONS=MPI for a CUDA-aware MPI).
    export HOROVOD_GPU_OPERATIONS="${HOROVOD_GPU_OPERATIONS:-NCCL}"
    if [ -z "${HOROVOD_NCCL_HOME:-}${HOROVOD_NCCL_INCLUDE:-}${HOROVOD_NCCL_LIB:-}" ]; then
        # What `module load nccl` usually sets; Horovod's CMake reads none of them.
        for nccl_home in "${NCCL_HOME:-}" "${NCCL_ROOT:-}" "${EBROOTNCCL:-}"; do
            if [ -n "$nccl_home" ] && [ -d "$nccl_home" ]; then
                export HOROVOD_NCCL_HOME="$nccl_home"
                break
            fi
        done
    fi
fi
HOROVOD_GPU_OPS="${HOROVOD_GPU_OPERATIONS:-}"
say "TensorFlow: $TF_FLAVOUR flavour (extras $EXTRAS${NAS_GPU:+, from NAS_GPU=$NAS_GPU})"

# The stamp records what the editable install was made from; code edits need
# no reinstall, dependency or entry-point edits in pyproject.toml do.
install_stamp="$VENV/.nas-install-stamp"
install_key="$(sha256_of pyproject.toml) extras=$EXTRAS"
if [ -f "$install_stamp" ] && [ "$(cat "$install_stamp")" = "$install_key" ] &&
    "$PY" -c 'import importlib.metadata as m; m.version("nas")' 2>/dev/null; then
    say "python packages: installed from this pyproject.toml already, skipping pip"
else
    rm -f "$install_stamp"
    # The other flavour's wheel would share the `tensorflow` folder with the
    # one installed now; uninstall both (removing one alone takes files the
    # other needs) and install the wanted one afresh.
    case "$TF_FLAVOUR:$(uname -m)" in
        gpu:*) unwanted_tf=tensorflow-cpu ;;
        cpu:x86_64 | cpu:AMD64) unwanted_tf=tensorflow ;;
        *) unwanted_tf="" ;;
    esac
    if [ -n "$unwanted_tf" ] &&
        "$PY" -c "import importlib.metadata as m; m.version('$unwanted_tf')" 2>/dev/null; then
        say "python packages: $unwanted_tf is installed but this set-up is $TF_FLAVOUR;" \
            "uninstalling TensorFlow first (log: $LOG_DIR/pip-uninstall-tensorflow.log)"
        run_logged pip-uninstall-tensorflow "$PY" -m pip uninstall -y tensorflow tensorflow-cpu
    fi
    say "python packages: pip install -e '.[$EXTRAS]' (log: $LOG_DIR/pip-install.log)"
    run_logged pip-install "$PY" -m pip install -e ".[$EXTRAS]"
    printf '%s\n' "$install_key" >"$install_stamp"
fi

# ---------------------------------------------------------------------------
# 4. Horovod
# ---------------------------------------------------------------------------
# Horovod's only release on PyPI is a source distribution that does not build
# against the TensorFlow 2.21 wheel: horovod/tensorflow/xla_mpi_ops.cc includes
# XLA headers the wheel lacks. That file only does work in GPU builds, so it is
# dropped from the source list, in GPU builds too (Horovod's ops then have no
# XLA kernels: a step that calls them must not be XLA-compiled, and nas
# compiles data-parallel models with jit_compile=False). The wheel is built
# once and cached per (Python, TensorFlow, MPI, GPU ops): it links all four.

horovod_cache_key() {
    local py_tag tf_version mpi_name mpi_hash
    py_tag="$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
    tf_version="$("$PY" -c 'import importlib.metadata as m
for dist in ("tensorflow-cpu", "tensorflow", "tensorflow-gpu"):
    try:
        print(m.version(dist)); break
    except m.PackageNotFoundError:
        pass
else:
    raise SystemExit("TensorFlow is not installed in .venv")')"
    # e.g. "mpirun (Open MPI) 4.1.4" -> "open-mpi-4.1.4"; the hash tells apart
    # two MPIs whose first lines look alike.
    mpi_name="$(mpirun --version 2>&1 | head -n1 | sed -E 's/^mpirun *//' |
        tr '[:upper:]' '[:lower:]' | sed -E 's/[^a-z0-9.]+/-/g; s/^-+//; s/-+$//' | cut -c1-40)"
    mpi_hash="$({ command -v mpicc; mpirun --version 2>&1; } | sha256sum | cut -c1-8)"
    # CPU builds keep the short name; GPU builds (CUDA, and NCCL or MPI for GPU
    # tensors) end in -gpu-nccl or -gpu-mpi, so the two never share a folder.
    printf '%s-tf%s-%s-%s%s' "$py_tag" "$tf_version" "$mpi_name" "$mpi_hash" \
        "${HOROVOD_GPU_OPS:+-gpu-${HOROVOD_GPU_OPS,,}}"
}

# A GPU build needs nvcc and NCCL; say so before minutes of downloading and
# compiling rather than in the middle of a CMake log.
check_gpu_build_tools() {
    [ -n "$HOROVOD_GPU_OPS" ] || return 0
    local nvcc="" candidate include
    for candidate in "${HOROVOD_CUDA_HOME:+$HOROVOD_CUDA_HOME/bin/nvcc}" \
        "$(command -v nvcc || true)" "${CUDAToolkit_ROOT:+$CUDAToolkit_ROOT/bin/nvcc}" \
        "${CUDA_PATH:+$CUDA_PATH/bin/nvcc}" "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" \
        /usr/local/cuda/bin/nvcc; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            nvcc=$candidate
            break
        fi
    done
    [ -n "$nvcc" ] || die "Horovod's GPU build (HOROVOD_GPU_OPERATIONS=$HOROVOD_GPU_OPS) needs" \
        "the CUDA toolkit's nvcc: 'module load cuda' (CUDA 12, as TensorFlow 2.21) or set" \
        "HOROVOD_CUDA_HOME; or NAS_SKIP_HOROVOD=1 to use the mpi4py data-parallel fallback"
    say "Horovod: GPU build ($HOROVOD_GPU_OPS) with $nvcc"
    [ "$HOROVOD_GPU_OPS" = NCCL ] || return 0
    for include in "${HOROVOD_NCCL_INCLUDE:-}" "${HOROVOD_NCCL_HOME:+$HOROVOD_NCCL_HOME/include}" \
        "$(dirname "$(dirname "$nvcc")")/include" /usr/include /usr/local/include; do
        if [ -n "$include" ] && [ -f "$include/nccl.h" ]; then
            say "Horovod: NCCL headers in $include"
            return 0
        fi
    done
    warn "nccl.h not found: 'module load nccl' or set HOROVOD_NCCL_HOME (or HOROVOD_NCCL_INCLUDE"
    warn "  and HOROVOD_NCCL_LIB); see docs/install.md. Trying the build anyway."
}

build_horovod_wheel() {  # $1: directory to put the wheel in
    local wheel_dir=$1 sdist_dir="$NAS_CACHE/sdist" work src cmakelists
    local sdist="$sdist_dir/horovod-$HOROVOD_VERSION.tar.gz"
    check_gpu_build_tools
    if [ -f "$sdist" ]; then
        say "Horovod: using cached source $sdist"
    else
        say "Horovod: downloading the $HOROVOD_VERSION source distribution"
        run_logged horovod-download "$PY" -m pip download --no-deps --no-binary :all: \
            "horovod==$HOROVOD_VERSION" -d "$sdist_dir"
        [ -f "$sdist" ] || die "pip download did not produce $sdist"
    fi

    # Leftovers of failed builds (kept until now for a look) go; the caller
    # holds the build lock, so no other set-up is using them.
    rm -rf "$NAS_CACHE"/build/horovod.*
    mkdir -p "$NAS_CACHE/build"
    work="$(mktemp -d "$NAS_CACHE/build/horovod.XXXXXX")"
    tar -xzf "$sdist" -C "$work"
    src="$work/horovod-$HOROVOD_VERSION"
    cmakelists="$src/horovod/tensorflow/CMakeLists.txt"
    grep -q 'xla_mpi_ops\.cc' "$cmakelists" ||
        die "xla_mpi_ops.cc is not in $cmakelists: the patch no longer fits this source"
    sed -i '/xla_mpi_ops\.cc/d' "$cmakelists"

    # --no-build-isolation: Horovod compiles against the TensorFlow installed
    # in .venv, so it must build inside .venv, with .venv's setuptools.
    run_logged horovod-build-requirements "$PY" -m pip install "${BUILD_REQUIREMENTS[@]}"
    say "Horovod: building the wheel with $BUILD_JOBS jobs (3-5 minutes on 2 cores;" \
        "log: $LOG_DIR/horovod-build.log)${HOROVOD_GPU_OPS:+; GPU operations: $HOROVOD_GPU_OPS}"
    # MAKEFLAGS also stops Horovod's setup.py from adding its own -j8.
    run_logged horovod-build env \
        MAKEFLAGS="-j$BUILD_JOBS" \
        HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_MPI=1 HOROVOD_WITHOUT_PYTORCH=1 \
        HOROVOD_WITHOUT_MXNET=1 HOROVOD_WITHOUT_GLOO=1 \
        "$PY" -m pip wheel -v --no-build-isolation --no-deps -w "$work/dist" "$src"

    local built=("$work"/dist/horovod-*.whl)
    [ -f "${built[0]}" ] || die "the Horovod build produced no wheel (see $LOG_DIR/horovod-build.log)"
    mkdir -p "$wheel_dir"
    # Same file system, so the rename is atomic: nobody sees half a wheel.
    mv "${built[0]}" "$wheel_dir/"
    rm -rf "$work"
}

# Whether the installed Horovod imports, with MPI, and is the build asked for:
# a GPU build (with NCCL when asked) for GPU operations, a CPU build otherwise.
horovod_works() {
    HOROVOD_GPU_OPS="$HOROVOD_GPU_OPS" "$PY" - <<'EOF' >/dev/null 2>&1
import os

import horovod.tensorflow as hvd

gpu_ops = os.environ["HOROVOD_GPU_OPS"]
assert hvd.mpi_built(), "Horovod was built without MPI"
assert bool(hvd.cuda_built()) == bool(gpu_ops), "not the CPU/GPU build asked for"
assert gpu_ops != "NCCL" or hvd.nccl_built(), "Horovod was built without NCCL"
EOF
}

install_horovod() {
    have mpicc || die "Horovod needs an MPI with mpicc on PATH (apt-get install openmpi-bin" \
        "libopenmpi-dev, or 'module load' one), or set NAS_SKIP_HOROVOD=1 to go without"
    local key wheel_dir wheels attempt built_now=0
    key="$(horovod_cache_key)"
    wheel_dir="$NAS_CACHE/wheels/horovod-$HOROVOD_VERSION-$key"
    # Two set-ups on one machine (CI jobs, two clones) wait for each other
    # rather than building the same wheel twice.
    if have flock; then
        exec 9>"$NAS_CACHE/horovod-build.lock"
        flock 9
    fi
    for attempt in 1 2; do
        wheels=("$wheel_dir"/horovod-*.whl)
        if [ -f "${wheels[0]}" ]; then
            say "Horovod: installing cached wheel $(basename "${wheels[0]}") ($key)"
        else
            build_horovod_wheel "$wheel_dir"
            built_now=1
            wheels=("$wheel_dir"/horovod-*.whl)
        fi
        # Uninstall first: pip would keep an installed horovod of the same
        # version. Its dependencies (cloudpickle, psutil, pyyaml) come from
        # the index.
        run_logged horovod-uninstall "$PY" -m pip uninstall -y horovod
        run_logged horovod-install "$PY" -m pip install "${wheels[0]}"
        if horovod_works; then
            return 0
        fi
        # A cached wheel that installs but does not import was built against
        # something that has since changed: drop it and build afresh, once.
        [ "$attempt" = 1 ] && [ "$built_now" = 0 ] || break
        warn "Horovod from $(basename "${wheels[0]}") does not import; rebuilding"
        rm -f "${wheels[@]}"
    done
    "$PY" -c 'import horovod.tensorflow as hvd; print("mpi_built:", hvd.mpi_built())' >&2 || true
    die "Horovod does not import after a fresh build (see $LOG_DIR/horovod-build.log)"
}

# The smoke check (step 5): two real ranks talk through MPI, and Horovod.
if [ "$SKIP_HOROVOD" = 1 ]; then
    smoke_code='
from mpi4py import MPI
total = MPI.COMM_WORLD.allreduce(MPI.COMM_WORLD.Get_rank() + 1)
assert MPI.COMM_WORLD.Get_size() == 2 and total == 3, total
'
else
    smoke_code='
from mpi4py import MPI
import horovod.tensorflow as hvd
import tensorflow as tf
hvd.init(comm=MPI.COMM_WORLD)
mean = hvd.allreduce(tf.constant([float(hvd.rank() + 1)]), op=hvd.Average)
assert hvd.size() == 2 and float(mean[0]) == 1.5, (hvd.size(), mean)
hvd.shutdown()
'
fi

# Importing horovod.tensorflow loads TensorFlow (5-10 s here), and so does the
# smoke check. Once both passed, a stamp records a fingerprint of what they
# ran on: every installed distribution and version, Horovod's file hashes, the
# MPI, the check itself. While it matches, steps 4 and 5 are skipped, which
# keeps scripts/test.sh quick; any pip install or MPI change re-runs them.
verified_stamp="$VENV/.nas-verified-stamp"
env_fingerprint() {
    {
        printf '%s\n' "$install_key" "skip_horovod=$SKIP_HOROVOD" "gpu_ops=$HOROVOD_GPU_OPS" \
            "$smoke_code"
        command -v mpirun && mpirun --version 2>&1
        printf '%s\n' "$VENV"/lib/python*/site-packages/*.dist-info \
            "$VENV"/lib/python*/site-packages/*.egg-info | sort
        cat "$VENV"/lib/python*/site-packages/horovod-*.dist-info/RECORD 2>/dev/null
    } | sha256sum | cut -d' ' -f1
}
fingerprint="$(env_fingerprint || true)"
if [ -f "$verified_stamp" ] && [ "$(cat "$verified_stamp")" = "$fingerprint" ]; then
    say "Horovod: verified by an earlier run on exactly these packages, skipping"
    say "smoke check: passed before on exactly these packages and MPI, skipping"
    say "done in $((SECONDS - START_SECONDS))s"
    exit 0
fi
rm -f "$verified_stamp"

# ---------------------------------------------------------------------------
# 4. Horovod (continued)
# ---------------------------------------------------------------------------
if [ "$SKIP_HOROVOD" = 1 ]; then
    say "Horovod: NAS_SKIP_HOROVOD=1, skipping (the mpi4py data-parallel fallback is used)"
elif horovod_works; then
    say "Horovod: horovod.tensorflow imports already (${HOROVOD_GPU_OPS:-CPU} build), skipping"
else
    install_horovod
    say "Horovod: installed $("$PY" -c 'import horovod; print(horovod.__version__)')"
fi

# ---------------------------------------------------------------------------
# 5. Smoke check
# ---------------------------------------------------------------------------
if ! have mpirun; then
    warn "smoke check: no mpirun on PATH, skipping (MPI features will not work)"
else
    say "smoke check: mpirun -np 2 allreduce"
    run_logged smoke-check timeout 300 mpirun --oversubscribe -np 2 "$PY" -c "$smoke_code"
    say "smoke check: ok"
    env_fingerprint >"$verified_stamp"
fi

say "done in $((SECONDS - START_SECONDS))s"
