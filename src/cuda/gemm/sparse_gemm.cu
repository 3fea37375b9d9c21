// Host side of the sparse GEMM: the shape heuristic, split-K workspace, and the one switch that
// turns (dtype, tile configuration) into a kernel instantiation.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "core/check.h"
#include "cuda/check_cuda.h"
#include "cuda/device_info.h"
#include "cuda/gemm/sparse_gemm.h"
#include "cuda/gemm/sparse_gemm_kernel.cuh"
#include "cuda/gemm/tile_configs.h"
#include "cuda/launch.cuh"
#include "cuda/workspace.h"
#include "format/hw_layout.h"

namespace s24::detail::gemm {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <class T, int kCfg>
void launch(const GemmParams& p, int device, cudaStream_t stream) {
  constexpr TileConfig C = kConfigs[kCfg];
  static std::atomic<uint64_t> attribute_done{0};
  auto kernel = sparse_gemm_kernel<T, kCfg>;
  opt_in_dynamic_smem(kernel, C.smem_bytes(), device, attribute_done);
  const dim3 grid(static_cast<unsigned>(p.tiles_n * p.tiles_m), 1, static_cast<unsigned>(p.splits));
  kernel<<<grid, C.threads(), C.smem_bytes(), stream>>>(p);
  S24_CUDA_CHECK_LAUNCH();
}

template <class T>
void launch_config(int config, const GemmParams& p, int device, cudaStream_t stream) {
  switch (config) {
    case kN64M8:
      return launch<T, kN64M8>(p, device, stream);
    case kN64M16:
      return launch<T, kN64M16>(p, device, stream);
    case kN128M16:
      return launch<T, kN128M16>(p, device, stream);
    case kN64M32:
      return launch<T, kN64M32>(p, device, stream);
    case kN128M64:
      return launch<T, kN128M64>(p, device, stream);
    case kN128M128:
      return launch<T, kN128M128>(p, device, stream);
  }
  S24_THROW(ErrorCode::kInvalidArgument, "unknown GEMM tile configuration ", config);
}

template <class T, int kCfg>
int occupancy_of(int device) {
  constexpr TileConfig C = kConfigs[kCfg];
  static std::atomic<uint64_t> attribute_done{0};
  auto kernel = sparse_gemm_kernel<T, kCfg>;
  opt_in_dynamic_smem(kernel, C.smem_bytes(), device, attribute_done);
  int blocks = 0;
  S24_CUDA_CHECK(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, C.threads(), C.smem_bytes()));
  return blocks;
}

template <class T>
void occupancy_all(int device, int* out) {
  out[kN64M8] = occupancy_of<T, kN64M8>(device);
  out[kN64M16] = occupancy_of<T, kN64M16>(device);
  out[kN128M16] = occupancy_of<T, kN128M16>(device);
  out[kN64M32] = occupancy_of<T, kN64M32>(device);
  out[kN128M64] = occupancy_of<T, kN128M64>(device);
  out[kN128M128] = occupancy_of<T, kN128M128>(device);
}

// Resident CTAs per SM of every configuration, per device and dtype, measured once.
bool is_8bit_dtype(DType d) {
  return d == DType::kF8E4M3 || d == DType::kF8E5M2 || d == DType::kI8;
}

const int* ctas_per_sm(DType dtype, int device) {
  constexpr int kMaxDevices = 64;
  static std::once_flag once[kMaxDevices][2];
  static int table[kMaxDevices][2][kConfigCount];
  S24_CHECK(device >= 0 && device < kMaxDevices, ErrorCode::kInvalidArgument, "device ", device);
  const int d = dtype == DType::kBF16 ? 1 : 0;
  std::call_once(once[device][d], [&] {
    if (d == 0)
      occupancy_all<__half>(device, table[device][d]);
    else
      occupancy_all<__nv_bfloat16>(device, table[device][d]);
  });
  return table[device][d];
}

}  // namespace

