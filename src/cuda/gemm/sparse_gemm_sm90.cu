// Host side of the sm_90a sparse GEMM: the tile choice, the activation tensor map, and the one
// switch that turns (dtype, tile configuration) into a kernel instantiation.
#include <cuda.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>

#include "core/check.h"
#include "cuda/check_cuda.h"
#include "cuda/device_info.h"
#include "cuda/gemm/sparse_gemm.h"
#include "cuda/gemm/sparse_gemm_sm90_kernel.cuh"
#include "cuda/gemm/tile_configs.h"
#include "format/hw_layout.h"

namespace s24::detail::gemm {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                 const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                 const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                 CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// cuTensorMapEncodeTiled is a driver entry point; fetching it through the runtime keeps libcuda
// out of the link line (the CPU-only machines that build this have no driver).
EncodeTiled encode_tiled() {
  static EncodeTiled fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult status{};
    S24_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000,
                                                    cudaEnableDefault, &status));
    S24_CHECK(status == cudaDriverEntryPointSuccess && p != nullptr, ErrorCode::kCuda,
              "the CUDA driver does not provide cuTensorMapEncodeTiled (needs a CUDA 12+ driver)");
    return reinterpret_cast<EncodeTiled>(p);
  }();
  return fn;
}

// X [m, k] row-major, read in boxes of 64 columns x `bm` rows (a tile's tokens, or the half that
// one CTA of a cluster loads) with the 128-byte swizzle that the wgmma B descriptor expects. Rows
// past m and columns past k read as zeros.
CUtensorMap make_x_map(const void* x, int64_t m, int64_t k, DType dtype, int bm) {
  CUtensorMap map;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(k), static_cast<cuuint64_t>(m)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(k) * 2};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(Sm90TileConfig::kBlockK),
                             static_cast<cuuint32_t>(bm)};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUresult r = encode_tiled()(
      &map, dtype == DType::kBF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
      2, const_cast<void*>(x), dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
      CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  S24_CHECK(r == CUDA_SUCCESS, ErrorCode::kCuda, "cuTensorMapEncodeTiled failed (", int(r),
            ") for x [", m, ", ", k, "]");
  return map;
}

// The row-major compressed values [n, k / 2] of W, read in boxes of 32 values (64 bytes) x
// rows() rows with the 64-byte swizzle that the wgmma A descriptor expects. Rows past n and
// columns past k / 2 read as zeros. The caller guarantees k % 16 == 0 (row pitch a multiple of
// 16 bytes) and a 16-byte aligned base (sm90_runs).
CUtensorMap make_w_map(const void* values, int64_t n, int64_t k, DType dtype, int rows) {
  CUtensorMap map;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(k / 2), static_cast<cuuint64_t>(n)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(k / 2) * 2};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(Sm90TileConfig::kBlockK / 2),
                             static_cast<cuuint32_t>(rows)};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUresult r = encode_tiled()(
      &map, dtype == DType::kBF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
      2, const_cast<void*>(values), dims, strides, box, element_strides,
      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_64B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  S24_CHECK(r == CUDA_SUCCESS, ErrorCode::kCuda, "cuTensorMapEncodeTiled failed (", int(r),
            ") for the weight values [", n, ", ", k / 2, "]");
  return map;
}

