// Transposable 2:4 masks on the GPU: one thread per 4 rows x 8 columns (two 4x4 blocks, so it owns
// whole metadata bytes), the 90-pattern search of prune_group.h fully unrolled; identical to
// transposable_cpu.cc.
#include "prune/prune_cuda.h"
#include "prune/prune_cuda_common.cuh"

namespace s24::detail {
namespace {

template <class T>
__global__ void __launch_bounds__(kThreadsPerBlock)
    transposable_kernel(const T* __restrict__ w, int64_t rows, int64_t cols, GroupOutputs<T> o,
                        unsigned long long* fault) {
  const int64_t groups = cols / 4, mcols = (cols + 7) / 8, units = (rows / 4) * mcols;
  for (int64_t u = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; u < units;
       u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t br = u / mcols, b = u - br * mcols;
    uint32_t bytes[4] = {0, 0, 0, 0};
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t g = 2 * b + h;
      if (g >= groups) break;
      T in[4][4];
      float magnitude[4][4];
      load_block(w, 4 * br, cols, g, in, magnitude, fault);
      const uint32_t pattern = best_transposable_pattern(magnitude);
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const uint32_t keep = pattern_row_bits(pattern, r);
        T pruned[4];
#pragma unroll
        for (int c = 0; c < 4; ++c) pruned[c] = (keep >> c) & 1u ? in[r][c] : Elem<T>::zero();
        bytes[r] |= write_group(o, (4 * br + r) * groups + g, pruned, keep) << (4 * h);
      }
    }
    if (o.meta) {
#pragma unroll
      for (int r = 0; r < 4; ++r) o.meta[(4 * br + r) * mcols + b] = static_cast<uint8_t>(bytes[r]);
    }
  }
}

}  // namespace

void launch_transposable_cuda(const Tensor& w, const PruneOutputs& out, unsigned long long* fault,
                              Stream stream) {
  const int64_t rows = w.size(0), cols = w.size(1), units = (rows / 4) * ((cols + 7) / 8);
  if (units == 0) return;
  dispatch_value_dtype(w.dtype(), [&](auto tag) {
    using T = decltype(tag);
    transposable_kernel<T>
        <<<blocks_for(units), kThreadsPerBlock, 0, static_cast<cudaStream_t>(stream)>>>(
            static_cast<const T*>(w.raw_data()), rows, cols, group_outputs<T>(out), fault);
    S24_CUDA_CHECK_LAUNCH();
  });
}

void transposable_cuda(const Tensor& w_in, const PruneOutputs& out) {
  const Tensor w = contiguous_cuda(w_in);
  DeviceFault fault(w.device());
  launch_transposable_cuda(w, out, fault.ptr(), nullptr);
  fault.throw_if_any(w.size(1), "mask_transposable");
}

}  // namespace s24::detail
