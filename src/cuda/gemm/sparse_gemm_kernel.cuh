// Internal: the sm_80+ 2:4 sparse GEMM kernel (mma.sp m16n8k32), Y = X W^T + b computed as
// Y^T = W X^T with W in the hardware layout (docs/FORMAT.md). One template, instantiated per tile
// configuration (tile_configs.h) and dtype in sparse_gemm.cu.
//
// Data flow per CTA: a cp.async pipeline of `stages` stages, each 128 logical columns of K
// (plain cp.async.cg: an L2 evict_first hint on the weight stream made the kernel trap with
// cudaErrorIllegalInstruction on the lent H200s, bench/NOTES.md v0):
//  - W values and metadata are copied verbatim (the layout is already per-lane fragment order), so
//    every global read is a 16-byte, fully coalesced access and every shared read is a linear
//    LDS.128 / LDS.32 with no bank conflict;
//  - X rows (K contiguous) land in a [bm][128] tile whose 16-byte chunks are XOR-swizzled by
//    (row % 8), so the ldmatrix.x4 that builds B fragments hits 8 distinct bank groups.
// Epilogue: accumulators -> shared f32 tile (warps_k partial sums added in a fixed order) ->
// ops.h's alpha * x_scale[m] * w_scale[n] * acc, bias, activation, residual, rounding, 16-byte
// stores. With split-K each CTA stores its f32 tile to the
// workspace; the last CTA of a tile (atomic counter) sums the splits in split order (deterministic)
// and runs the epilogue, then re-arms the counter for the next launch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "cuda/arch/cp_async.cuh"
#include "cuda/arch/ldmatrix.cuh"
#include "cuda/arch/mma_sp.cuh"
#include "cuda/gemm/tile_configs.h"
#include "cuda/vec.cuh"
#include "ops/activation.h"

