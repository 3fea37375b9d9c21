// Host side of the sm_90a sparse GEMM: the tile choice, the activation tensor map, and the one
// switch that turns (dtype, tile configuration) into a kernel instantiation.
#include <cuda.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <mutex>

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

// X [m, k] row-major, read in boxes of 64 columns x bm rows with the 128-byte swizzle that the
// wgmma B descriptor expects. Rows past m and columns past k read as zeros.
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

template <class T, int kCfg>
void launch(const CUtensorMap& map, const Sm90Params& p, int device, int sm_count,
            cudaStream_t stream) {
  constexpr Sm90TileConfig C = kSm90Configs[kCfg];
  static std::atomic<uint64_t> attribute_done{0};
  auto kernel = sparse_gemm_sm90_kernel<T, kCfg>;
  const uint64_t bit = uint64_t{1} << (device & 63);
  if (!(attribute_done.load(std::memory_order_acquire) & bit)) {
    S24_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        C.smem_bytes()));
    attribute_done.fetch_or(bit, std::memory_order_acq_rel);
  }
  const int tiles = p.tiles_n * p.tiles_m;
  const unsigned grid = static_cast<unsigned>(std::min(tiles, sm_count));
  kernel<<<grid, Sm90TileConfig::kThreads, C.smem_bytes(), stream>>>(map, p);
  S24_CUDA_CHECK_LAUNCH();
}

template <class T>
void launch_config(int config, const CUtensorMap& map, const Sm90Params& p, int device,
                   int sm_count, cudaStream_t stream) {
  switch (config) {
    case kSm90N128M128:
      return launch<T, kSm90N128M128>(map, p, device, sm_count, stream);
    case kSm90N128M256:
      return launch<T, kSm90N128M256>(map, p, device, sm_count, stream);
    case kSm90N256M64:
      return launch<T, kSm90N256M64>(map, p, device, sm_count, stream);
    case kSm90N256M128:
      return launch<T, kSm90N256M128>(map, p, device, sm_count, stream);
  }
  S24_THROW(ErrorCode::kInvalidArgument, "unknown sm_90a GEMM tile configuration ", config);
}

}  // namespace

bool prefer_sm90(int64_t m, int64_t n, int64_t k) {
  // Below about a thousand tokens the product is bound by streaming W, where the mma.sp kernel's
  // split-K keeps every SM reading (Llama-8B MLP at 128 tokens: 0.71x and 0.29x of cuBLAS with
  // the wgmma kernel against 0.8-1.1x with mma.sp, bench/NOTES.md sm90 v3).
  (void)n;
  (void)k;
  return m >= 1024;
}

GemmPlan choose_sm90_plan(int64_t m, int64_t n, int64_t k, int sm_count) {
  // Measured with `sparse24 bench --tune` on an H200 (bench/NOTES.md, sm90 v3): 128 x 128 was the
  // fastest configuration on BERT-base shapes and the Llama-8B MLP at 8192 tokens, within 10% of
  // 128 x 256 on 8192^3; the 256-row configurations were 2-3x slower everywhere. Until a shape
  // table regenerated by --tune replaces it, one configuration serves every large product.
  (void)m;
  (void)n;
  (void)k;
  (void)sm_count;
  return GemmPlan{kSm90N128M128, 1, true};
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
  p.w_values = a.w_values;
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
  p.tiles_n = static_cast<int>(ceil_div(hw::padded_rows(a.n), c.rows()));
  p.tiles_m = static_cast<int>(ceil_div(a.m, c.bm));
  p.raster_group = p.tiles_m > 1 ? 8 : p.tiles_n;
  p.activation = static_cast<int>(a.activation);
  S24_CHECK(static_cast<int64_t>(p.tiles_n) * p.tiles_m < (int64_t{1} << 31),
            ErrorCode::kInvalidArgument, "output of ", a.m, " x ", a.n, " is too large");

  const CUtensorMap map = make_x_map(a.x, a.m, a.k, a.dtype, c.bm);
  ensure_current_device(a.device);
  const auto stream = static_cast<cudaStream_t>(a.stream);
  if (a.dtype == DType::kF16)
    launch_config<__half>(plan.config, map, p, a.device.index, info.sm_count, stream);
  else
    launch_config<__nv_bfloat16>(plan.config, map, p, a.device.index, info.sm_count, stream);
}

}  // namespace s24::detail::gemm
