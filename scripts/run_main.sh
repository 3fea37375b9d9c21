#!/usr/bin/env bash
# The README's first command: install what is needed, build, and run the main job on its embedded
# default (all-MiniLM-L6-v2). Extra arguments go to the main job.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/install_deps.sh"
bash "$repo/scripts/build.sh" "$repo/build" sparse24_cli
exec "$repo/build/sparse24" demo "$@"
