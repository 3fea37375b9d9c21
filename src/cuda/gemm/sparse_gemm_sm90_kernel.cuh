// Internal: the sm_90a 2:4 sparse GEMM (wgmma.mma_async.sp with A from shared memory: m64nNk32
// for f16 / bf16, m64nNk64 for e4m3 / e5m2 / int8), Y = X W^T computed as Y^T = W X^T. A (the compressed weight) is read from the row-major kept
// values (HwLayout::row_values, the logical layout's values tensor) through TMA with the 64-byte
// swizzle; the metadata words come from the hardware layout (docs/FORMAT.md): for 16-bit the
// sm_80 one, whose words are the m16n8k32 ones that the warpgroup instruction also takes, for
// 8-bit the k64 words (cuda/arch/wgmma.cuh). The byte geometry of a stage is the same for both
// element sizes (tile_configs.h). One template, instantiated per tile configuration
// (Sm90TileConfig), operand type and output type in sparse_gemm_sm90*.cu.
//
// Roles (384 threads, 512 with an epilogue warpgroup; one CTA per SM, persistent over the tiles):
//  - warpgroup 0, one thread: the producer. Per k-block (128 bytes of each X row: 64 columns,
//    8-bit 128) it waits for a free stage, announces the stage's bytes on its "full" mbarrier,
//    and issues a TMA box of X (bm tokens x 128 bytes, 128-byte swizzle: the wgmma B layout), a
//    TMA box of the values (rows() x 64 bytes of kept values, 64-byte swizzle: the wgmma A
//    layout) and rows()/32 bulk copies of metadata blocks (contiguous in the hardware layout).
//  - warpgroups 1 and 2: consumers. Per stage a warp loads its metadata words (LDS.32), the
//    warpgroup issues two wgmma (k32 each, 8-bit k64) per m64 slice, waits until only this batch is in
//    flight, and releases the previous stage (its "empty" mbarrier): the tensor cores always have
//    the next batch queued.
//      cooperative: both warpgroups work on every tile, each on its half of the rows.
//      ping-pong: each warpgroup owns whole tiles (alternate tiles of the CTA); an ordering
//      barrier pair lets their mainloops take turns, so that one warpgroup's epilogue runs while
//      the other's wgmma keep the tensor cores busy. The turns also keep the stage ring consumed
//      in the producer's order, which its parity-based waits need.
//  - warpgroup 3, in the wge_ configurations only (512 threads): the epilogue. The cooperative
//    consumers store each tile's f32 accumulators into one shared buffer and go on to the next
//    mainloop; this warpgroup writes the tile to Y meanwhile (bench/NOTES.md, sm90 v11).
// Epilogue per consumer warpgroup, 32 tokens at a time, in one of two forms (uniform per launch):
//  - 16-bit outputs without a residual (sm90_epilogue_16bit): scales, bias and activation in
//    registers, one rounding, stmatrix.trans into 16-bit token rows, one barrier, 16-byte stores;
//  - f32 outputs or a residual: the f32 accumulators through a padded shared tile (conflict-free
//    scalar stores), then per 8 outputs of a token row the scales, bias, activation and 16-byte
//    residual load, one rounding and one 16-byte store (store_outputs).
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "cuda/arch/grid_dependency.cuh"
#include "cuda/arch/stmatrix.cuh"
#include "cuda/arch/tma.cuh"
#include "cuda/arch/wgmma.cuh"
#include "cuda/gemm/sparse_gemm_kernel.cuh"  // store_outputs
#include "cuda/gemm/tile_configs.h"