GemmPlan choose_plan_for(int64_t m, int64_t n, int64_t k, DType dtype, Activation activation,
                         const Device& device) {
  ensure_current_device(device);
  const DeviceInfo& info = device_info(device.index);
  const bool sm90 = info.cc_major == 9 && info.cc_minor == 0;
  if (is_8bit_dtype(dtype)) {
    // 8-bit products have only the wgmma kernel (mma.sp has no fp8; sm_80 int8 is not written).
    S24_CHECK(sm90, ErrorCode::kUnsupported, "8-bit sparse products need an sm_90 GPU ",
              "(H100/H200: the wgmma kernel); ", info.name, " is sm_", info.cc_major,
              info.cc_minor);
    return choose_sm90_plan(m, n, k, info.name, dtype, activation);
  }
  if (sm90 && prefer_sm90(m, n, k, info.sm_count))
    return choose_sm90_plan(m, n, k, info.name, dtype, activation);
  return choose_plan(m, n, k, info.sm_count, ctas_per_sm(dtype, device.index));
}

GemmPlan normalize_plan(GemmPlan plan, int64_t k) {
  if (plan.wgmma) {
    S24_CHECK(plan.config >= 0 && plan.config < kSm90ConfigCount, ErrorCode::kInvalidArgument,
              "unknown sm_90a GEMM tile configuration ", plan.config);
    S24_CHECK(plan.gelu_unroll >= -1 && plan.gelu_unroll <= 1, ErrorCode::kInvalidArgument,
              "GemmPlan::gelu_unroll must be -1 (by tile count), 0 or 1, got ", plan.gelu_unroll);
    plan.splits = 1;
    return plan;
  }
  S24_CHECK(plan.config >= 0 && plan.config < kConfigCount, ErrorCode::kInvalidArgument,
            "unknown GEMM tile configuration ", plan.config);
  const int64_t kblocks = std::max<int64_t>(1, hw::padded_cols(k) / kStageK);
  int64_t splits = std::clamp<int64_t>(plan.splits, 1, std::min<int64_t>(kMaxSplits, kblocks));
  // Equal k-block counts per split; drop splits that would get none.
  const int64_t per = ceil_div(kblocks, splits);
  plan.splits = static_cast<int>(ceil_div(kblocks, per));
  return plan;
}

GemmPlan choose_plan(int64_t m, int64_t n, int64_t k, int sm_count, const int* ctas_per_sm) {
  GemmPlan plan;
  if (m <= 8) {
    plan.config = kN64M8;
  } else if (m <= 16) {
    plan.config = kN64M16;
  } else if (m <= 32) {
    plan.config = kN64M32;
  } else if (m <= 64) {
    plan.config = kN128M64;
  } else {
    plan.config = kN128M128;
    // A few hundred tokens on a narrow weight (BERT at batch 1: M = 384, N = 768, 18 tiles of
    // 128 x 128) leave most SMs idle, and split-K refills them poorly: 64 x 16 tiles (288 here)
    // ran 2.2x (K = 768) and 1.9x (K = 3072) faster than 128 x 128 with split-K on an H100
    // (bench/NOTES.md, session 9). Kept to M <= 512, where the tile's 16-token height re-reads
    // W from L2 at most 32 times.
    if (m > 128 && m <= 512 &&
        ceil_div(hw::padded_rows(n), 128) * ceil_div(m, 128) < int64_t{sm_count})
      plan.config = kN64M16;
  }
  const TileConfig& c = kConfigs[plan.config];
  const int64_t tiles = ceil_div(hw::padded_rows(n), c.bn) * ceil_div(m, c.bm);
  const int64_t kblocks = hw::padded_cols(k) / kStageK;
  // About two resident CTAs per SM (fewer when the configuration's occupancy is one): measured
  // on an H200 (bench/NOTES.md, v1 -> v2), more splits only add partial-tile traffic and a longer
  // split-K fix-up tail, fewer leave DRAM bandwidth unused. Keep >= 4 k-blocks (512 columns) per
  // split so that each CTA's pipeline fills.
  const int64_t target = int64_t{sm_count} * std::clamp(ctas_per_sm[plan.config], 1, 2);
  int64_t splits = std::max<int64_t>(1, target / tiles);
  splits = std::min<int64_t>(splits, std::max<int64_t>(1, kblocks / 4));
  plan.splits = static_cast<int>(std::min<int64_t>(splits, kMaxSplits));
  return normalize_plan(plan, k);
}

std::string plan_name(const GemmPlan& plan) {
  if (plan.wgmma)
    return (plan.config >= 0 && plan.config < kSm90ConfigCount) ? kSm90Configs[plan.config].name
                                                               : "wg_?";
  const char* name =
      (plan.config >= 0 && plan.config < kConfigCount) ? kConfigs[plan.config].name : "?";
  return std::string(name) + "/s" + std::to_string(plan.splits);
}

