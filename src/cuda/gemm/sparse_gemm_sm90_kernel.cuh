// Internal: the sm_90a 2:4 sparse GEMM (wgmma.mma_async.sp m64nNk32), Y = X W^T computed as
// Y^T = W X^T, W in the same hardware layout as the sm_80 kernel (docs/FORMAT.md): a warp's
// 16-row tile of the layout is exactly its A fragment of the warpgroup instruction, and its
// metadata words are the m16n8k32 ones (cuda/arch/wgmma.cuh). One template, instantiated per
// tile configuration (tile_configs.h, Sm90TileConfig) and dtype in sparse_gemm_sm90.cu.
//
// Roles (384 threads, one CTA per SM, persistent over the output tiles):
//  - warpgroup 0, one thread: the producer. Per k-block of 64 columns it waits for a free stage,
//    announces the stage's bytes on its "full" mbarrier, and issues one 2-D TMA box of X (bm tokens
//    x 64 columns, 128-byte swizzle: the wgmma B layout) plus 8 + 4 bulk copies of the weight's
//    value and metadata blocks (contiguous in the layout, so no tensor map is needed for them).
//  - warpgroups 1 and 2: consumers, each owning 64 weight rows of the 128-row tile. Per stage a
//    warp loads its A fragments (LDS.128) and metadata words (LDS.32), then the warpgroup issues
//    two wgmma (k32 each) with B from shared memory, waits for them and releases the stage (its
//    "empty" mbarrier). The two consumer warpgroups interleave on the tensor cores: while one
//    waits and loads its next fragments, the other's wgmma run.
// Epilogue per consumer warpgroup, 32 tokens at a time: alpha * x_scale * w_scale, bias and the
// activation in registers, f32 through a padded shared tile (conflict-free scalar stores), then
// per token row 16-byte residual loads and 16-byte stores of 8 outputs, rounded once. Meanwhile
// the producer is already filling the stages of the next tile.
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/arch/tma.cuh"
#include "cuda/arch/wgmma.cuh"
#include "cuda/gemm/sparse_gemm_kernel.cuh"  // ElemTraits, load8, apply_activation
#include "cuda/gemm/tile_configs.h"