namespace s24::detail::gemm {

// Runtime arguments of one launch; all pointers device pointers.
struct GemmParams {
  const void* x;         // [m, k] row-major, 16-byte aligned
  const void* w_values;  // hardware layout values
  const void* w_meta;    // hardware layout metadata words
  const void* bias;      // [n] or nullptr
  void* y;               // [m, n] row-major, 16-byte aligned
  float* partials;       // split-K workspace: [splits][tiles_m][tiles_n][bm * bn]
  int* counters;         // split-K arrival counters: [tiles_m * tiles_n], zero between launches
  int m, n, k;           // logical sizes
  int ksteps;            // padded K / 32 (the layout's k-step count)
  int kblocks;           // padded K / 128
  int kblocks_per_split;
  int splits;
  int tiles_n, tiles_m;
  int raster_group;  // CTAs walk groups of this many N tiles across all M tiles
  int activation;    // s24::Activation as int
  // The epilogue of ops.h: act(alpha * x_scale[m] * w_scale[n] * acc + bias[n]) + residual[m, n].
  float alpha;
  const float* x_scale;  // [m] or nullptr
  const float* w_scale;  // [n] or nullptr
  const void* residual;  // [m, n] row-major like y, 16-byte aligned, or nullptr; may equal y
};

// GemmParams::activation holds an s24::Activation as int; kActNone is Activation::kNone.
constexpr int kActNone = static_cast<int>(Activation::kNone);

template <class T>
struct ElemTraits;
template <>
struct ElemTraits<__half> : Pack2<__half> {
  using Mma = arch::MmaF16;
};
template <>
struct ElemTraits<__nv_bfloat16> : Pack2<__nv_bfloat16> {
  using Mma = arch::MmaBF16;
};

// The activations of ops/activation.h (activate_gpu: the reference definitions, GELU (erf) in
// its branchless erfc form).
__device__ __forceinline__ float apply_activation(float v, int act) {
  return activate_gpu(static_cast<Activation>(act), v);
}

// 8 consecutive f32 values of a staged tile in shared memory (16-byte aligned): two 16-byte loads.
__device__ __forceinline__ void load8_shared(const float* src, float (&v)[8]) {
  const float4 lo = *reinterpret_cast<const float4*>(src);
  const float4 hi = *reinterpret_cast<const float4*>(src + 4);
  const float f[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = f[i];
}

// 8 consecutive elements [offset .. offset+7] of a matrix of T (f16, bf16 or f32): one 16-byte
// load (f32: two), 16-byte aligned.
template <class T>
__device__ __forceinline__ void load8(const void* base, int64_t offset, float (&out)[8]) {
  if constexpr (std::is_same_v<T, float>) {
    const float4* src = reinterpret_cast<const float4*>(static_cast<const float*>(base) + offset);
    const float4 lo = src[0], hi = src[1];
    const float f[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = f[i];
  } else {
    const uint4 r = *reinterpret_cast<const uint4*>(static_cast<const T*>(base) + offset);
    const uint32_t rw[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = ElemTraits<T>::to_float2(rw[i]);
      out[2 * i] = f.x;
      out[2 * i + 1] = f.y;
    }
  }
}

// Rounds 8 values to T and stores them at [offset .. offset+7] (16-byte aligned).
template <class T>
__device__ __forceinline__ void store8(void* base, int64_t offset, const float (&v)[8]) {
  if constexpr (std::is_same_v<T, float>) {
    float4* dst = reinterpret_cast<float4*>(static_cast<float*>(base) + offset);
    dst[0] = make_float4(v[0], v[1], v[2], v[3]);
    dst[1] = make_float4(v[4], v[5], v[6], v[7]);
  } else {
    uint4 out;
    out.x = ElemTraits<T>::from_float2(v[0], v[1]);
    out.y = ElemTraits<T>::from_float2(v[2], v[3]);
    out.z = ElemTraits<T>::from_float2(v[4], v[5]);
    out.w = ElemTraits<T>::from_float2(v[6], v[7]);
    *reinterpret_cast<uint4*>(static_cast<T*>(base) + offset) = out;
  }
}

// The per-feature terms of the epilogue of 8 consecutive outputs y[., n .. n+7]: w_scale and
// bias (T: Y's type, which bias has too). A thread that stores the same 8 features for many
// tokens (the wgmma kernel's epilogue) loads them once per tile instead of once per token row.
struct ColumnTerms {
  float w_scale[8];
  float bias[8];
};

template <class T, class Params>
__device__ __forceinline__ void load_column_terms(const Params& p, int n, ColumnTerms& c) {
  if (p.w_scale != nullptr) {
#pragma unroll
    for (int i = 0; i < 8; ++i) c.w_scale[i] = p.w_scale[n + i];
  }
  if (p.bias != nullptr) load8<T>(p.bias, n, c.bias);
}

// The epilogue of 8 consecutive outputs y[m, n .. n+7] and their 16-byte store (T: Y's type,
// f16 / bf16 / f32; bias and residual are T too), shared by the mma.sp and wgmma kernels
// (Params: GemmParams or Sm90Params, which name the same fields); `c` holds the features' terms
// (load_column_terms). Every branch is uniform across the launch. With residual == y, each
// thread reads its 8 elements before it writes them and no other thread touches them, so the
// in-place add needs no synchronization.
template <class T, class Params>
__device__ __forceinline__ void store_outputs(const Params& p, int m, int n, float (&v)[8],
                                              const ColumnTerms& c) {
  const int64_t offset = static_cast<int64_t>(m) * p.n + n;
  // ((alpha * x_scale[m]) * w_scale[n]) * acc, left to right as ops.h writes it.
  const float row_scale = p.x_scale != nullptr ? p.alpha * p.x_scale[m] : p.alpha;
  if (p.w_scale != nullptr) {
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = row_scale * c.w_scale[i] * v[i];
  } else if (row_scale != 1.0f) {
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = row_scale * v[i];
  }
  if (p.bias != nullptr) {
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] += c.bias[i];
  }
  if (p.activation != kActNone) {
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = apply_activation(v[i], p.activation);
  }
  if (p.residual != nullptr) {
    float r[8];
    load8<T>(p.residual, offset, r);
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] += r[i];
  }
  store8<T>(p.y, offset, v);
}

// The same with the features' terms loaded here (a thread that stores each feature once).
template <class T, class Params>
__device__ __forceinline__ void store_outputs(const Params& p, int m, int n, float (&v)[8]) {
  ColumnTerms c;
  load_column_terms<T>(p, n, c);
  store_outputs<T>(p, m, n, v, c);
}

template <class T, int kCfg>
__global__ void __launch_bounds__(kConfigs[kCfg].threads()) sparse_gemm_kernel(const GemmParams p) {
  constexpr TileConfig C = kConfigs[kCfg];
  constexpr int BN = C.bn, BM = C.bm, WN = C.warps_n, WM = C.warps_m, WK = C.warps_k;
  constexpr int kStages = C.stages, kThreads = C.threads();
  constexpr int kPairs = BN / WN / 32;  // row pairs per warp
  constexpr int kTiles = 2 * kPairs;    // 16-row tiles per warp
  constexpr int kNT = BM / WM / 8;      // n8 token tiles per warp
  constexpr int kValBytes = BN * 128, kMetaBytes = BN * 16, kXBytes = BM * 256;
  constexpr int kStageBytes = kValBytes + kMetaBytes + kXBytes;
  using Mma = typename ElemTraits<T>::Mma;

  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ int s_is_last;

  // Grouped rasterization: consecutive CTAs cover raster_group N tiles x all M tiles, so the W
  // and X tiles that run concurrently are re-read from L2 rather than DRAM (matters for large M).
  const int linear = blockIdx.x;
  const int group_span = p.raster_group * p.tiles_m;
  const int group = linear / group_span;
  const int first_n = group * p.raster_group;
  const int group_width = min(p.raster_group, p.tiles_n - first_n);
  const int within = linear - group * group_span;
  const int tile_n = first_n + within % group_width;
  const int tile_m = within / group_width;
  const int split = blockIdx.z;

  const int kb_begin = split * p.kblocks_per_split;
  const int kb_end = min(kb_begin + p.kblocks_per_split, p.kblocks);
  const int nkb = kb_end - kb_begin;

  const int tid = threadIdx.x;
  const int warp = tid / 32, lane = tid % 32;
  const int warp_k = warp % WK;
  const int warp_n = (warp / WK) % WN;
  const int warp_m = warp / (WK * WN);

  const uint8_t* w_values = static_cast<const uint8_t*>(p.w_values);
  const uint8_t* w_meta = static_cast<const uint8_t*>(p.w_meta);
  const T* x = static_cast<const T*>(p.x);
  const int64_t rtile0 = static_cast<int64_t>(tile_n) * (BN / 16);
  const int64_t pair0 = static_cast<int64_t>(tile_n) * (BN / 32);
  const int m0 = tile_m * BM;

  auto load_stage = [&](int slot, int kb) {
    uint8_t* s_val = smem + slot * kStageBytes;
    uint8_t* s_meta = s_val + kValBytes;
    uint8_t* s_x = s_meta + kMetaBytes;
    // Values: BN/16 row tiles, each 4 k-steps x 512 B contiguous in the layout.
    constexpr int kValChunks = kValBytes / 16;
#pragma unroll
    for (int i = 0; i < (kValChunks + kThreads - 1) / kThreads; ++i) {
      const int c = tid + i * kThreads;
      if (kValChunks % kThreads == 0 || c < kValChunks) {
        const int tile = c / 128, part = c % 128;
        const uint8_t* src = w_values +
                             ((rtile0 + tile) * p.ksteps + static_cast<int64_t>(kb) * 4) * 512 +
                             part * 16;
        arch::cp_async_16(s_val + c * 16, src, true);
      }
    }
    // Metadata: BN/32 row pairs, each 4 k-steps x 128 B contiguous.
    constexpr int kMetaChunks = kMetaBytes / 16;
#pragma unroll
    for (int i = 0; i < (kMetaChunks + kThreads - 1) / kThreads; ++i) {
      const int c = tid + i * kThreads;
      if (kMetaChunks % kThreads == 0 || c < kMetaChunks) {
        const int pair = c / 32, part = c % 32;
        const uint8_t* src =
            w_meta + ((pair0 + pair) * p.ksteps + static_cast<int64_t>(kb) * 4) * 128 + part * 16;
        arch::cp_async_16(s_meta + c * 16, src, true);
      }
    }
    // Activations: BM rows x 16 chunks of 8 elements; rows past M and chunks past K read nothing
    // and are zero-filled (K % 8 == 0, so a chunk is wholly inside or outside).
    constexpr int kXChunks = BM * 16;
#pragma unroll
    for (int i = 0; i < (kXChunks + kThreads - 1) / kThreads; ++i) {
      const int c = tid + i * kThreads;
      if (kXChunks % kThreads == 0 || c < kXChunks) {
        const int row = c / 16, chunk = c % 16;
        const int m = m0 + row;
        const int kk = kb * 128 + chunk * 8;
        const bool valid = m < p.m && kk < p.k;
        const T* src = valid ? x + static_cast<int64_t>(m) * p.k + kk : x;
        arch::cp_async_16(s_x + row * 256 + ((chunk ^ (row & 7)) * 16), src, valid);
      }
    }
  };

  float acc[kTiles][kNT][4];
#pragma unroll
  for (int i = 0; i < kTiles; ++i)
#pragma unroll
    for (int j = 0; j < kNT; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[i][j][c] = 0.0f;

  auto compute_stage = [&](int slot) {
    const uint8_t* s_val = smem + slot * kStageBytes;
    const uint8_t* s_meta = s_val + kValBytes;
    const uint8_t* s_x = s_meta + kMetaBytes;
#pragma unroll
    for (int step = 0; step < 4 / WK; ++step) {
      const int ks = warp_k + step * WK;
      uint32_t e[kPairs];
#pragma unroll
      for (int pp = 0; pp < kPairs; ++pp)
        e[pp] = *reinterpret_cast<const uint32_t*>(
            s_meta + ((warp_n * kPairs + pp) * 4 + ks) * 128 + lane * 4);

      uint32_t a[kTiles][4];
#pragma unroll
      for (int i = 0; i < kTiles; ++i) {
        const uint4 v = *reinterpret_cast<const uint4*>(
            s_val + ((warp_n * kTiles + i) * 4 + ks) * 512 + lane * 16);
        a[i][0] = v.x;
        a[i][1] = v.y;
        a[i][2] = v.z;
        a[i][3] = v.w;
      }
      uint32_t b[kNT][4];
#pragma unroll
      for (int j = 0; j < kNT; ++j) {
        const int row = (warp_m * kNT + j) * 8 + (lane & 7);
        const int chunk = ks * 4 + (lane >> 3);
        arch::ldmatrix_x4(b[j], s_x + row * 256 + ((chunk ^ (row & 7)) * 16));
      }
#pragma unroll
      for (int i = 0; i < kTiles; ++i)
#pragma unroll
        for (int j = 0; j < kNT; ++j) {
          if (i % 2 == 0)
            arch::mma_sp_16832<Mma, 0>(acc[i][j], a[i], b[j], e[i / 2]);
          else
            arch::mma_sp_16832<Mma, 1>(acc[i][j], a[i], b[j], e[i / 2]);
        }
    }
  };

  // ---- main loop: the classic multistage cp.async pipeline ----
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < nkb) load_stage(s, kb_begin + s);
    arch::cp_async_commit();
  }
  for (int i = 0; i < nkb; ++i) {
    arch::cp_async_wait<kStages - 2>();
    __syncthreads();  // stage i is visible to all; stage i-1's slot is free for reloading
    const int next = i + kStages - 1;
    if (next < nkb) load_stage(next % kStages, kb_begin + next);
    arch::cp_async_commit();
    compute_stage(i % kStages);
  }
  arch::cp_async_wait<0>();
  __syncthreads();