template <class T, int kCfg>
void launch(const CUtensorMap& x_map, const CUtensorMap& w_map, const Sm90Params& p, int device,
            int sm_count, cudaStream_t stream) {
  constexpr Sm90TileConfig C = kSm90Configs[kCfg];
  static std::atomic<uint64_t> attribute_done{0};
  auto kernel = sparse_gemm_sm90_kernel<T, kCfg>;
  const uint64_t bit = uint64_t{1} << (device & 63);
  if (!(attribute_done.load(std::memory_order_acquire) & bit)) {
    S24_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        C.smem_bytes()));
    attribute_done.fetch_or(bit, std::memory_order_acq_rel);
  }
  const int units = p.tiles_n * p.tiles_m;
  if constexpr (C.cluster == 1) {
    const unsigned grid = static_cast<unsigned>(std::min(units, sm_count));
    kernel<<<grid, Sm90TileConfig::kThreads, C.smem_bytes(), stream>>>(x_map, w_map, p);
    S24_CUDA_CHECK_LAUNCH();
    return;
  } else {
    cudaLaunchConfig_t config{};
    cudaLaunchAttribute attribute[1];
    attribute[0].id = cudaLaunchAttributeClusterDimension;
    attribute[0].val.clusterDim.x = C.cluster;
    attribute[0].val.clusterDim.y = 1;
    attribute[0].val.clusterDim.z = 1;
    config.blockDim = dim3(Sm90TileConfig::kThreads);
    config.dynamicSmemBytes = C.smem_bytes();
    config.stream = stream;
    config.attrs = attribute;
    config.numAttrs = 1;
    // Clusters that fit at once (GPCs hold whole clusters, so fewer than sm_count / cluster
    // when a GPC has an odd number of free SMs); measured once per device.
    static std::atomic<int> resident[64] = {};
    int clusters = resident[device & 63].load(std::memory_order_acquire);
    if (clusters == 0) {
      config.gridDim = dim3(static_cast<unsigned>(sm_count / C.cluster * C.cluster));
      S24_CUDA_CHECK(cudaOccupancyMaxActiveClusters(&clusters, kernel, &config));
      S24_CHECK(clusters > 0, ErrorCode::kUnsupported, "tile configuration ", C.name,
                " fits no cluster of ", C.cluster, " CTAs on this device");
      resident[device & 63].store(clusters, std::memory_order_release);
    }
    config.gridDim = dim3(static_cast<unsigned>(std::min(units, clusters) * C.cluster));
    S24_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, x_map, w_map, p));
    S24_CUDA_CHECK_LAUNCH();
  }
}

template <class T>
void launch_config(int config, const CUtensorMap& x_map, const CUtensorMap& w_map,
                   const Sm90Params& p, int device, int sm_count, cudaStream_t stream) {
  switch (config) {
    case kSm90N128M128:
      return launch<T, kSm90N128M128>(x_map, w_map, p, device, sm_count, stream);
    case kSm90N128M256:
      return launch<T, kSm90N128M256>(x_map, w_map, p, device, sm_count, stream);
    case kSm90N256M64:
      return launch<T, kSm90N256M64>(x_map, w_map, p, device, sm_count, stream);
    case kSm90N256M128:
      return launch<T, kSm90N256M128>(x_map, w_map, p, device, sm_count, stream);
    case kSm90PingN128M128:
      return launch<T, kSm90PingN128M128>(x_map, w_map, p, device, sm_count, stream);
    case kSm90PingN128M64:
      return launch<T, kSm90PingN128M64>(x_map, w_map, p, device, sm_count, stream);
    case kSm90ClusterN128M128:
      return launch<T, kSm90ClusterN128M128>(x_map, w_map, p, device, sm_count, stream);
    case kSm90ClusterN128M256:
      return launch<T, kSm90ClusterN128M256>(x_map, w_map, p, device, sm_count, stream);
  }
  S24_THROW(ErrorCode::kInvalidArgument, "unknown sm_90a GEMM tile configuration ", config);
}

}  // namespace

bool sm90_runs(const GemmArgs& a, std::string* why) {
  const char* reason = nullptr;
  if (a.w_row_values == nullptr)
    reason = "the weight has no row-major values (a layout written by prune_compress_hw)";
  else if (a.k % 16 != 0)
    reason = "K must be a multiple of 16 (the TMA row pitch of K/2 values)";
  else if (reinterpret_cast<uintptr_t>(a.w_row_values) % 16 != 0)
    reason = "the row-major values must be 16-byte aligned";
  if (reason != nullptr && why != nullptr) *why = reason;
  return reason == nullptr;
}

bool prefer_sm90(int64_t m, int64_t n, int64_t k, int sm_count) {
  // Below 128 tokens the product is bound by streaming W, where the mma.sp kernel's split-K keeps
  // every SM reading; from 128 tokens on the wgmma kernel wins when its tiles fill the GPU
  // (Llama-8B up at 128 tokens, 112 tiles: 0.027 ms against 0.048 ms for mma.sp) and loses when
  // they do not (Llama-8B down at 128 tokens, 32 tiles on 132 SMs: 0.075 ms, 0.49x of cuBLAS;
  // bench/NOTES.md sm90 v5).
  (void)k;
  const int64_t tiles = (n + 127) / 128 * ((m + 127) / 128);
  return m >= 128 && tiles >= sm_count / 2;
}

