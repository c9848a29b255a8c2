#!/usr/bin/env bash
# Set up (if needed) and run the main job: a search on an offline problem
# (regularized evolution over the breast-cancer problem, two worker processes).
# Extra arguments are passed on to nas-search, e.g.
#
#   bash scripts/demo.sh --seed 1
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
# shellcheck source=scripts/env.sh
source "$here/env.sh"   # puts .venv/bin (the nas-* entry points) first on PATH
cd "$NAS_ROOT"
# A fresh output folder per run, so the demo is safe to run again; a killed demo
# continues with: nas-search --resume runs/demo-<time>
out="runs/demo-$(date +%Y%m%d-%H%M%S)"
nas-search --problem problems.breast_cancer:problem --search regevo \
    --max-evals 24 --population-size 8 --sample-size 3 --workers 2 --seed 0 \
    --out "$out" "$@"
nas-plot "$out"