namespace s24::detail::gemm {

struct Sm90Params {
  const void* w_meta;    // hardware layout metadata words (16-bit or 8-bit order)
  const void* bias;      // [n] or nullptr
  const void* residual;  // [m, n] or nullptr (may equal y)
  const float* x_scale;  // [m] or nullptr
  const float* w_scale;  // [n] or nullptr
  void* y;               // [m, n]
  float alpha;
  int m, n, k;
  int64_t meta_pair_stride;  // bytes between metadata row pairs: 4 * padded K, either layout
  int padded_rows;  // the layout's rows (N rounded up to 128)
  int kblocks;  // k-blocks (64 columns, 8-bit 128) that cover K (none lies wholly beyond K)
  int tiles_n, tiles_m;  // tile grid; tiles_n counts N units (cluster-wide: kCluster N tiles)
  int raster_group;  // units walk groups of this many N units across all M tiles
  int activation;
  int out_dtype;  // kernels with TOut = void (8-bit operands): Y's type, an Sm90Out value
};

// Y's element type when the kernel takes it at run time (8-bit products write F16, BF16 or F32:
// one instantiation per operand type instead of three).
enum Sm90Out : int { kOutF16 = 0, kOutBF16 = 1, kOutF32 = 2 };

template <class TOut>
__device__ __forceinline__ void sm90_load_column_terms(const Sm90Params& p, int n,
                                                       ColumnTerms& c) {
  if constexpr (!std::is_void_v<TOut>) {
    load_column_terms<TOut>(p, n, c);
  } else {
    if (p.out_dtype == kOutF16) load_column_terms<__half>(p, n, c);
    else if (p.out_dtype == kOutBF16) load_column_terms<__nv_bfloat16>(p, n, c);
    else load_column_terms<float>(p, n, c);
  }
}

template <class TOut>
__device__ __forceinline__ void sm90_store_outputs(const Sm90Params& p, int m, int n,
                                                   float (&v)[8], const ColumnTerms& c) {
  if constexpr (!std::is_void_v<TOut>) {
    store_outputs<TOut>(p, m, n, v, c);
  } else {
    if (p.out_dtype == kOutF16) store_outputs<__half>(p, m, n, v, c);
    else if (p.out_dtype == kOutBF16) store_outputs<__nv_bfloat16>(p, m, n, v, c);
    else store_outputs<float>(p, m, n, v, c);
  }
}

__device__ __forceinline__ void sm90_tile_coords(const Sm90Params& p, int tile, int& tile_n,
                                                 int& tile_m) {
  const int group_span = p.raster_group * p.tiles_m;
  const int group = tile / group_span;
  const int first_n = group * p.raster_group;
  const int width = min(p.raster_group, p.tiles_n - first_n);
  const int within = tile - group * group_span;
  tile_n = first_n + within % width;
  tile_m = within / width;
}

// Calls f(std::integral_constant<int, value>{}) for a run-time value in [0, kCount): code that
// must name registers by compile-time index, inside a rolled loop. A switch: ptxas makes it a
// binary search, about log2(kCount) tests deep. The recursive if-chain that it replaces became a
// select chain in which every level moved its candidate registers before testing, so step s of a
// 16-step epilogue paid s + 1 rounds of 8-16 moves (ncu, bench/NOTES.md, sm90 v10).
template <int kCount, class F>
__device__ __forceinline__ void with_constant(int value, F& f) {
  static_assert(kCount >= 1 && kCount <= 16, "with_constant covers up to 16 values");
  switch (value) {
#define S24_CONSTANT_CASE(i)                                         \
  case i:                                                            \
    if constexpr (i < kCount) f(std::integral_constant<int, i>{}); \
    break;
    S24_CONSTANT_CASE(0) S24_CONSTANT_CASE(1) S24_CONSTANT_CASE(2) S24_CONSTANT_CASE(3)
    S24_CONSTANT_CASE(4) S24_CONSTANT_CASE(5) S24_CONSTANT_CASE(6) S24_CONSTANT_CASE(7)
    S24_CONSTANT_CASE(8) S24_CONSTANT_CASE(9) S24_CONSTANT_CASE(10) S24_CONSTANT_CASE(11)
    S24_CONSTANT_CASE(12) S24_CONSTANT_CASE(13) S24_CONSTANT_CASE(14) S24_CONSTANT_CASE(15)
#undef S24_CONSTANT_CASE
    default: break;
  }
}

// The epilogue of a tile with 16-bit outputs and no residual: everything but the transpose
// happens in registers. Per 16 tokens a thread takes 8 * kSlices accumulators (by compile-time
// index in the unrolled form: no activation, ReLU, and GELU (erf) on products of many tiles;
// through with_constant in the rolled one: SiLU, GELU (tanh) and GELU (erf) on small products),
// applies ops.h's scales, bias and activation, rounds once to T and writes them with one
// stmatrix.trans per m64 slice into 16-bit token rows of a staging buffer. Per 32 tokens the
// warpgroup synchronizes once, then each thread copies 16-byte pieces of whole token rows to Y
// (256-byte row segments per 16 lanes). Two buffers alternate, so that one barrier per 32 tokens
// orders both a buffer's staging and its reuse. The v8 epilogue it replaces for these outputs
// staged f32 values and synchronized twice per 32 tokens, and each 8-output item then ran a
// dependent chain (shared load, scales, activation dispatch, store): 64-73% of the BERT fc1
// kernels' warp samples (bench/NOTES.md, sm90 v9).
// Rows are unpadded: the 16-byte chunks of staged token row r are XOR-permuted by r % 8, so the
// 8 rows of a stmatrix matrix and the 8 chunks that a quarter-warp reads lie in distinct bank
// groups.
// Known cost: GELU, 15 instructions per value (2 of them MUFU) while the tensor cores wait. The
// consumers do get setmaxnreg's 232 registers (the SASS of wg_n128m256 names up to R210 and
// others up to R229, where ptxas reports the launch bound's 168), but ncu found the GELUs of a
// step running nearly one after another, waiting on their MUFU results. BERT fc1 + GELU at batch
// 16 measured 10% slower than v8; 8-token steps recovered it but lost 10% on every batch-64/256
// row (bench/NOTES.md, sm90 v9 and session 18).
template <class T, int BM, int kSlices, bool kUnrollGelu, class Acc>
__device__ __forceinline__ void sm90_epilogue_16bit(const Sm90Params& p,
                                                    Acc (&acc)[kSlices][BM / 2],
                                                    uint8_t* staging, int n_base, int m_base,
                                                    int warp, int lane, int barrier_id) {
  constexpr int kWgRows = 64 * kSlices;
  constexpr int kRowBytes = kWgRows * 2;
  constexpr int kChunk = Sm90TileConfig::kEpilogueTokens;
  constexpr int kBufferBytes = kChunk * kRowBytes;
  constexpr int kPieces = kWgRows / 8;  // 16-byte pieces per staged token row
  constexpr int kCopies = kChunk * kPieces / 128;
  static_assert(kCopies * 128 == kChunk * kPieces, "a chunk's pieces split evenly");
  const int g = lane / 4, t = lane % 4;
  const int tid = threadIdx.x % 128;
  // The accumulator fragment: acc[sl][j * 4 + 2 * h + odd] is feature sl * 64 + warp * 16 +
  // 8 * h + g of the warpgroup's rows and token j * 8 + 2 * t + odd of the tile. A missing
  // w_scale multiplies by 1 and a missing bias adds -0.0f: both leave every value's bits as
  // ops.h's skipped steps do, so one arithmetic form covers every combination of terms.
  float col_scale[kSlices][2], col_bias[kSlices][2];
#pragma unroll
  for (int sl = 0; sl < kSlices; ++sl)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int n = n_base + sl * 64 + warp * 16 + 8 * h + g;
      const bool valid = n < p.n;
      col_scale[sl][h] = p.w_scale != nullptr && valid ? p.w_scale[n] : 1.0f;
      col_bias[sl][h] =
          p.bias != nullptr && valid ? static_cast<float>(static_cast<const T*>(p.bias)[n]) : -0.0f;
    }
  // stmatrix: lane 8q + r gives row r of matrix q = 2 * jj + h, the 8 features at chunk
  // sl * 8 + warp * 2 + h of token 8 * jj + r of the 16-token step.
  const int q = lane / 8, r = lane % 8;
  const uint32_t store_offset =
      ((q / 2) * 8 + r) * kRowBytes + (((warp * 2 + q % 2) ^ r) * 16);
  const uint32_t staging_addr = arch::smem_addr(staging);
  const Activation act = static_cast<Activation>(p.activation);
  // A warp-uniform shortcut with identical bits: without alpha, x_scale and w_scale every value
  // would be multiplied by exactly 1, so the products are skipped (16 of a step's 24 arithmetic
  // instructions in the common bias-only product). The bias is always added (-0.0f without one:
  // a branch around 8 adds cost ptxas 8 moves).
  const bool scaled = p.alpha != 1.0f || p.x_scale != nullptr || p.w_scale != nullptr;

