#!/usr/bin/env bash
# Set up (if needed) and run the main job: a small search on an offline
# problem. Extra arguments are passed on to it, e.g.
#
#   bash scripts/demo.sh --seed 1
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
# shellcheck source=scripts/env.sh
source "$here/env.sh"   # puts .venv/bin (the nas-* entry points) first on PATH
cd "$NAS_ROOT"
exec nas-train --problem problems.breast_cancer:problem --arch random --seed 0 "$@"