  // ---- epilogue: accumulators -> shared f32 tile [BM][BN + 4] ----
  // The +4 pad puts lanes (g, t) on banks g + 8 t: conflict-free stores.
  constexpr int LD = BN + 4;
  float* cs = reinterpret_cast<float*>(smem);
#pragma unroll
  for (int phase = 0; phase < WK; ++phase) {
    if (warp_k == phase) {
#pragma unroll
      for (int i = 0; i < kTiles; ++i)
#pragma unroll
        for (int j = 0; j < kNT; ++j)
#pragma unroll
          for (int c = 0; c < 4; ++c) {
            const int row = (warp_n * kTiles + i) * 16 + (lane >> 2) + 8 * (c >> 1);
            const int tok = (warp_m * kNT + j) * 8 + 2 * (lane & 3) + (c & 1);
            float& dst = cs[tok * LD + row];
            dst = (phase == 0) ? acc[i][j][c] : dst + acc[i][j][c];
          }
    }
    __syncthreads();
  }

  constexpr int kChunksPerRow = BN / 8;
  constexpr int kOutChunks = BM * kChunksPerRow;
  const int n0 = tile_n * BN;
  if (p.splits == 1) {
    for (int c = tid; c < kOutChunks; c += kThreads) {
      const int tok = c / kChunksPerRow, col = (c % kChunksPerRow) * 8;
      const int m = m0 + tok, n = n0 + col;
      if (m >= p.m || n >= p.n) continue;
      float v[8];
      load8_shared(cs + tok * LD + col, v);
      store_outputs<T>(p, m, n, v);
    }
    return;
  }

