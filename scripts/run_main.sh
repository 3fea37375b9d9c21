#!/usr/bin/env bash
# The README's first command: install what is needed, build, and run the main job on its embedded
# default, the real all-MiniLM-L6-v2 checkpoint:
#   1. sparse24 demo: prune every encoder Linear to 2:4, compress, save, reload, per-layer table;
#   2. sparse24 bert: the pruned model's fidelity to the dense one on real sentences, and dense vs
#      2:4 forward times (CPU; the GPU too when one is present and the build has CUDA).
# Extra arguments go to `sparse24 bert` (see `build/sparse24 bert --help`).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/install_deps.sh"
bash "$repo/scripts/build.sh" "$repo/build" sparse24_cli
cd "$repo"
"$repo/build/sparse24" demo
exec "$repo/build/sparse24" bert "$@"