namespace s24::detail::gemm {

struct Sm90Params {
  const void* w_values;  // hardware layout values
  const void* w_meta;    // hardware layout metadata words
  const void* bias;      // [n] or nullptr
  const void* residual;  // [m, n] or nullptr (may equal y)
  const float* x_scale;  // [m] or nullptr
  const float* w_scale;  // [n] or nullptr
  void* y;               // [m, n]
  float alpha;
  int m, n, k;
  int ksteps;   // the layout's k-steps (padded K / 32): the stride between row tiles
  int padded_rows;  // the layout's rows (N rounded up to 128)
  int kblocks;  // k-blocks of 64 that cover K (no block lies wholly beyond K)
  int tiles_n, tiles_m;
  int raster_group;  // tiles walk groups of this many N tiles across all M tiles
  int activation;
};

template <class T>
struct WgmmaType;
template <>
struct WgmmaType<__half> {
  using type = arch::WgmmaF16;
};
template <>
struct WgmmaType<__nv_bfloat16> {
  using type = arch::WgmmaBF16;
};

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

template <class T, int kCfg>
__global__ void __launch_bounds__(Sm90TileConfig::kThreads, 1)
    sparse_gemm_sm90_kernel(const __grid_constant__ CUtensorMap x_map, const Sm90Params p) {
#if S24_ARCH_SM90A
  constexpr Sm90TileConfig C = kSm90Configs[kCfg];
  constexpr int BM = C.bm, kStages = C.stages, kSlices = C.slices;
  constexpr int kRows = C.rows(), kWgRows = C.wg_rows();
  constexpr int kXBytes = C.x_bytes();
  constexpr int kValueBytes = C.value_bytes();
  constexpr int kMetaBytes = C.meta_bytes();
  constexpr int kLd = C.epilogue_ld();
  constexpr int kChunk = Sm90TileConfig::kEpilogueTokens;
  using Mma = arch::WgmmaSp<typename WgmmaType<T>::type, BM>;

  extern __shared__ uint8_t smem_raw[];
  // The 128-byte swizzle pattern repeats every 1024 bytes and the wgmma descriptor assumes that
  // each X box starts on such a boundary.
  const uint32_t raw_addr = arch::smem_addr(smem_raw);
  uint8_t* smem = smem_raw + ((1024 - (raw_addr & 1023)) & 1023);
  uint8_t* s_x = smem;
  uint8_t* s_values = s_x + kStages * kXBytes;
  uint8_t* s_meta = s_values + kStages * kValueBytes;
  float* s_staging = reinterpret_cast<float*>(s_meta + kStages * kMetaBytes);
  uint64_t* full = reinterpret_cast<uint64_t*>(s_staging + 2 * kChunk * kLd);
  uint64_t* empty = full + kStages;

  const int warpgroup = threadIdx.x / 128;
  const int total_tiles = p.tiles_n * p.tiles_m;

  if (threadIdx.x == 0) {
    arch::prefetch_tensor_map(&x_map);
    for (int s = 0; s < kStages; ++s) {
      arch::mbarrier_init(&full[s], 1);  // the producer's arrive_expect_tx
      arch::mbarrier_init(&empty[s], 8);  // one arrival per consumer warp
    }
    arch::mbarrier_init_fence();
  }
  __syncthreads();

  if (warpgroup == 0) {
    // ---------------- producer ----------------
    arch::setmaxnreg_dec<40>();
    if (threadIdx.x != 0) return;
    // One thread issues every copy of a stage, right after announcing its bytes, from fully
    // unrolled loops: the issue rate of this thread is on the critical path (a warp-wide version
    // with one copy per lane measured 1.5x slower, rolled loops 1.9x, bench/NOTES.md sm90 v2).
    constexpr int kValueCopies = kRows / 16, kMetaCopies = kRows / 32;
    const uint8_t* w_values = static_cast<const uint8_t*>(p.w_values);
    const uint8_t* w_meta = static_cast<const uint8_t*>(p.w_meta);
    // The layout pads rows to 128 only; the row tiles of a 256-row CTA tile that lie past the
    // padded rows copy the last real row tile instead (legal values and metadata, results never
    // stored), so every stage receives the same byte count.
    const int64_t last_rtile = static_cast<int64_t>(p.padded_rows) / 16 - 1;
    uint32_t it = 0;
    for (int tile = blockIdx.x; tile < total_tiles; tile += gridDim.x) {
      int tile_n, tile_m;
      sm90_tile_coords(p, tile, tile_n, tile_m);
      const int64_t rtile0 = static_cast<int64_t>(tile_n) * (kRows / 16);
      for (int kb = 0; kb < p.kblocks; ++kb, ++it) {
        const int s = static_cast<int>(it % kStages);
        const uint32_t phase = (it / kStages) & 1;
        arch::mbarrier_wait(&empty[s], phase ^ 1);  // a fresh barrier counts as released
        arch::mbarrier_arrive_expect_tx(&full[s], C.stage_bytes());
        arch::tma_load_2d(s_x + s * kXBytes, &x_map, kb * Sm90TileConfig::kBlockK, tile_m * BM,
                          &full[s]);
#pragma unroll
        for (int t = 0; t < kValueCopies; ++t) {
          const int64_t rt = kSlices == 1 ? rtile0 + t : min(rtile0 + t, last_rtile);
          arch::bulk_copy_g2s(s_values + s * kValueBytes + t * 1024,
                              w_values + (rt * p.ksteps + kb * 2) * 512, 1024, &full[s]);
        }
#pragma unroll
        for (int q = 0; q < kMetaCopies; ++q) {
          const int64_t pair =
              kSlices == 1 ? rtile0 / 2 + q : min(rtile0 + 2 * q, last_rtile) / 2;
          arch::bulk_copy_g2s(s_meta + s * kMetaBytes + q * 256,
                              w_meta + (pair * p.ksteps + kb * 2) * 128, 256, &full[s]);
        }
      }
    }
    return;
  }

  // ---------------- consumers ----------------
  arch::setmaxnreg_inc<232>();
  const int cw = warpgroup - 1;  // which half of the tile's rows
  const int warp = (threadIdx.x / 32) % 4;
  const int lane = threadIdx.x % 32;
  // Slice sl of this warpgroup is the tile's m64 block cw * kSlices + sl; this warp's 16-row
  // tile in it is row tile (cw * kSlices + sl) * 4 + warp of the CTA tile.
  // Selector 0 reads metadata from lanes t = 0, 1 of each quad; the layout keeps the word of the
  // second tile of a row pair in lanes t = 2, 3, so odd tiles load from lane + 2.
  const int meta_lane = (lane & ~3) | ((warp & 1) << 1) | (lane & 1);
  const uint32_t value_offset = (cw * kSlices * 4 + warp) * 1024 + lane * 16;
  const uint32_t meta_offset = ((cw * kSlices * 4 + warp) / 2) * 256 + meta_lane * 4;
  const uint32_t x_base = arch::smem_addr(s_x);

  float acc[kSlices][BM / 2];
  uint32_t it = 0;

  for (int tile = blockIdx.x; tile < total_tiles; tile += gridDim.x) {
    int tile_n, tile_m;
    sm90_tile_coords(p, tile, tile_n, tile_m);

    for (int kb = 0; kb < p.kblocks; ++kb, ++it) {
      const int s = static_cast<int>(it % kStages);
      const uint32_t phase = (it / kStages) & 1;
      arch::mbarrier_wait(&full[s], phase);
      uint32_t a[kSlices][2][4], e[kSlices][2];
#pragma unroll
      for (int sl = 0; sl < kSlices; ++sl)
#pragma unroll
        for (int ks = 0; ks < 2; ++ks) {
          const uint4 v = *reinterpret_cast<const uint4*>(s_values + s * kValueBytes +
                                                          value_offset + sl * 4096 + ks * 512);
          a[sl][ks][0] = v.x;
          a[sl][ks][1] = v.y;
          a[sl][ks][2] = v.z;
          a[sl][ks][3] = v.w;
          e[sl][ks] = *reinterpret_cast<const uint32_t*>(s_meta + s * kMetaBytes + meta_offset +
                                                         sl * 512 + ks * 128);
        }
      // Every input of the wgmma is defined before the fence: ptxas serializes wgmma whose
      // operands are written while earlier ones are in flight (warning C7513), which is also why
      // each stage waits for its own group instead of double-buffering the A registers. The
      // other consumer warpgroup's wgmma keep the tensor cores busy across that wait.
      const uint64_t desc0 = arch::smem_desc_k_major_sw128(x_base + s * kXBytes);
      const uint64_t desc1 = arch::smem_desc_k_major_sw128(x_base + s * kXBytes + 64);
      const int accumulate = kb > 0 ? 1 : 0;
#pragma unroll
      for (int sl = 0; sl < kSlices; ++sl)
#pragma unroll
        for (int i = 0; i < BM / 2; ++i) arch::pin_register(acc[sl][i]);
      arch::wgmma_fence();
#pragma unroll
      for (int sl = 0; sl < kSlices; ++sl) {
        Mma::mma(acc[sl], a[sl][0], desc0, e[sl][0], accumulate);
        Mma::mma(acc[sl], a[sl][1], desc1, e[sl][1], 1);
      }
      arch::wgmma_commit();
      arch::wgmma_wait<0>();
#pragma unroll
      for (int sl = 0; sl < kSlices; ++sl)
#pragma unroll
        for (int i = 0; i < BM / 2; ++i) arch::pin_register(acc[sl][i]);
      __syncwarp();
      if (lane == 0) arch::mbarrier_arrive(&empty[s]);
    }

    // ---- epilogue ----
    const int g = lane / 4, t = lane % 4;
    const int n_base = tile_n * kRows + cw * kWgRows;  // this warpgroup's first output feature
    const int m_base = tile_m * BM;
    float bias_v[kSlices][2], wscale_v[kSlices][2];
#pragma unroll
    for (int sl = 0; sl < kSlices; ++sl)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int n = n_base + sl * 64 + warp * 16 + g + 8 * h;
        bias_v[sl][h] = 0.0f;
        wscale_v[sl][h] = 1.0f;
        if (n < p.n) {
          if (p.bias != nullptr) bias_v[sl][h] = static_cast<float>(static_cast<const T*>(p.bias)[n]);
          if (p.w_scale != nullptr) wscale_v[sl][h] = p.w_scale[n];
        }
      }
    float* staging = s_staging + cw * kChunk * kLd;
    const int tid = threadIdx.x % 128;
#pragma unroll
    for (int c = 0; c < BM / kChunk; ++c) {
#pragma unroll
      for (int j = 0; j < kChunk / 8; ++j) {
#pragma unroll
        for (int odd = 0; odd < 2; ++odd) {
          const int tok = j * 8 + 2 * t + odd;
          // ((alpha * x_scale[m]) * w_scale[n]) * acc + bias[n], the order of ops.h.
          const float row_scale =
              p.x_scale != nullptr ? p.alpha * p.x_scale[min(m_base + c * kChunk + tok, p.m - 1)]
                                   : p.alpha;
#pragma unroll
          for (int sl = 0; sl < kSlices; ++sl)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
              const float scale = p.w_scale != nullptr ? row_scale * wscale_v[sl][h] : row_scale;
              float v = scale * acc[sl][(c * (kChunk / 8) + j) * 4 + 2 * h + odd] + bias_v[sl][h];
              if (p.activation != kActNone) v = apply_activation(v, p.activation);
              staging[tok * kLd + sl * 64 + warp * 16 + g + 8 * h] = v;
            }
        }
      }
      arch::named_barrier_sync(1 + cw, 128);
      constexpr int kGroups = kWgRows / 8;  // 8-feature groups per token row
#pragma unroll
      for (int item = tid; item < kChunk * kGroups; item += 128) {
        const int tok = item / kGroups, grp = item % kGroups;
        const int m = m_base + c * kChunk + tok;
        const int n = n_base + grp * 8;
        if (m < p.m && n < p.n) {
          const float4 lo = *reinterpret_cast<const float4*>(staging + tok * kLd + grp * 8);
          const float4 hi = *reinterpret_cast<const float4*>(staging + tok * kLd + grp * 8 + 4);
          float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
          const int64_t offset = static_cast<int64_t>(m) * p.n + n;
          if (p.residual != nullptr) {
            float r[8];
            load8<T>(p.residual, offset, r);
#pragma unroll
            for (int i = 0; i < 8; ++i) v[i] += r[i];
          }
          uint4 out;
          out.x = ElemTraits<T>::from_float2(v[0], v[1]);
          out.y = ElemTraits<T>::from_float2(v[2], v[3]);
          out.z = ElemTraits<T>::from_float2(v[4], v[5]);
          out.w = ElemTraits<T>::from_float2(v[6], v[7]);
          *reinterpret_cast<uint4*>(static_cast<T*>(p.y) + offset) = out;
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
