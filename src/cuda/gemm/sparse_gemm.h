// Internal: host interface of the sm_80+ 2:4 sparse GEMM (no CUDA headers): f16 / bf16 on the
// mma.sp and wgmma kernels, 8-bit (fp8, int8) on the wgmma kernel only.
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
  int config = 0;      // index into kConfigs, or kSm90Configs when wgmma (tile_configs.h)
  int splits = 1;      // split-K factor (CTAs per output tile along K); 1 for wgmma
  bool wgmma = false;  // the sm_90a wgmma.mma_async.sp kernel instead of the mma.sp one
  // wgmma, 16-bit: which instantiation runs the product. -1: the one with the unrolled GELU
  // (erf) epilogue for GELU products of many tiles per SM (kSm90UnrolledGeluMinTilesPerSm), the
  // other one otherwise; 0 / 1 force the rolled / unrolled one (tests, S24_SM90_TILES). Without
  // GELU both run the same epilogue code: the choice only decides which kernel a product shares.
  int gelu_unroll = -1;
};

// The shape heuristic: a tile configuration by M, then a split-K factor that brings the CTA count
// to about two per SM (sm_count x min(2, ctas_per_sm[config])) when the output tiles alone would
// leave SMs idle: memory-bound shapes then stream the weight from every SM, without the traffic
// and fix-up tail of deeper splits (tuned on an H200, bench/NOTES.md).
GemmPlan choose_plan(int64_t m, int64_t n, int64_t k, int sm_count, const int* ctas_per_sm);
// The sm_90a tile configuration for a compute-bound shape: the tuned table of the device's class
// (`device_name`: H100 or H200, sm90_plan_table.h), by operand width (dtype F16 / BF16 or 8-bit),
// M, N, K and by whether the epilogue applies an activation (its register cost favours other
// tiles, bench/NOTES.md sm90 v9).
// S24_SM90_TILES overrides its choice for 16-bit products (parse_sm90_tile_override).
GemmPlan choose_sm90_plan(int64_t m, int64_t n, int64_t k, const std::string& device_name,
                          DType dtype, Activation activation);
// S24_SM90_TILES="activated:NAME[:unrolled|:rolled],plain:NAME[:unrolled|:rolled]" (either part
// may be left out): every 16-bit sm_90a product with an activation / without one takes tile
// configuration NAME (tile_configs.h) instead of the table's choice, and with a third field the
// instantiation with or without the unrolled GELU epilogue (GemmPlan::gelu_unroll). For A/B runs
// of a table change inside a model; choose_sm90_plan reads it once per process and throws
// kInvalidArgument at the first product if the value is malformed.
struct Sm90TileOverride {
  GemmPlan activated{-1, 1, true}, plain{-1, 1, true};  // config -1: the table's choice
  std::string error;  // non-empty: the value is malformed (the message says how)
};
Sm90TileOverride parse_sm90_tile_override(const char* text);
// True when the wgmma kernel serves this shape on an sm_90 device: enough tokens that the tensor
// cores, not the weight stream, bound the time, and enough 128 x 128 tiles to occupy half the
// SMs (the wgmma kernel has no split-K; measured crossovers, bench/NOTES.md).
bool prefer_sm90(int64_t m, int64_t n, int64_t k, int sm_count);
// The dispatcher's plan: on sm_90 devices the wgmma kernel where prefer_sm90 says so, else the
// mma.sp heuristic with the device's multiprocessor count and the kernels' measured occupancy.
GemmPlan choose_plan_for(int64_t m, int64_t n, int64_t k, DType dtype, Activation activation,
                         const Device& device);
// Clamps a (possibly forced) plan to what the shape allows: splits in [1, k-blocks], no empty
// split. Throws kInvalidArgument for an unknown configuration.
GemmPlan normalize_plan(GemmPlan plan, int64_t k);
std::string plan_name(const GemmPlan& plan);  // e.g. "n64m16/s4"

struct GemmArgs {
  const void* x = nullptr;
  const void* w_values = nullptr;
  const void* w_meta = nullptr;
  // The kept values in row-major order [n, k / 2] (HwLayout::row_values), read by the sm_90a
  // kernel; nullptr when the caller has none (the dispatcher then takes the mma.sp kernel, and a
  // forced wgmma plan throws kUnsupported).
  const void* w_row_values = nullptr;
  const void* bias = nullptr;
  void* y = nullptr;
  int64_t m = 0, n = 0, k = 0;
  // W's dtype. X's and Y's: the same for F16 / BF16; for 8-bit W (sm_90 only), X is int8 with an
  // int8 W or either fp8 with an fp8 W, and Y (bias, residual) F16, BF16 or F32.
  DType dtype = DType::kF16;
  DType x_dtype = DType::kF16;
  DType y_dtype = DType::kF16;
  Activation activation = Activation::kNone;
  // The epilogue of ops.h (LinearOptions): act(alpha * x_scale[m] * w_scale[n] * acc + bias[n])
  // + residual[m, n]. x_scale [m] and w_scale [n] are F32; residual is [m, n] in `dtype`, 16-byte
  // aligned, and may equal y.
  float alpha = 1.0f;
  const float* x_scale = nullptr;
  const float* w_scale = nullptr;
  const void* residual = nullptr;
  Device device = Device::cuda(0);
  Stream stream = nullptr;
};

// The sm_90a kernel (sparse_gemm_sm90.cu); run_sparse_gemm calls it for wgmma plans. Throws
// kUnsupported on a device other than compute capability 9.0, or when sm90_runs is false.
void run_sparse_gemm_sm90(const GemmArgs& args, const GemmPlan& plan);
// Whether the sm_90a kernel can take these operands (it needs the row-major values, K % 16 == 0
// and a 16-byte aligned base); else *why says what is missing.
bool sm90_runs(const GemmArgs& args, std::string* why = nullptr);

// Launches the kernel (workspace from detail::stream_workspace when splits > 1). `plan` nullptr:
// the heuristic's. Asynchronous; capturable once the workspace has its size.
void run_sparse_gemm(const GemmArgs& args, const GemmPlan* plan = nullptr);

}  // namespace s24::detail::gemm
