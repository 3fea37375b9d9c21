// Host side of the sm_90a sparse GEMM: the tensor maps and the switch that turns (operand dtypes,
// output dtype, tile configuration) into a kernel instantiation (the 16-bit ones here, the 8-bit
// ones in sparse_gemm_sm90_fp8.cu / _s8.cu). The tile choice is in sm90_plan.cu.
#include <cuda.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "core/check.h"
#include "cuda/check_cuda.h"
#include "cuda/device_info.h"
#include "cuda/gemm/sparse_gemm.h"
#include "cuda/gemm/sparse_gemm_sm90_launch.cuh"
#include "cuda/gemm/tile_configs.h"
#include "cuda/tensor_map.h"
#include "format/hw_layout.h"

namespace s24::detail::gemm {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

bool is_q8(DType d) { return d == DType::kF8E4M3 || d == DType::kF8E5M2 || d == DType::kI8; }

// The TMA element type: only the size matters to a copy (8-bit operands travel as bytes).
CUtensorMapDataType tma_type(DType d) {
  if (d == DType::kBF16) return CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  if (d == DType::kF16) return CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  return CU_TENSOR_MAP_DATA_TYPE_UINT8;
}

// X [m, k] row-major, read in boxes of 128 bytes (64 16-bit or 128 8-bit columns) x `bm` rows (a
// tile's tokens, or the half that one CTA of a cluster loads) with the 128-byte swizzle that the
// wgmma B descriptor expects. Rows past m and columns past k read as zeros.
CUtensorMap make_x_map(const void* x, int64_t m, int64_t k, DType dtype, int bm) {
  CUtensorMap map;
  const int64_t elem = is_q8(dtype) ? 1 : 2;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(k), static_cast<cuuint64_t>(m)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(k * elem)};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(Sm90TileConfig::kBlockBytes / elem),
                             static_cast<cuuint32_t>(bm)};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUresult r = detail::encode_tiled()(
      &map, tma_type(dtype), 2, const_cast<void*>(x), dims, strides, box, element_strides,
      CU_TENSOR_MAP_INTERLEAVE_NONE,
      CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  S24_CHECK(r == CUDA_SUCCESS, ErrorCode::kCuda, "cuTensorMapEncodeTiled failed (", int(r),
            ") for x [", m, ", ", k, "]");
  return map;
}

// The row-major compressed values [n, k / 2] of W, read in boxes of 64 bytes (32 16-bit or 64
// 8-bit values) x rows() rows with the 64-byte swizzle that the wgmma A descriptor expects. Rows
// past n and columns past k / 2 read as zeros. The caller guarantees a row pitch that is a
// multiple of 16 bytes and a 16-byte aligned base (sm90_runs).
CUtensorMap make_w_map(const void* values, int64_t n, int64_t k, DType dtype, int rows) {
  CUtensorMap map;
  const int64_t elem = is_q8(dtype) ? 1 : 2;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(k / 2), static_cast<cuuint64_t>(n)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(k / 2 * elem)};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(Sm90TileConfig::kBlockBytes / 2 / elem),
                             static_cast<cuuint32_t>(rows)};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUresult r = detail::encode_tiled()(
      &map, tma_type(dtype), 2, const_cast<void*>(values), dims, strides, box, element_strides,
      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_64B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  S24_CHECK(r == CUDA_SUCCESS, ErrorCode::kCuda, "cuTensorMapEncodeTiled failed (", int(r),
            ") for the weight values [", n, ", ", k / 2, "]");
  return map;
}

}  // namespace

bool sm90_runs(const GemmArgs& a, std::string* why) {
  const char* reason = nullptr;
  if (a.w_row_values == nullptr)
    reason = "the weight has no row-major values (a layout written by prune_compress_hw)";
  else if (a.k % 16 != 0)
    reason = "K must be a multiple of 16 (the TMA row pitch of K/2 values)";
  else if (is_q8(a.dtype) && a.k % 32 != 0)
    reason = "8-bit products need K % 32 == 0 (the TMA row pitch of K/2 one-byte values)";
  else if (reinterpret_cast<uintptr_t>(a.w_row_values) % 16 != 0)
    reason = "the row-major values must be 16-byte aligned";
  if (reason != nullptr && why != nullptr) *why = reason;
  return reason == nullptr;
}