  // ---- split-K: publish this split's tile, the last arrival reduces ----
  const int64_t tile_floats = static_cast<int64_t>(BM) * BN;
  const int64_t tile_index = static_cast<int64_t>(tile_m) * p.tiles_n + tile_n;
  const int64_t split_stride = static_cast<int64_t>(p.tiles_m) * p.tiles_n * tile_floats;
  float* mine = p.partials + split * split_stride + tile_index * tile_floats;
  for (int c = tid; c < kOutChunks; c += kThreads) {
    const int tok = c / kChunksPerRow, col = (c % kChunksPerRow) * 8;
    const float4 lo = *reinterpret_cast<const float4*>(cs + tok * LD + col);
    const float4 hi = *reinterpret_cast<const float4*>(cs + tok * LD + col + 4);
    __stcg(reinterpret_cast<float4*>(mine + tok * BN + col), lo);
    __stcg(reinterpret_cast<float4*>(mine + tok * BN + col + 4), hi);
  }
  __threadfence();  // this CTA's partials reach L2 before its arrival is counted
  __syncthreads();
  if (tid == 0) {
    int* counter = p.counters + tile_index;
    const int arrived = atomicAdd(counter, 1);
    s_is_last = (arrived == p.splits - 1);
    if (s_is_last) atomicExch(counter, 0);  // re-armed: every split of this launch has arrived
  }
  __syncthreads();
  if (!s_is_last) return;
  __threadfence();
  const float* base = p.partials + tile_index * tile_floats;
  for (int c = tid; c < kOutChunks; c += kThreads) {
    const int tok = c / kChunksPerRow, col = (c % kChunksPerRow) * 8;
    const int m = m0 + tok, n = n0 + col;
    if (m >= p.m || n >= p.n) continue;
    float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int s = 0; s < p.splits; ++s) {
      const float* src = base + s * split_stride + tok * BN + col;
      const float4 lo = __ldcg(reinterpret_cast<const float4*>(src));
      const float4 hi = __ldcg(reinterpret_cast<const float4*>(src + 4));
      v[0] += lo.x;
      v[1] += lo.y;
      v[2] += lo.z;
      v[3] += lo.w;
      v[4] += hi.x;
      v[5] += hi.y;
      v[6] += hi.z;
      v[7] += hi.w;
    }
    store_outputs<T>(p, m, n, v);
  }
}

}  // namespace s24::detail::gemm