  // ops.h's scales and bias on one step's values (token step * 16 .. + 15).
  auto scale_and_bias = [&](float (&v)[kSlices * 8], int step) {
    if (scaled) {
      // ((alpha * x_scale[m]) * w_scale[n]) * acc + bias[n], left to right as ops.h writes it,
      // unfused (the CPU reference rounds the product and the sum separately).
      float row_scale[2][2];
#pragma unroll
      for (int jj = 0; jj < 2; ++jj)
#pragma unroll
        for (int odd = 0; odd < 2; ++odd) {
          const int m = m_base + step * 16 + 8 * jj + 2 * t + odd;
          row_scale[jj][odd] =
              p.x_scale != nullptr && m < p.m ? p.alpha * p.x_scale[m] : p.alpha;
        }
#pragma unroll
      for (int sl = 0; sl < kSlices; ++sl)
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const int jj = i / 4, h = (i / 2) % 2, odd = i % 2;
          float& x = v[sl * 8 + i];
          x = __fadd_rn(__fmul_rn(__fmul_rn(row_scale[jj][odd], col_scale[sl][h]), x),
                        col_bias[sl][h]);
        }
    } else {
#pragma unroll
      for (int sl = 0; sl < kSlices; ++sl)
#pragma unroll
        for (int i = 0; i < 8; ++i)
          v[sl * 8 + i] = __fadd_rn(v[sl * 8 + i], col_bias[sl][(i / 2) % 2]);
    }
  };
  // One rounding to T, then one stmatrix.trans per m64 slice into half `half` of a buffer.
  auto stage_step = [&](const float (&v)[kSlices * 8], int buffer, int half) {
#pragma unroll
    for (int sl = 0; sl < kSlices; ++sl) {
      uint32_t packed[4];
#pragma unroll
      for (int w = 0; w < 4; ++w)  // word w: the token pair of matrix w = 2 * jj + h
        packed[w] = Pack2<T>::from_float2(v[sl * 8 + 2 * w], v[sl * 8 + 2 * w + 1]);
      arch::stmatrix_x4_trans(
          staging_addr + buffer + half * 16 * kRowBytes + store_offset + sl * 128, packed);
    }
  };
  // The warpgroup's barrier, then 16-byte pieces of whole staged token rows to Y: copy k of a
  // thread takes piece tid + 128 k, i.e. the same 8 features (piece_col) of token row row0 +
  // k * kRowsPerCopy. kRowsPerCopy is a multiple of 8, so the row's XOR permutation, the feature
  // bound and the shared and global offsets are per-thread constants plus k times a stride.
  constexpr int kRowsPerCopy = 128 / kPieces;
  static_assert(kRowsPerCopy % 8 == 0, "a thread's rows share their XOR permutation");
  const int row0 = tid / kPieces, piece_col = tid % kPieces;
  const uint32_t copy_offset = row0 * kRowBytes + ((piece_col ^ (row0 & 7)) * 16);
  const bool feature_in_range = n_base + piece_col * 8 < p.n;
  T* const y_features = static_cast<T*>(p.y) + n_base + piece_col * 8;
  auto copy_chunk = [&](int c, int buffer) {
    arch::named_barrier_sync(barrier_id, 128);
#pragma unroll
    for (int k = 0; k < kCopies; ++k) {
      const int m = m_base + c * kChunk + row0 + k * kRowsPerCopy;
      if (feature_in_range && m < p.m) {
        const uint4 out = *reinterpret_cast<const uint4*>(staging + buffer + copy_offset +
                                                          k * kRowsPerCopy * kRowBytes);
        *reinterpret_cast<uint4*>(y_features + static_cast<int64_t>(m) * p.n) = out;
      }
    }
  };

  // The unrolled form: each step reads its accumulators by compile-time index, with no dispatch
  // and no copies. The rolled form below costs a dispatch and 16-32 register moves per step,
  // which made a bias-only step ~100 instructions for 8 values (ncu, bench/NOTES.md, sm90 v10).
  // Without an activation or with ReLU a tile is ~300-600 instructions unrolled. GELU's
  // instructions per value (~24 until session 18, 15 since) make ~1-3 k: in the kernels that
  // every product launches, that code slowed small batches even where it did not run (session
  // 10, with ~24), so it lives in separate instantiations
  // (kUnrollGelu) that only GELU products of many tiles per SM launch (bench/NOTES.md, sm90 v10').
  auto run_unrolled = [&](auto activate) {
#pragma unroll
    for (int c = 0; c < BM / kChunk; ++c) {
      const int buffer = (c & 1) * kBufferBytes;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int step = 2 * c + half;
        float v[kSlices * 8];
#pragma unroll
        for (int sl = 0; sl < kSlices; ++sl)
#pragma unroll
          for (int i = 0; i < 8; ++i) v[sl * 8 + i] = static_cast<float>(acc[sl][step * 8 + i]);
        scale_and_bias(v, step);
        activate(v);
        stage_step(v, buffer, half);
      }
      copy_chunk(c, buffer);
    }
  };
  if (act == Activation::kNone || act == Activation::kRelu) {
    const bool relu_on = act == Activation::kRelu;
    run_unrolled([&](float (&v)[kSlices * 8]) {
      if (relu_on) {
#pragma unroll
        for (int i = 0; i < kSlices * 8; ++i) v[i] = relu(v[i]);
      }
    });
    return;
  }
  if constexpr (kUnrollGelu) {
    if (act == Activation::kGeluErf) {
      run_unrolled([&](float (&v)[kSlices * 8]) {
#pragma unroll
        for (int i = 0; i < kSlices * 8; ++i) v[i] = gelu_erf_gpu(v[i]);
      });
      return;
    }
  }

  // A step's accumulators are copied as they are and converted after the copy: converting inside
  // the per-step cases let ptxas convert all of int8's 128 accumulators at once, and spill.
  Acc step_acc[kSlices * 8];
  auto take_step = [&](auto step) {
    constexpr int s = decltype(step)::value;
#pragma unroll
    for (int sl = 0; sl < kSlices; ++sl)
#pragma unroll
      for (int i = 0; i < 8; ++i) step_acc[sl * 8 + i] = acc[sl][s * 8 + i];
  };
  float v[kSlices * 8];
