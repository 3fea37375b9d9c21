// Internal: host interface of the sm_80+ 2:4 sparse GEMM (no CUDA headers).
//   Y[m, n] = act(X[m, k] W[n, k]^T + bias[n]),  W in the hardware layout (format/hw_layout.h).
// Alignment rules (checked by the callers in src/ops/linear_cuda.cu, which document them):
// k % 8 == 0, n % 8 == 0, X / Y / bias 16-byte aligned and contiguous.
#pragma once

#include <cstdint>
#include <string>

#include "sparse24/ops.h"
#include "sparse24/tensor.h"

namespace s24::detail::gemm {

struct GemmPlan {
  int config = 0;  // index into kConfigs (tile_configs.h)
  int splits = 1;  // split-K factor (CTAs per output tile along K)
};

// The shape heuristic: a tile configuration by M, then a split-K factor that brings the CTA count
// to about two per SM (sm_count x min(2, ctas_per_sm[config])) when the output tiles alone would
// leave SMs idle: memory-bound shapes then stream the weight from every SM, without the traffic
// and fix-up tail of deeper splits (tuned on an H200, bench/NOTES.md).
GemmPlan choose_plan(int64_t m, int64_t n, int64_t k, int sm_count, const int* ctas_per_sm);
// The same with the device's multiprocessor count and the kernels' measured occupancy (cached).
GemmPlan choose_plan_for(int64_t m, int64_t n, int64_t k, DType dtype, const Device& device);
// Clamps a (possibly forced) plan to what the shape allows: splits in [1, k-blocks], no empty
// split. Throws kInvalidArgument for an unknown configuration.
GemmPlan normalize_plan(GemmPlan plan, int64_t k);
std::string plan_name(const GemmPlan& plan);  // e.g. "n64m16/s4"

struct GemmArgs {
  const void* x = nullptr;
  const void* w_values = nullptr;
  const void* w_meta = nullptr;
  const void* bias = nullptr;
  void* y = nullptr;
  int64_t m = 0, n = 0, k = 0;
  DType dtype = DType::kF16;
  Activation activation = Activation::kNone;
  Device device = Device::cuda(0);
  Stream stream = nullptr;
};

// Launches the kernel (workspace from detail::stream_workspace when splits > 1). `plan` nullptr:
// the heuristic's. Asynchronous; capturable once the workspace has its size.
void run_sparse_gemm(const GemmArgs& args, const GemmPlan* plan = nullptr);

}  // namespace s24::detail::gemm