void run_sparse_gemm_sm90(const GemmArgs& a, const GemmPlan& plan) {
  S24_CHECK(plan.wgmma && plan.config >= 0 && plan.config < kSm90ConfigCount,
            ErrorCode::kInvalidArgument, "not an sm_90a GEMM plan: ", plan_name(plan));
  const bool q8 = is_q8(a.dtype);
  if (q8)
    S24_CHECK(is_q8(a.x_dtype) && (a.dtype == DType::kI8) == (a.x_dtype == DType::kI8) &&
                  (a.y_dtype == DType::kF16 || a.y_dtype == DType::kBF16 ||
                   a.y_dtype == DType::kF32),
              ErrorCode::kDTypeMismatch, "the 8-bit sparse GEMM takes int8 x int8 or fp8 x fp8 ",
              "into F16 / BF16 / F32, got ", dtype_name(a.dtype), " x ", dtype_name(a.x_dtype),
              " -> ", dtype_name(a.y_dtype));
  else
    S24_CHECK((a.dtype == DType::kF16 || a.dtype == DType::kBF16) && a.x_dtype == a.dtype &&
                  a.y_dtype == a.dtype,
              ErrorCode::kDTypeMismatch, "the sparse GEMM takes F16 or BF16 (one dtype for W, X ",
              "and Y), got ", dtype_name(a.dtype), " x ", dtype_name(a.x_dtype), " -> ",
              dtype_name(a.y_dtype));
  if (a.m == 0 || a.n == 0) return;
  const DeviceInfo& info = device_info(a.device.index);
  S24_CHECK(info.cc_major == 9 && info.cc_minor == 0, ErrorCode::kUnsupported,
            "the wgmma sparse GEMM needs an sm_90 GPU (H100/H200); ", info.name, " is sm_",
            info.cc_major, info.cc_minor);
  const Sm90TileConfig& c = kSm90Configs[plan.config];
  S24_CHECK(!q8 || c.stages_q8 > 0, ErrorCode::kUnsupported, "tile configuration ", c.name,
            " has no 8-bit instantiation");
  S24_CHECK(c.smem_bytes(q8) <= static_cast<int>(info.smem_optin_bytes), ErrorCode::kUnsupported,
            "tile configuration ", c.name, " needs ", c.smem_bytes(q8),
            " bytes of shared memory; ", info.name, " allows ", info.smem_optin_bytes);

  Sm90Launch l;
  Sm90Params& p = l.p;
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
  p.meta_pair_stride = 4 * hw::padded_cols(a.k);
  p.padded_rows = static_cast<int>(hw::padded_rows(a.n));
  p.kblocks = static_cast<int>(ceil_div(a.k, Sm90TileConfig::block_k(q8)));
  p.tiles_n = static_cast<int>(ceil_div(ceil_div(hw::padded_rows(a.n), c.rows()), c.cluster));
  p.tiles_m = static_cast<int>(ceil_div(a.m, c.bm));
  p.raster_group = p.tiles_m > 1 ? 8 : p.tiles_n;
  p.activation = static_cast<int>(a.activation);
  p.out_dtype = a.y_dtype == DType::kF16 ? kOutF16 : a.y_dtype == DType::kBF16 ? kOutBF16 : kOutF32;
  S24_CHECK(static_cast<int64_t>(p.tiles_n) * p.tiles_m < (int64_t{1} << 31),
            ErrorCode::kInvalidArgument, "output of ", a.m, " x ", a.n, " is too large");

  std::string why;
  S24_CHECK(sm90_runs(a, &why), ErrorCode::kUnsupported, "the sm_90a GEMM cannot run this product: ",
            why);

  l.x_map = make_x_map(a.x, a.m, a.k, a.x_dtype, c.bm / c.cluster);
  l.w_map = make_w_map(a.w_row_values, a.n, a.k, a.dtype, c.rows());
  l.device = a.device.index;
  l.sm_count = info.sm_count;
  l.stream = static_cast<cudaStream_t>(a.stream);
  ensure_current_device(a.device);
  // GELU (erf) on many output tiles per SM: the instantiations with the unrolled GELU epilogue.
  // Output tiles, not work units (a clustered unit is c.cluster tiles).
  const int64_t tiles = static_cast<int64_t>(p.tiles_n) * c.cluster * p.tiles_m;
  // A plan that names the form (tests, S24_SM90_TILES) gets it for any activation: without GELU
  // both instantiations run the same epilogue code, and the choice only decides which kernel a
  // product shares with its model's GELU product.
  const bool unroll_gelu =
      plan.gelu_unroll >= 0
          ? plan.gelu_unroll == 1
          : a.activation == Activation::kGeluErf &&
                tiles >= int64_t{kSm90UnrolledGeluMinTilesPerSm} * info.sm_count;
  if (a.dtype == DType::kF16)
    return unroll_gelu ? launch_config<arch::WgmmaF16, __half, true>(plan.config, l)
                       : launch_config<arch::WgmmaF16, __half>(plan.config, l);
  if (a.dtype == DType::kBF16)
    return unroll_gelu ? launch_config<arch::WgmmaBF16, __nv_bfloat16, true>(plan.config, l)
                       : launch_config<arch::WgmmaBF16, __nv_bfloat16>(plan.config, l);
  if (a.dtype == DType::kI8) return launch_sm90_s8(plan.config, l);
  launch_sm90_fp8(a.dtype, a.x_dtype, plan.config, l);
}

}  // namespace s24::detail::gemm