GemmPlan choose_sm90_plan(int64_t m, int64_t n, int64_t k, int sm_count) {
  // Measured with `sparse24 bench --tune` (scripts/tune_shapes.sh) on an H200, bench/NOTES.md
  // sm90 v5: 128 x 256 cooperative tiles are the fastest or within 3% on every product with
  // K >= 4096 or M >= 24576 (8192^3, Llama-8B MLP at 2048-8192 tokens, BERT-base at batch 64 and
  // 256); at BERT-base batch 16 (M = 6144, K = 768 / 3072) ping-pong 128 x 128 tiles win by 2-8%
  // (their epilogue overlaps the other warpgroup's mainloop, which matters with 12-48 k-blocks
  // per tile); at 128 tokens the 128 x 128 cooperative tile. The clustered (multicast)
  // configurations measured 1.4-2.4x slower and are left to --tune.
  (void)n;
  (void)sm_count;
  if (m <= 128) return GemmPlan{kSm90N128M128, 1, true};
  if (m <= 8192 && k <= 3072) return GemmPlan{kSm90PingN128M128, 1, true};
  return GemmPlan{kSm90N128M256, 1, true};
}

void run_sparse_gemm_sm90(const GemmArgs& a, const GemmPlan& plan) {
  S24_CHECK(plan.wgmma && plan.config >= 0 && plan.config < kSm90ConfigCount,
            ErrorCode::kInvalidArgument, "not an sm_90a GEMM plan: ", plan_name(plan));
  if (a.m == 0 || a.n == 0) return;
  const DeviceInfo& info = device_info(a.device.index);
  S24_CHECK(info.cc_major == 9 && info.cc_minor == 0, ErrorCode::kUnsupported,
            "the wgmma sparse GEMM needs an sm_90 GPU (H100/H200); ", info.name, " is sm_",
            info.cc_major, info.cc_minor);
  const Sm90TileConfig& c = kSm90Configs[plan.config];
  S24_CHECK(c.smem_bytes() <= static_cast<int>(info.smem_optin_bytes), ErrorCode::kUnsupported,
            "tile configuration ", c.name, " needs ", c.smem_bytes(), " bytes of shared memory; ",
            info.name, " allows ", info.smem_optin_bytes);
  S24_CHECK(a.dtype == DType::kF16 || a.dtype == DType::kBF16, ErrorCode::kDTypeMismatch,
            "the sparse GEMM takes F16 or BF16, got ", dtype_name(a.dtype));

  Sm90Params p{};
  p.w_meta = a.w_meta;
  p.bias = a.bias;
  p.residual = a.residual;
  p.x_scale = a.x_scale;
  p.w_scale = a.w_scale;
  p.y = a.y;
  p.alpha = a.alpha;
  p.m = static_cast<int>(a.m);
  p.n = static_cast<int>(a.n);
  p.k = static_cast<int>(a.k);
  p.ksteps = static_cast<int>(hw::ksteps(a.k));
  p.padded_rows = static_cast<int>(hw::padded_rows(a.n));
  p.kblocks = static_cast<int>(ceil_div(a.k, Sm90TileConfig::kBlockK));
  p.tiles_n = static_cast<int>(ceil_div(ceil_div(hw::padded_rows(a.n), c.rows()), c.cluster));
  p.tiles_m = static_cast<int>(ceil_div(a.m, c.bm));
  p.raster_group = p.tiles_m > 1 ? 8 : p.tiles_n;
  p.activation = static_cast<int>(a.activation);
  S24_CHECK(static_cast<int64_t>(p.tiles_n) * p.tiles_m < (int64_t{1} << 31),
            ErrorCode::kInvalidArgument, "output of ", a.m, " x ", a.n, " is too large");

  std::string why;
  S24_CHECK(sm90_runs(a, &why), ErrorCode::kUnsupported, "the sm_90a GEMM cannot run this product: ",
            why);

  const CUtensorMap x_map = make_x_map(a.x, a.m, a.k, a.dtype, c.bm / c.cluster);
  const CUtensorMap w_map = make_w_map(a.w_row_values, a.n, a.k, a.dtype, c.rows());
  ensure_current_device(a.device);
  const auto stream = static_cast<cudaStream_t>(a.stream);
  if (a.dtype == DType::kF16)
    launch_config<__half>(plan.config, x_map, w_map, p, a.device.index, info.sm_count, stream);
  else
    launch_config<__nv_bfloat16>(plan.config, x_map, w_map, p, a.device.index, info.sm_count,
                                 stream);
}

}  // namespace s24::detail::gemm
