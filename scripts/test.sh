#!/usr/bin/env bash
# Set up (if needed) and run the test suite. Extra arguments go to pytest:
#
#   bash scripts/test.sh                    # everything
#   bash scripts/test.sh -m "not slow" -x   # fast tests, stop at the first failure
#   bash scripts/test.sh tests/test_platform.py
#
# Exits with pytest's status (5 means no tests were collected).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
# shellcheck source=scripts/env.sh
source "$here/env.sh"
cd "$NAS_ROOT"
exec "$NAS_ROOT/.venv/bin/python" -m pytest "$@"
