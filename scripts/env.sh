# shellcheck shell=bash
# Environment shared by scripts/setup.sh, test.sh and demo.sh.
#
# Source it, do not run it:   source scripts/env.sh
# It is safe to source more than once and under `set -euo pipefail`.

# The repository root, wherever the caller's working directory is.
NAS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export NAS_ROOT

# The project's virtual environment goes first on PATH (once), so `python`,
# `pytest` and the `nas-*` entry points are the venv's.
case ":${PATH}:" in
    *":${NAS_ROOT}/.venv/bin:"*) ;;
    *) export PATH="${NAS_ROOT}/.venv/bin:${PATH}" ;;
esac

# Open MPI refuses to start ranks as root unless told twice; containers and CI
# runners are often root. Only set when root so normal users keep the guard.
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1
    export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

# TensorFlow's C++ INFO/WARNING lines (CPU features, oneDNN notes) repeat once
# per rank and drown real output. The caller's own value wins.
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