#pragma unroll 1
  for (int c = 0; c < BM / kChunk; ++c) {
    const int buffer = (c & 1) * kBufferBytes;
#pragma unroll 1
    for (int half = 0; half < 2; ++half) {
      const int step = 2 * c + half;
      with_constant<BM / 16>(step, take_step);
#pragma unroll
      for (int i = 0; i < kSlices * 8; ++i) v[i] = static_cast<float>(step_acc[i]);
      scale_and_bias(v, step);
      activate_all_gpu(act, v);
      stage_step(v, buffer, half);
    }
    copy_chunk(c, buffer);
  }
}

// Op: the operand tag (arch::WgmmaF16, ..., arch::WgmmaS8); TOut: Y's element type, or void to
// read it from Sm90Params::out_dtype; kUnrollGelu: GELU (erf) through the unrolled 16-bit
// epilogue (instantiated for 16-bit operands only).
template <class Op, class TOut, int kCfg, bool kUnrollGelu = false>
__global__ void __launch_bounds__(kSm90Configs[kCfg].threads(), 1)
    sparse_gemm_sm90_kernel(const __grid_constant__ CUtensorMap x_map,
                            const __grid_constant__ CUtensorMap w_map, const Sm90Params p) {
#if S24_ARCH_SM90A
  constexpr Sm90TileConfig C = kSm90Configs[kCfg];
  constexpr bool kQ8 = Op::kElemBytes == 1;
  static_assert(!kQ8 || C.stages_q8 > 0, "no 8-bit depth for this configuration");
  constexpr int BM = C.bm, kStages = C.depth(kQ8), kSlices = C.slices;
  constexpr int kBlockK = Sm90TileConfig::block_k(kQ8);
  constexpr int kMetaPairBytes = C.meta_pair_bytes(kQ8);
  constexpr bool kPingPong = C.pingpong;
  constexpr int kCluster = C.cluster;
  constexpr int kRows = C.rows(), kWgRows = C.wg_rows();
  constexpr int kXBytes = C.x_bytes();
  constexpr int kValueBytes = C.value_bytes();
  constexpr int kMetaBytes = C.meta_bytes(kQ8);
  constexpr int kLd = C.epilogue_ld();
  constexpr int kChunk = Sm90TileConfig::kEpilogueTokens;
  constexpr bool kEpilogueWg = C.epilogue_warpgroup;
  static_assert(!kEpilogueWg || (!kQ8 && !kPingPong && kCluster == 1),
                "the epilogue warpgroup serves cooperative unclustered 16-bit tiles");
  using Mma = arch::WgmmaSpSS<Op, BM>;
  using Acc = typename Op::Acc;

  extern __shared__ uint8_t smem_raw[];
  // The 128-byte swizzle pattern repeats every 1024 bytes (the 64-byte one every 512) and the
  // wgmma descriptors assume that each box starts on such a boundary.
  const uint32_t raw_addr = arch::smem_addr(smem_raw);
  uint8_t* smem = smem_raw + ((1024 - (raw_addr & 1023)) & 1023);
  uint8_t* s_x = smem;
  uint8_t* s_values = s_x + kStages * kXBytes;
  uint8_t* s_meta = s_values + kStages * kValueBytes;
  float* s_staging = reinterpret_cast<float*>(s_meta + kStages * kMetaBytes);
  uint64_t* full = reinterpret_cast<uint64_t*>(s_meta + kStages * kMetaBytes + C.staging_bytes());
  uint64_t* empty = full + kStages;
  uint64_t* turn = empty + kStages;  // ping-pong: turn[w] opens warpgroup w's next mainloop
  // Epilogue warpgroup: the accumulator buffer (s_staging) holds a tile (tile_full) or may be
  // overwritten (tile_free).
  uint64_t* tile_full = turn + 2;
  uint64_t* tile_free = turn + 3;

  const int warpgroup = threadIdx.x / 128;
  // Work units: one output tile per CTA, or with clusters one per cluster (its CTAs take the
  // adjacent N tiles unit_n * kCluster + rank, with the same tokens).
  const int total_tiles = p.tiles_n * p.tiles_m;
  const int rank = kCluster > 1 ? static_cast<int>(arch::cluster_cta_rank()) : 0;
  const int first_unit = static_cast<int>(blockIdx.x) / kCluster;
  const int unit_step = static_cast<int>(gridDim.x) / kCluster;

  if (threadIdx.x == 0) {
    arch::prefetch_tensor_map(&x_map);
    arch::prefetch_tensor_map(&w_map);
    for (int s = 0; s < kStages; ++s) {
      arch::mbarrier_init(&full[s], 1);  // the producer's arrive_expect_tx
      // The consumer warps that read the stage (both consumer warpgroups when cooperative, the
      // owning one in ping-pong): every thread of this CTA's warps arrives (its own metadata
      // loads then precede the release without a warp-level hop that compute-sanitizer's
      // racecheck cannot follow), and one thread per warp of the other CTA of a cluster (its
      // wgmma read the X half that this CTA's producer multicast).
      constexpr int kWarps = kPingPong ? 4 : 8;
      arch::mbarrier_init(&empty[s], kWarps * 32 + kWarps * (kCluster - 1));
    }
    arch::mbarrier_init(&turn[0], 4);  // the other warpgroup's four warps
    arch::mbarrier_init(&turn[1], 4);
    arch::mbarrier_init(tile_full, 256);  // every consumer thread, after its stores
    arch::mbarrier_init(tile_free, 128);  // every epilogue thread, after its loads
    arch::mbarrier_init_fence();
  }
  __syncthreads();
  if constexpr (kCluster > 1) arch::cluster_sync();
  // Launched with programmatic stream serialization (detail::programmatic_launch), this CTA may
  // have started before the previous kernel's memory operations were visible: the set-up above
  // overlapped that and the launch latency. Every thread waits here, before the first global
  // access (the producer's loads, the consumers' stores to a Y that it may still read).
  arch::grid_dependency_wait();

  if (warpgroup == 0) {
    // ---------------- producer ----------------
    arch::setmaxnreg_dec<40>();
    if (threadIdx.x != 0) return;
    constexpr int kMetaCopies = kRows / 32;
    const uint8_t* w_meta = static_cast<const uint8_t*>(p.w_meta);
    // The layout pads rows to 128 only; the metadata row pairs of a 256-row tile that lie past
    // the padded rows copy the last real pair instead (legal metadata, results never stored), so
    // every stage receives the same byte count.
    const int64_t last_pair = static_cast<int64_t>(p.padded_rows) / 32 - 1;
    uint32_t it = 0;
    for (int tile = first_unit; tile < total_tiles; tile += unit_step) {
      int tile_n, tile_m;
      sm90_tile_coords(p, tile, tile_n, tile_m);
      tile_n = tile_n * kCluster + rank;
      const int64_t pair0 = static_cast<int64_t>(tile_n) * (kRows / 32);
      for (int kb = 0; kb < p.kblocks; ++kb, ++it) {
        const int s = static_cast<int>(it % kStages);
        const uint32_t phase = (it / kStages) & 1;
        arch::mbarrier_wait(&empty[s], phase ^ 1);  // a fresh barrier counts as released
        arch::mbarrier_arrive_expect_tx(&full[s], C.stage_bytes(kQ8));
        // Rows past m / n and columns past k read as zeros (the TMA fill).
        if constexpr (kCluster > 1) {
          // This CTA's half of the X box, into the same offset of both CTAs' stage.
          arch::tma_load_2d_multicast(s_x + s * kXBytes + rank * (kXBytes / 2), &x_map,
                                      kb * kBlockK, tile_m * BM + rank * (BM / 2),
                                      &full[s], static_cast<uint16_t>((1u << kCluster) - 1));
        } else {
          arch::tma_load_2d(s_x + s * kXBytes, &x_map, kb * kBlockK, tile_m * BM, &full[s]);
        }
        arch::tma_load_2d(s_values + s * kValueBytes, &w_map, kb * (kBlockK / 2), tile_n * kRows,
                          &full[s]);
#pragma unroll
        for (int q = 0; q < kMetaCopies; ++q) {
          const int64_t pair = min(pair0 + q, last_pair);
          arch::bulk_copy_g2s(s_meta + s * kMetaBytes + q * kMetaPairBytes,
                              w_meta + pair * p.meta_pair_stride + kb * kMetaPairBytes,
                              kMetaPairBytes, &full[s]);
        }
      }
    }
    if constexpr (kCluster > 1) {
      // Stay resident until every stage has been released by the consumers of both CTAs: their
      // remote arrivals land on this CTA's barriers.
      for (int i = 0; i < kStages; ++i, ++it)
        arch::mbarrier_wait(&empty[it % kStages], ((it / kStages) & 1) ^ 1);
    }
    return;
  }

  if constexpr (kEpilogueWg) {
    if (warpgroup == 3) {
      // ---------------- epilogue warpgroup ----------------
      // Whole tiles from the accumulator buffer to Y while the consumers run the next tile's
      // mainloop. A thread keeps the same 8 features of every token row it visits (item tid +
      // 128 i: token row item / kGroups), so their column terms load once per tile, before the
      // wait. Four warps have to keep pace with the tensor cores, so the common products (no
      // scales, no residual; no activation, ReLU or GELU (erf)) take a loop whose uniform
      // branches are hoisted out and whose items are independent, four in flight; the others
      // take store_outputs, the f32 staging path's per-item code. Both give the same bits: a
      // missing bias adds -0.0f, which leaves every value as it is.
      constexpr int kGroups = kRows / 8;
      static_assert(128 % kGroups == 0, "each epilogue thread keeps its features");
      constexpr int kItems = BM * kGroups / 128;
      constexpr int kTileLd = C.tile_ld();
      const int tid = threadIdx.x % 128;
      const float* tile_row = s_staging + (tid / kGroups) * kTileLd + (tid % kGroups) * 8;
      constexpr int kRowsPerItem = 128 / kGroups;  // token rows between a thread's items
      const Activation act = static_cast<Activation>(p.activation);
      const bool fast = p.alpha == 1.0f && p.x_scale == nullptr && p.w_scale == nullptr &&
                        p.residual == nullptr &&
                        (act == Activation::kNone || act == Activation::kRelu ||
                         act == Activation::kGeluErf);
      for (int tile = first_unit, n = 0; tile < total_tiles; tile += unit_step, ++n) {
        int tile_n, tile_m;
        sm90_tile_coords(p, tile, tile_n, tile_m);
        const int n_out = tile_n * kRows + (tid % kGroups) * 8;
        const bool n_ok = n_out < p.n;
        const int m_first = tile_m * BM + tid / kGroups;
        ColumnTerms cols;
#pragma unroll
        for (int i = 0; i < 8; ++i) cols.bias[i] = -0.0f;
        if (n_ok) sm90_load_column_terms<TOut>(p, n_out, cols);
        arch::mbarrier_wait(tile_full, n & 1);
        if constexpr (!std::is_void_v<TOut> && !std::is_same_v<TOut, float>) {
          auto run_fast = [&](auto activate) {
#pragma unroll 4
            for (int i = 0; i < kItems; ++i) {
              float v[8];
              load8_shared(tile_row + i * kRowsPerItem * kTileLd, v);
#pragma unroll
              for (int j = 0; j < 8; ++j) v[j] = __fadd_rn(v[j], cols.bias[j]);
              activate(v);
              const int m = m_first + i * kRowsPerItem;
              if (n_ok && m < p.m) store8<TOut>(p.y, static_cast<int64_t>(m) * p.n + n_out, v);
            }
          };
          if (fast) {
            if (act == Activation::kGeluErf) {
              run_fast([](float (&v)[8]) {
#pragma unroll
                for (int j = 0; j < 8; ++j) v[j] = gelu_erf_gpu(v[j]);
              });
            } else if (act == Activation::kRelu) {
              run_fast([](float (&v)[8]) {
#pragma unroll
                for (int j = 0; j < 8; ++j) v[j] = relu(v[j]);
              });
            } else {
              run_fast([](float (&)[8]) {});
            }
            arch::mbarrier_arrive(tile_free);
            continue;
          }
        }
#pragma unroll 2
        for (int i = 0; i < kItems; ++i) {
          const int m = m_first + i * kRowsPerItem;
          if (n_ok && m < p.m) {
            float v[8];
            load8_shared(tile_row + i * kRowsPerItem * kTileLd, v);
            sm90_store_outputs<TOut>(p, m, n_out, v, cols);
          }
        }
        arch::mbarrier_arrive(tile_free);
      }
      return;
    }
  }

  // ---------------- consumers ----------------
  // With an epilogue warpgroup the kernel is compiled for 128 registers a thread (512 threads)
  // and the consumers keep at most 96 accumulators: no increase.
  if constexpr (!kEpilogueWg) arch::setmaxnreg_inc<232>();
  const int cw = warpgroup - 1;
  const int row_block = kPingPong ? 0 : cw;  // which kWgRows rows of the tile this warpgroup owns
  const int warp = (threadIdx.x / 32) % 4;
  const int lane = threadIdx.x % 32;
  // Slice sl of this warpgroup is the tile's m64 block row_block * kSlices + sl; this warp's
  // 16-row tile in it is row tile (row_block * kSlices + sl) * 4 + warp of the CTA tile.
  // 16-bit: selector 0 reads metadata from lanes t = 0, 1 of each quad; the layout keeps the word
  // of the second tile of a row pair in lanes t = 2, 3, so odd tiles load from lane + 2. 8-bit:
  // every lane's word, the pair's second tile 128 bytes after its first (format/hw_layout.h).
  const int meta_lane = (lane & ~3) | ((warp & 1) << 1) | (lane & 1);
  const uint32_t meta_offset = ((row_block * kSlices * 4 + warp) / 2) * kMetaPairBytes +
                               (kQ8 ? (warp & 1) * 128 + lane * 4 : meta_lane * 4);
  constexpr int kMetaStepBytes = kMetaPairBytes / 2;  // one k-step (k32 / k64) of a row pair
  const uint32_t x_base = arch::smem_addr(s_x);
  // Slice sl's A tile: rows (row_block * kSlices + sl) * 64 .. + 63 of the values box, 64 bytes
  // per row.
  const uint32_t a_base = arch::smem_addr(s_values) + row_block * kSlices * 64 * 64;

  Acc acc[kSlices][BM / 2];
  // The global k-block index of this warpgroup's next stage, in the producer's order.
  uint32_t it = kPingPong ? cw * p.kblocks : 0;
  const int first_tile = first_unit + (kPingPong ? cw * unit_step : 0);
  const int tile_step = kPingPong ? 2 * unit_step : unit_step;
  // A stage is released to the producer of every CTA that wrote into it.
  auto release = [&](int stage) {
    arch::mbarrier_arrive(&empty[stage]);
    if constexpr (kCluster > 1) {
      __syncwarp();
      if (lane == 0) arch::mbarrier_arrive_cluster(&empty[stage], rank ^ 1);
    }
  };

  for (int tile = first_tile, n = 0; tile < total_tiles; tile += tile_step, ++n) {
    int tile_n, tile_m;
    sm90_tile_coords(p, tile, tile_n, tile_m);
    tile_n = tile_n * kCluster + rank;

    if constexpr (kPingPong) {
      // Warpgroup 1's n-th tile waits for the n-th end of warpgroup 0's mainloop; warpgroup 0's
      // n-th tile (n >= 1) for the (n-1)-th end of warpgroup 1's.
      if (cw == 1) arch::mbarrier_wait(&turn[1], n & 1);
      else if (n > 0) arch::mbarrier_wait(&turn[0], (n - 1) & 1);
    }

    int previous_stage = -1;
    // Hazard, measured (bench/NOTES.md, sessions 15-16): the sparse wgmma reads its metadata
    // register after issue, and ptxas does not protect that register. Rolled (`#pragma unroll 1`),
    // this loop reloaded the next k-block's words into the registers of the batch still in flight
    // (one batch stays queued across the back edge): every cooperative and wge_ tile gave wrong
    // products, with no ptxas message. Unrolled by two, ptxas has given consecutive k-blocks
    // different registers in every build so far, so no load lands in a register that the batch in
    // flight reads. Nothing in the language guarantees that register choice: the unroll is stated
    // here rather than left to the compiler's heuristics, and the test sass_wgmma_sp
    // (scripts/check_wgmma_sp_sass.py) proves the property on the SASS of every instantiation of
    // each build.
#pragma unroll 2
    for (int kb = 0; kb < p.kblocks; ++kb, ++it) {
      const int s = static_cast<int>(it % kStages);
      const uint32_t phase = (it / kStages) & 1;
      arch::mbarrier_wait(&full[s], phase);
      uint32_t e[kSlices][2];
#pragma unroll
      for (int sl = 0; sl < kSlices; ++sl)
#pragma unroll
        for (int ks = 0; ks < 2; ++ks)
          e[sl][ks] = *reinterpret_cast<const uint32_t*>(s_meta + s * kMetaBytes + meta_offset +
                                                         sl * 2 * kMetaPairBytes +
                                                         ks * kMetaStepBytes);
      const uint64_t desc_b0 = arch::smem_desc_k_major_sw128(x_base + s * kXBytes);
      const uint64_t desc_b1 = arch::smem_desc_k_major_sw128(x_base + s * kXBytes + 64);
      const int accumulate = kb > 0 ? 1 : 0;
#pragma unroll
      for (int sl = 0; sl < kSlices; ++sl)
#pragma unroll
        for (int i = 0; i < BM / 2; ++i) arch::pin_register(acc[sl][i]);
      arch::wgmma_fence();
#pragma unroll
      for (int sl = 0; sl < kSlices; ++sl) {
        // k-steps inside the 64-byte swizzled rows: +32 bytes of kept values (16-bit: 16 of
        // them for a k32, 8-bit: 32 for a k64) and +64 bytes of each X row.
        const uint32_t a_addr = a_base + s * kValueBytes + sl * 64 * 64;
        Mma::mma(acc[sl], arch::smem_desc_k_major_sw64(a_addr), desc_b0, e[sl][0], accumulate);
        Mma::mma(acc[sl], arch::smem_desc_k_major_sw64(a_addr + 32), desc_b1, e[sl][1], 1);
      }
      arch::wgmma_commit();
      arch::wgmma_wait<1>();  // the previous stage's batch has retired
#pragma unroll
      for (int sl = 0; sl < kSlices; ++sl)
#pragma unroll
        for (int i = 0; i < BM / 2; ++i) arch::pin_register(acc[sl][i]);
      if (previous_stage >= 0) release(previous_stage);
      previous_stage = s;
    }
    if constexpr (kPingPong) {
      // Every stage of this tile has been waited for: the other warpgroup's mainloop may start
      // (its first stage follows this tile's last in the ring) while this batch drains.
      __syncwarp();
      if (lane == 0) arch::mbarrier_arrive(&turn[1 - cw]);
      it += p.kblocks;  // the other warpgroup's tile
    }
    arch::wgmma_wait<0>();
#pragma unroll
    for (int sl = 0; sl < kSlices; ++sl)
#pragma unroll
      for (int i = 0; i < BM / 2; ++i) arch::pin_register(acc[sl][i]);
    release(previous_stage);

    if constexpr (kEpilogueWg) {
      // The tile's accumulators into the buffer once the epilogue warpgroup has read the last
      // one ([token][feature], conflict-free scalar stores: 2 * tile_ld() % 32 == 8), then on to
      // the next tile.
      constexpr int kTileLd = C.tile_ld();
      const int g = lane / 4, t = lane % 4;
      arch::mbarrier_wait(tile_free, (n & 1) ^ 1);  // a fresh barrier counts as freed
#pragma unroll
      for (int j = 0; j < BM / 8; ++j)
#pragma unroll
        for (int odd = 0; odd < 2; ++odd)
#pragma unroll
          for (int h = 0; h < 2; ++h)
            s_staging[(j * 8 + 2 * t + odd) * kTileLd + row_block * kWgRows + warp * 16 + g +
                      8 * h] = static_cast<float>(acc[0][j * 4 + 2 * h + odd]);
      arch::mbarrier_arrive(tile_full);
      continue;
    }

    // ---- epilogue ----
    // 16-bit outputs without a residual: sm90_epilogue_16bit. Otherwise (f32 outputs, residuals)
    // the accumulators go to shared memory unchanged, 32 tokens at a time; the scales, bias,
    // activation and residual are applied per 8 outputs in a rolled loop, in the order of ops.h,
    // by the same code as the mma.sp kernel (store_outputs). The chunk loop is rolled too: only
    // the stores that pick a chunk's registers (compile-time indices, reached through
    // with_constant) exist once per chunk, the per-item code once per kernel: 2.5-3 k SASS
    // instructions instead of 4.3-7.6 k. Unrolled, the 16-bit epilogue cost instruction fetch
    // stalls (ncu) and BERT time (bench/NOTES.md, sm90 v5, v7 and v8).
    const int n_base = tile_n * kRows + row_block * kWgRows;  // this warpgroup's first feature
    const int m_base = tile_m * BM;
    float* staging = s_staging + cw * kChunk * kLd;
    // 16-bit outputs without a residual: the register epilogue (one rounding before the residual
    // add would be a second one, so residuals and f32 outputs keep the f32 staging below).
    if (p.residual == nullptr) {
      uint8_t* staging16 = reinterpret_cast<uint8_t*>(staging);
      if constexpr (std::is_void_v<TOut>) {
        if (p.out_dtype == kOutF16) {
          sm90_epilogue_16bit<__half, BM, kSlices, kUnrollGelu>(p, acc, staging16, n_base, m_base,
                                                                warp, lane, 1 + cw);
          continue;
        }
        if (p.out_dtype == kOutBF16) {
          sm90_epilogue_16bit<__nv_bfloat16, BM, kSlices, kUnrollGelu>(
              p, acc, staging16, n_base, m_base, warp, lane, 1 + cw);
          continue;
        }
      } else if constexpr (!std::is_same_v<TOut, float>) {
        sm90_epilogue_16bit<TOut, BM, kSlices, kUnrollGelu>(p, acc, staging16, n_base, m_base, warp,
                                                            lane, 1 + cw);
        continue;
      }
    }
    const int g = lane / 4, t = lane % 4;
    const int tid = threadIdx.x % 128;
    constexpr int kGroups = kWgRows / 8;  // 8-feature groups per token row
    // A thread stores the same 8 features of every token row it visits (128 is a multiple of
    // kGroups), so their w_scale and bias are loaded once per tile.
    static_assert(128 % kGroups == 0, "each epilogue thread keeps its features");
    constexpr int kItemUnroll = kSlices * BM / 2 >= 128 && kQ8 ? 1 : 2;
    const int n_out = n_base + (tid % kGroups) * 8;
    ColumnTerms cols;
    if (n_out < p.n) sm90_load_column_terms<TOut>(p, n_out, cols);
    auto stage_chunk = [&](auto chunk) {
      constexpr int c = decltype(chunk)::value;
#pragma unroll
      for (int j = 0; j < kChunk / 8; ++j)
#pragma unroll
        for (int odd = 0; odd < 2; ++odd)
#pragma unroll
          for (int sl = 0; sl < kSlices; ++sl)
#pragma unroll
            for (int h = 0; h < 2; ++h)
              staging[(j * 8 + 2 * t + odd) * kLd + sl * 64 + warp * 16 + g + 8 * h] =
                  static_cast<float>(acc[sl][(c * (kChunk / 8) + j) * 4 + 2 * h + odd]);
    };
    // 8-bit kernels keep the chunk loop unrolled: rolled, they ran 1-6% slower on BERT's
    // batch-64 rows (bench/NOTES.md, sm90 v8).
    constexpr int kChunkUnroll = kQ8 ? BM / kChunk : 1;
#pragma unroll (kChunkUnroll)
    for (int c = 0; c < BM / kChunk; ++c) {
      with_constant<BM / kChunk>(c, stage_chunk);
      arch::named_barrier_sync(1 + cw, 128);
      // Two items per iteration overlap their shared-memory and residual loads, where the
      // registers allow it (all accumulators stay live across a rolled chunk loop; the 8-bit
      // tiles with 128 accumulators per thread spilled with two).
#pragma unroll (kItemUnroll)
      for (int item = tid; item < kChunk * kGroups; item += 128) {
        const int tok = item / kGroups, grp = item % kGroups;
        const int m = m_base + c * kChunk + tok;
        if (m < p.m && n_out < p.n) {
          float v[8];
          load8_shared(staging + tok * kLd + grp * 8, v);
          sm90_store_outputs<TOut>(p, m, n_out, v, cols);
        }
      }
      arch::named_barrier_sync(1 + cw, 128);
    }
  }
#else
  arch::unsupported_arch("the sm_90a sparse GEMM");
#endif
}

}  // namespace s24::detail::gemm