void run_sparse_gemm(const GemmArgs& a, const GemmPlan* forced) {
  if (a.m == 0 || a.n == 0) return;
  GemmPlan plan =
      forced ? normalize_plan(*forced, a.k)
             : choose_plan_for(a.m, a.n, a.k, a.dtype, a.activation, a.device);
  if (is_8bit_dtype(a.dtype)) {
    S24_CHECK(plan.wgmma, ErrorCode::kUnsupported, "8-bit sparse products run on the sm_90a ",
              "wgmma kernel only; ", plan_name(plan), " is an mma.sp plan");
    return run_sparse_gemm_sm90(a, plan);  // throws kUnsupported with the reason if it cannot
  }
  // The documented fallback: a product that the wgmma kernel cannot take runs on the mma.sp
  // kernel's heuristic plan (a forced plan throws in run_sparse_gemm_sm90 instead).
  if (!forced && plan.wgmma && !sm90_runs(a)) {
    const DeviceInfo& info = device_info(a.device.index);
    plan = choose_plan(a.m, a.n, a.k, info.sm_count, ctas_per_sm(a.dtype, a.device.index));
  }
  if (plan.wgmma) return run_sparse_gemm_sm90(a, plan);
  const DeviceInfo& info = device_info(a.device.index);
  const TileConfig& c = kConfigs[plan.config];
  S24_CHECK(c.smem_bytes() <= static_cast<int>(info.smem_optin_bytes), ErrorCode::kUnsupported,
            "tile configuration ", c.name, " needs ", c.smem_bytes(), " bytes of shared memory; ",
            info.name, " allows ", info.smem_optin_bytes);

  GemmParams p{};
  p.x = a.x;
  p.w_values = a.w_values;
  p.w_meta = a.w_meta;
  p.bias = a.bias;
  p.y = a.y;
  p.m = static_cast<int>(a.m);
  p.n = static_cast<int>(a.n);
  p.k = static_cast<int>(a.k);
  p.ksteps = static_cast<int>(hw::ksteps(a.k));
  p.kblocks = static_cast<int>(hw::padded_cols(a.k) / kStageK);
  p.splits = plan.splits;
  p.kblocks_per_split = static_cast<int>(ceil_div(p.kblocks, p.splits));
  p.tiles_n = static_cast<int>(hw::padded_rows(a.n) / c.bn);
  p.tiles_m = static_cast<int>(ceil_div(a.m, c.bm));
  p.raster_group = p.tiles_m > 1 ? 8 : p.tiles_n;
  p.activation = static_cast<int>(a.activation);
  p.alpha = a.alpha;
  p.x_scale = a.x_scale;
  p.w_scale = a.w_scale;
  p.residual = a.residual;
  S24_CHECK(static_cast<int64_t>(p.tiles_n) * p.tiles_m < (int64_t{1} << 31),
            ErrorCode::kInvalidArgument, "output of ", a.m, " x ", a.n, " is too large");

  if (p.splits > 1) {
    const size_t partial_bytes =
        static_cast<size_t>(p.splits) * p.tiles_m * p.tiles_n * c.bm * c.bn * sizeof(float);
    const size_t counter_bytes = static_cast<size_t>(p.tiles_m) * p.tiles_n * sizeof(int);
    p.partials = static_cast<float*>(
        stream_workspace(a.device, a.stream, WorkspaceSlot::kGemmPartials, partial_bytes));
    p.counters = static_cast<int*>(stream_workspace(a.device, a.stream,
                                                    WorkspaceSlot::kGemmCounters, counter_bytes,
                                                    /*zero_fill=*/true));
  }
  ensure_current_device(a.device);
  const auto stream = static_cast<cudaStream_t>(a.stream);
  if (a.dtype == DType::kF16) {
    launch_config<__half>(plan.config, p, a.device.index, stream);
  } else if (a.dtype == DType::kBF16) {
    launch_config<__nv_bfloat16>(plan.config, p, a.device.index, stream);
  } else {
    S24_THROW(ErrorCode::kDTypeMismatch, "the sparse GEMM takes F16 or BF16, got ",
              dtype_name(a.dtype));
  }
}

}  // namespace s24::detail::gemm
