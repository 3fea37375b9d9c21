// Internal: kernel launches with programmatic dependent launch (PDL, sm_90). A kernel launched
// with cudaLaunchAttributeProgrammaticStreamSerialization is set up by the GPU while the previous
// kernel of its stream finishes, and starts as that kernel's CTAs exit, without the launch
// latency between them (the 2:4 BERT-base forward on an H100: 11% / 5% / 2% faster at batch
// 4 / 16 / 64). Such a kernel must call arch::grid_dependency_wait() before its first global
// memory access (a read of what the previous kernel writes, or a write of what it reads);
// cuda/arch/grid_dependency.cuh says why sparse24's kernels never release their dependents early.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <utility>

#include "cuda/check_cuda.h"
#include "cuda/device_info.h"  // programmatic_launch

namespace s24::detail {

// The opt-in to more than 48 KB of dynamic shared memory is per kernel and per device. `done`
// (one per kernel: a static at the call site) remembers the devices that have it, a bit each, so
// the steady state costs one atomic load.
template <class Kernel>
void opt_in_dynamic_smem(Kernel kernel, int bytes, int device, std::atomic<uint64_t>& done) {
  const uint64_t bit = uint64_t{1} << (device & 63);
  if (done.load(std::memory_order_acquire) & bit) return;
  S24_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  done.fetch_or(bit, std::memory_order_acq_rel);
}

// cudaLaunchKernelEx with the PDL attribute when `programmatic`; checks the launch.
template <class... Params, class... Args>
void launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem_bytes,
                   cudaStream_t stream, bool programmatic, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem_bytes;
  config.stream = stream;
  cudaLaunchAttribute pdl{};
  if (programmatic) {
    pdl.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    pdl.val.programmaticStreamSerializationAllowed = 1;
    config.attrs = &pdl;
    config.numAttrs = 1;
  }
  S24_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

}  // namespace s24::detail
