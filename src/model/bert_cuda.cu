// CUDA kernels of the BERT runtime (bert_cuda.h): embeddings + LayerNorm, residual + LayerNorm,
// the fused attention, mean pooling. The CPU references are in bert_cpu.cc / bert_layers.cc /
// bert_model.cc; tests/gpu/test_bert_gpu.cu compares each kernel with them.
#include "model/bert_cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "core/check.h"
#include "cuda/arch/cp_async.cuh"
#include "cuda/arch/grid_dependency.cuh"
#include "cuda/arch/ldmatrix.cuh"
#include "cuda/arch/mma.cuh"
#include "cuda/arch/mufu.cuh"
#include "cuda/arch/tma.cuh"
#include "cuda/arch/wgmma_dense.cuh"
#include "cuda/check_cuda.h"
#include "cuda/device_info.h"
#include "cuda/launch.cuh"
#include "cuda/tensor_map.h"

namespace s24::model::gpu {
namespace {

// ---- element conversions (two 16-bit values per 32-bit word, the lower index in the low half) --

template <class T>
struct Half2;
template <>
struct Half2<__half> {
  __device__ static float2 to_float2(uint32_t w) {
    __half2 h;
    memcpy(&h, &w, 4);
    return __half22float2(h);
  }
  __device__ static uint32_t pack(float a, float b) {
    const __half2 h = __floats2half2_rn(a, b);
    uint32_t w;
    memcpy(&w, &h, 4);
    return w;
  }
};
template <>
struct Half2<__nv_bfloat16> {
  __device__ static float2 to_float2(uint32_t w) {
    __nv_bfloat162 h;
    memcpy(&h, &w, 4);
    return __bfloat1622float2(h);
  }
  __device__ static uint32_t pack(float a, float b) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
    uint32_t w;
    memcpy(&w, &h, 4);
    return w;
  }
};

// 8 consecutive elements (16 bytes, 16-byte aligned) to f32 and back.
template <class T>
__device__ __forceinline__ void load8(const T* p, float (&f)[8]) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 v = Half2<T>::to_float2(w[i]);
    f[2 * i] = v.x;
    f[2 * i + 1] = v.y;
  }
}

template <class T>
__device__ __forceinline__ void store8(T* p, const float (&f)[8]) {
  uint4 u;
  u.x = Half2<T>::pack(f[0], f[1]);
  u.y = Half2<T>::pack(f[2], f[3]);
  u.z = Half2<T>::pack(f[4], f[5]);
  u.w = Half2<T>::pack(f[6], f[7]);
  *reinterpret_cast<uint4*>(p) = u;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// ---- row kernels: one warp per row held in registers ------------------------------------------
// Lane l owns the 8-element chunks l, l + 32, ... (kChunks of them at most), so a warp reads a row
// with 16-byte coalesced loads and the statistics need only warp shuffles. Two passes over the
// registers (mean, then the squared deviations) keep the variance accurate in f32.

constexpr int kRowWarps = 8;  // rows per CTA

template <class T, int kChunks>
__device__ __forceinline__ void normalize_row(float (&v)[kChunks][8], int chunks, int hidden,
                                              float eps, const float* gamma, const float* beta,
                                              T* out, int lane) {
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
#pragma unroll
    for (int e = 0; e < 8; ++e) sum += v[i][e];  // chunks past the row hold zeros
  }
  const float mean = warp_sum(sum) / static_cast<float>(hidden);
  float sq = 0.f;
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    if (lane + 32 * i < chunks) {
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const float d = v[i][e] - mean;
        sq += d * d;
      }
    }
  }
  const float rstd = rsqrtf(warp_sum(sq) / static_cast<float>(hidden) + eps);
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    const int c = lane + 32 * i;
    if (c < chunks) {
      const float4 g0 = *reinterpret_cast<const float4*>(gamma + c * 8);
      const float4 g1 = *reinterpret_cast<const float4*>(gamma + c * 8 + 4);
      const float4 b0 = *reinterpret_cast<const float4*>(beta + c * 8);
      const float4 b1 = *reinterpret_cast<const float4*>(beta + c * 8 + 4);
      const float g[8] = {g0.x, g0.y, g0.z, g0.w, g1.x, g1.y, g1.z, g1.w};
      const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
      float y[8];
#pragma unroll
      for (int e = 0; e < 8; ++e) y[e] = (v[i][e] - mean) * rstd * g[e] + b[e];
      store8(out + c * 8, y);
    }
  }
}

template <class T, int kChunks>
__global__ void __launch_bounds__(32 * kRowWarps)
    embeddings_ln_kernel(const int32_t* __restrict__ ids, const int32_t* __restrict__ types,
                         const T* __restrict__ word, const T* __restrict__ position,
                         const T* __restrict__ token_type, const float* __restrict__ gamma,
                         const float* __restrict__ beta, T* __restrict__ out, int tokens, int seq,
                         int hidden, float eps) {
  arch::grid_dependency_wait();
  const int row = blockIdx.x * kRowWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= tokens) return;
  const int chunks = hidden / 8;
  const T* w = word + static_cast<int64_t>(ids[row]) * hidden;
  const T* ty = token_type + static_cast<int64_t>(types[row]) * hidden;
  const T* ps = position + static_cast<int64_t>(row % seq) * hidden;
  float v[kChunks][8];
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    const int c = lane + 32 * i;
    if (c < chunks) {
      float a[8], b[8], p[8];
      load8(w + c * 8, a);
      load8(ty + c * 8, b);
      load8(ps + c * 8, p);
#pragma unroll
      for (int e = 0; e < 8; ++e) v[i][e] = (a[e] + b[e]) + p[e];  // HF's order
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) v[i][e] = 0.f;
    }
  }
  normalize_row<T, kChunks>(v, chunks, hidden, eps, gamma, beta,
                            out + static_cast<int64_t>(row) * hidden, lane);
}

// `residual` and `out` may be the same memory (no __restrict__ on them): a warp reads its whole
// row before writing it, and no other warp touches that row.
template <class T, int kChunks>
__global__ void __launch_bounds__(32 * kRowWarps)
    residual_ln_kernel(const T* x, const T* residual, const float* __restrict__ gamma,
                       const float* __restrict__ beta, T* out, int rows, int hidden, float eps) {
  arch::grid_dependency_wait();
  const int row = blockIdx.x * kRowWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const int chunks = hidden / 8;
  const int64_t base = static_cast<int64_t>(row) * hidden;
  float v[kChunks][8];
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    const int c = lane + 32 * i;
    if (c < chunks) {
      load8(x + base + c * 8, v[i]);
      if (residual != nullptr) {
        float r[8];
        load8(residual + base + c * 8, r);
#pragma unroll
        for (int e = 0; e < 8; ++e) v[i][e] += r[e];
      }
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) v[i][e] = 0.f;
    }
  }
  normalize_row<T, kChunks>(v, chunks, hidden, eps, gamma, beta, out + base, lane);
}

// The smallest instantiated chunk count that covers `chunks_per_lane`.
int chunk_bucket(int64_t hidden) {
  const int64_t per_lane = (hidden / 8 + 31) / 32;
  for (int b : {1, 2, 3, 4, 6, 8}) {
    if (per_lane <= b) return b;
  }
  return 0;
}

template <class T, class Fn>
void dispatch_chunks(int bucket, Fn&& fn) {
  switch (bucket) {
    case 1: return fn(std::integral_constant<int, 1>{});
    case 2: return fn(std::integral_constant<int, 2>{});
    case 3: return fn(std::integral_constant<int, 3>{});
    case 4: return fn(std::integral_constant<int, 4>{});
    case 6: return fn(std::integral_constant<int, 6>{});
    case 8: return fn(std::integral_constant<int, 8>{});
  }
  S24_THROW(ErrorCode::kInternal, "no row kernel for chunk bucket ", bucket);
}

// ---- fused attention ------------------------------------------------------------------------
// One CTA = kWarps x 32 queries of one (batch, head); each warp owns 32 query rows as two m16
// tiles. Keys and values stream through shared memory in tiles of 64 (cp.async, double-buffered).
// Per tile a warp computes its 32 x 64 scores with mma.sync m16n8k16 (f32 accumulators), applies
// the scale and the padding mask, updates the running row max / sum (online softmax in base 2,
// the scale folded into log2(e) / sqrt(d)), rescales its output accumulators, and multiplies the
// probabilities (rounded to the activation dtype, straight from the score registers) by V. The
// [seq, seq] matrix never reaches memory.
//
// Why 32 rows per warp: every K and V fragment a warp loads from shared memory (ldmatrix) feeds
// the mma of both its m16 tiles. With 16 rows per warp (v1) a warp read 16 KB of fragments per
// 64-key tile for 64 mma, 16 FLOP per shared-memory byte, which at 128 B/clk caps an SM near 2 k
// FLOP/clk; v1 measured 158 TFLOP/s at BERT-base batch 256 on an H100 (bench/NOTES.md). And a
// 128-query CTA reads each K / V tile from L2 once for twice the queries.

constexpr int kAttnKeys = 64;
constexpr int kAttnWarpRows = 32;
constexpr int kAttnMTiles = kAttnWarpRows / 16;

struct AttnParams {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  const int32_t* mask;
  int64_t ld_q, ld_k, ld_v, ld_out;  // row strides in elements
  int seq;
  float scale_log2;  // log2(e) / sqrt(head_dim)
};

// Rows padded by 16 bytes: the 8 row addresses of one ldmatrix then fall in 8 different bank
// groups (a row of 2*D bytes alone would put them all in one).
template <class T, int D>
constexpr int attn_stride() { return D + 8; }
// Dynamic shared memory: Q [kWarps * 32 rows], K [2][64], V [2][64] padded rows, then the two
// tiles' key biases.
template <class T, int D, int kWarps>
constexpr int attn_smem_bytes() {
  return (kWarps * kAttnWarpRows + 4 * kAttnKeys) * attn_stride<T, D>() * int(sizeof(T)) +
         2 * kAttnKeys * int(sizeof(float));
}

// The online-softmax state of the two rows that a lane shares with its quad in an m16 score
// fragment (mma.sync m16n8k16 and wgmma m64nN alike): rows g (lo) and g + 8 (hi), lane 4g + t.
// The running max is in base-2 units (raw score x scale_log2); the sums are this lane's share
// (its keys 2t, 2t + 1 of every 8), added across the quad at the end.
struct SoftmaxRows {
  float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.f, l_hi = 0.f;

  // 1 / row sum for rows lo and hi. Every row attends to at least one key (or to all of them),
  // so a sum is >= 1 after the max's own exp2(0).
  __device__ __forceinline__ float2 inverse_sums() const {
    float lo = l_lo, hi = l_hi;
    lo += __shfl_xor_sync(0xffffffffu, lo, 1);
    lo += __shfl_xor_sync(0xffffffffu, lo, 2);
    hi += __shfl_xor_sync(0xffffffffu, hi, 1);
    hi += __shfl_xor_sync(0xffffffffu, hi, 2);
    return make_float2(1.f / lo, 1.f / hi);
  }
};

// What the attention kernels need to know of a batch row's mask, from every thread of the CTA:
// `uniform` when no key is attended (every key then counts, with equal scores: HF's result and
// the CPU reference's), `no_padding` when every key is (full tiles then skip the per-key bias).
struct MaskSummary {
  bool uniform, no_padding;
};
__device__ __forceinline__ MaskSummary summarize_mask(const int32_t* mask, int seq) {
  int any = 0, all = 1;
  for (int j = threadIdx.x; j < seq; j += blockDim.x) {
    any |= mask[j] != 0;
    all &= mask[j] != 0;
  }
  MaskSummary m;
  m.uniform = __syncthreads_or(any) == 0;
  m.no_padding = __syncthreads_and(all) != 0;
  return m;
}

// score(nt, c): the raw score of key nt * 8 + 2t + c % 2 of the tile in row lo (c < 2) or hi
// (c >= 2), as a reference into the lane's fragment. bias: the tile's 64 key biases (0 to attend,
// -inf for padding and keys past seq); keep = 0 scores every key 0 (a row without any key).
template <class Score>
__device__ __forceinline__ void apply_key_bias(Score&& score, const float* bias, int t, float keep) {
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const float b = bias[nt * 8 + 2 * t + e];
      score(nt, e) = fmaf(score(nt, e), keep, b);
      score(nt, 2 + e) = fmaf(score(nt, 2 + e), keep, b);
    }
}

// One 64-key tile of the online softmax for a lane's rows lo and hi: the new running max, the
// probabilities exp2(s * scale - max), rounded to T into pa as the four k16 A fragments of the
// P V product (keys 16 ks .. 16 ks + 15: words (lo, 2t), (hi, 2t), (lo, 2t + 8), (hi, 2t + 8)),
// and the running sums. Returns the factors (lo, hi) that rescale the rows' output accumulators.
template <class T, class Score>
__device__ __forceinline__ float2 online_softmax_tile(Score&& score, float scale, SoftmaxRows& r,
                                                      uint32_t (&pa)[4][4]) {
  float mx_lo = -INFINITY, mx_hi = -INFINITY;
#pragma unroll
  for (int nt = 0; nt < 8; ++nt) {
    mx_lo = fmaxf(mx_lo, fmaxf(score(nt, 0), score(nt, 1)));
    mx_hi = fmaxf(mx_hi, fmaxf(score(nt, 2), score(nt, 3)));
  }
  // The four lanes of a quad hold one row's 64 scores between them.
  mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 1));
  mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 2));
  mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 1));
  mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 2));
  const float new_lo = fmaxf(r.m_lo, mx_lo * scale);
  const float new_hi = fmaxf(r.m_hi, mx_hi * scale);
  // While a row has seen only masked keys its max is -inf; subtracting 0 instead keeps
  // exp2(-inf - base) = 0 rather than NaN.
  const float base_lo = new_lo == -INFINITY ? 0.f : new_lo;
  const float base_hi = new_hi == -INFINITY ? 0.f : new_hi;
  const float corr_lo = arch::exp2_approx(r.m_lo - base_lo);
  const float corr_hi = arch::exp2_approx(r.m_hi - base_hi);
  r.m_lo = new_lo;
  r.m_hi = new_hi;

  float sum_lo = 0.f, sum_hi = 0.f;
#pragma unroll
  for (int nt = 0; nt < 8; ++nt) {
    const float p0 = arch::exp2_approx(fmaf(score(nt, 0), scale, -base_lo));
    const float p1 = arch::exp2_approx(fmaf(score(nt, 1), scale, -base_lo));
    const float p2 = arch::exp2_approx(fmaf(score(nt, 2), scale, -base_hi));
    const float p3 = arch::exp2_approx(fmaf(score(nt, 3), scale, -base_hi));
    sum_lo += p0 + p1;
    sum_hi += p2 + p3;
    pa[nt / 2][(nt % 2) * 2] = Half2<T>::pack(p0, p1);
    pa[nt / 2][(nt % 2) * 2 + 1] = Half2<T>::pack(p2, p3);
  }
  r.l_lo = r.l_lo * corr_lo + sum_lo;
  r.l_hi = r.l_hi * corr_hi + sum_hi;
  return make_float2(corr_lo, corr_hi);
}

// Three 128-query CTAs per SM (12 warps): at two (the 250 registers ptxas takes unbounded) an
// SM's 8 warps left the softmax's MUFU chains and the mma chains of the other warps too little to
// overlap. The 168-register bound costs a few spilled words (40 bytes at D = 64, 12 at D = 32)
// and re-reading the Q fragments from shared memory at every key tile (8 ldmatrix against 32 for
// K and V); measured 3-10% faster than the two-CTA form on an H100 (bench/NOTES.md, session 9).
template <class T, int D, int kWarps>
__global__ void __launch_bounds__(32 * kWarps, 12 / kWarps) fused_attention_kernel(
    const AttnParams p) {
  static_assert(D % 32 == 0, "head_dim must be a multiple of 32 (two k-steps per ldmatrix.x4)");
  arch::grid_dependency_wait();
  constexpr int kThreads = 32 * kWarps;
  constexpr int kRows = kWarps * kAttnWarpRows;
  constexpr int kStride = attn_stride<T, D>();
  constexpr int kChunksPerRow = D / 8;
  using Row = T[kStride];
  extern __shared__ __align__(16) unsigned char attn_smem[];
  Row* const s_q = reinterpret_cast<Row*>(attn_smem);
  Row* const s_k = s_q + kRows;           // [2][kAttnKeys]
  Row* const s_v = s_k + 2 * kAttnKeys;   // [2][kAttnKeys]
  float* const s_bias = reinterpret_cast<float*>(s_v + 2 * kAttnKeys);  // [2][kAttnKeys]

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int t = lane % 4;
  const int seq = p.seq;
  const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * kRows;
  const int32_t* mask = p.mask + static_cast<int64_t>(b) * seq;
  const T* qg = static_cast<const T*>(p.q) + static_cast<int64_t>(b) * seq * p.ld_q + h * D;
  const T* kg = static_cast<const T*>(p.k) + static_cast<int64_t>(b) * seq * p.ld_k + h * D;
  const T* vg = static_cast<const T*>(p.v) + static_cast<int64_t>(b) * seq * p.ld_v + h * D;

  const MaskSummary keys = summarize_mask(mask, seq);
  const bool uniform = keys.uniform, no_padding = keys.no_padding;

  // `rows` rows x D columns from global rows row0.. into a padded tile; rows past seq are
  // zero-filled (src-size 0 reads nothing; the base address stands in as a valid source).
  auto load_rows = [&](Row* dst, const T* src, int64_t ld, int row0, auto rows) {
#pragma unroll
    for (int c = tid; c < decltype(rows)::value * kChunksPerRow; c += kThreads) {
      const int r = c / kChunksPerRow, part = c % kChunksPerRow;
      const bool valid = row0 + r < seq;
      const T* from = valid ? src + static_cast<int64_t>(row0 + r) * ld + part * 8 : src;
      arch::cp_async_16(&dst[r][part * 8], from, valid);
    }
  };
  using KeyRows = std::integral_constant<int, kAttnKeys>;
  // Additive score bias per key of a tile: 0 to attend, -inf for padding and keys past seq.
  auto load_bias = [&](int buf, int key0) {
    for (int i = tid; i < kAttnKeys; i += kThreads) {
      const int key = key0 + i;
      const bool attend = key < seq && (uniform || mask[key] != 0);
      s_bias[buf * kAttnKeys + i] = attend ? 0.f : -INFINITY;
    }
  };

  load_rows(s_q, qg, p.ld_q, q0, std::integral_constant<int, kRows>{});
  load_rows(s_k, kg, p.ld_k, 0, KeyRows{});
  load_rows(s_v, vg, p.ld_v, 0, KeyRows{});
  load_bias(0, 0);
  arch::cp_async_commit();

  // Per m16 tile `mi` of the warp: Q fragments, output accumulators, and the online-softmax state
  // of its rows g and g + 8.
  uint32_t qa[kAttnMTiles][D / 16][4];
  float o[kAttnMTiles][D / 8][4];
  SoftmaxRows rows[kAttnMTiles];
#pragma unroll
  for (int mi = 0; mi < kAttnMTiles; ++mi) {
#pragma unroll
    for (int i = 0; i < D / 8; ++i) o[mi][i][0] = o[mi][i][1] = o[mi][i][2] = o[mi][i][3] = 0.f;
  }
  // Scores stay raw (q . k) until the exponent: exp2(s * scale - max * scale) is one FFMA and
  // one MUFU.EX2 per score, and the row max commutes with the positive scale.
  const float scale = p.scale_log2;
  const float keep = uniform ? 0.f : 1.f;  // a uniform row scores every key 0
  const int tiles = (seq + kAttnKeys - 1) / kAttnKeys;

  for (int j = 0; j < tiles; ++j) {
    const int buf = j & 1;
    Row* const k_tile = s_k + buf * kAttnKeys;
    Row* const v_tile = s_v + buf * kAttnKeys;
    const float* const bias_tile = s_bias + buf * kAttnKeys;
    if (j + 1 < tiles) {
      load_rows(s_k + (buf ^ 1) * kAttnKeys, kg, p.ld_k, (j + 1) * kAttnKeys, KeyRows{});
      load_rows(s_v + (buf ^ 1) * kAttnKeys, vg, p.ld_v, (j + 1) * kAttnKeys, KeyRows{});
      load_bias(buf ^ 1, (j + 1) * kAttnKeys);
      arch::cp_async_commit();
      arch::cp_async_wait<1>();
    } else {
      arch::cp_async_wait<0>();
    }
    __syncthreads();
    // Q's fragments, reloaded per tile so that they hold no registers across the softmax.
#pragma unroll
    for (int mi = 0; mi < kAttnMTiles; ++mi)
#pragma unroll
      for (int s = 0; s < D / 16; ++s)
        arch::ldmatrix_x4(qa[mi][s], &s_q[warp * kAttnWarpRows + mi * 16 + (lane % 16)]
                                         [s * 16 + (lane / 16) * 8]);

    // Scores of this warp's 32 rows against the tile's 64 keys: 8 n-tiles of 8 keys, each K
    // fragment used by both m16 tiles.
    float sc[kAttnMTiles][8][4];
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
      for (int mi = 0; mi < kAttnMTiles; ++mi)
        sc[mi][nt][0] = sc[mi][nt][1] = sc[mi][nt][2] = sc[mi][nt][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < D / 32; ++kk) {
        uint32_t kb[4];
        arch::ldmatrix_x4(kb, &k_tile[nt * 8 + (lane % 8)][kk * 32 + (lane / 8) * 8]);
        const uint32_t b0[2] = {kb[0], kb[1]};
        const uint32_t b1[2] = {kb[2], kb[3]};
#pragma unroll
        for (int mi = 0; mi < kAttnMTiles; ++mi) {
          arch::mma_16816<T>(sc[mi][nt], qa[mi][2 * kk], b0);
          arch::mma_16816<T>(sc[mi][nt], qa[mi][2 * kk + 1], b1);
        }
      }
    }

    // Padding, keys past seq and uniform rows: the tile's bias (0 or -inf) on the scores.
    if (!no_padding || (j + 1) * kAttnKeys > seq) {
#pragma unroll
      for (int mi = 0; mi < kAttnMTiles; ++mi)
        apply_key_bias([&](int nt, int c) -> float& { return sc[mi][nt][c]; }, bias_tile, t, keep);
    }

    uint32_t pa[kAttnMTiles][4][4];  // probabilities as A fragments, one per 16 keys
#pragma unroll
    for (int mi = 0; mi < kAttnMTiles; ++mi) {
      const float2 corr = online_softmax_tile<T>(
          [&](int nt, int c) -> float& { return sc[mi][nt][c]; }, scale, rows[mi], pa[mi]);
#pragma unroll
      for (int dt = 0; dt < D / 8; ++dt) {
        o[mi][dt][0] *= corr.x;
        o[mi][dt][1] *= corr.x;
        o[mi][dt][2] *= corr.y;
        o[mi][dt][3] *= corr.y;
      }
    }

#pragma unroll
    for (int ks = 0; ks < 4; ++ks) {
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t vb[4];
        arch::ldmatrix_x4_trans(
            vb, &v_tile[ks * 16 + (lane % 8) + ((lane / 8) % 2) * 8][dp * 16 + (lane / 16) * 8]);
        const uint32_t b0[2] = {vb[0], vb[1]};
        const uint32_t b1[2] = {vb[2], vb[3]};
#pragma unroll
        for (int mi = 0; mi < kAttnMTiles; ++mi) {
          arch::mma_16816<T>(o[mi][2 * dp], pa[mi][ks], b0);
          arch::mma_16816<T>(o[mi][2 * dp + 1], pa[mi][ks], b1);
        }
      }
    }
    __syncthreads();  // the next iteration refills the buffer just read
  }

  T* out = static_cast<T*>(p.out) + static_cast<int64_t>(b) * seq * p.ld_out + h * D;
#pragma unroll
  for (int mi = 0; mi < kAttnMTiles; ++mi) {
    const float2 inv = rows[mi].inverse_sums();
    const float inv_lo = inv.x, inv_hi = inv.y;
    // Rows past seq are not written.
    const int row_lo = q0 + warp * kAttnWarpRows + mi * 16 + lane / 4, row_hi = row_lo + 8;
#pragma unroll
    for (int dt = 0; dt < D / 8; ++dt) {
      const int col = dt * 8 + 2 * t;
      if (row_lo < seq) {
        *reinterpret_cast<uint32_t*>(out + static_cast<int64_t>(row_lo) * p.ld_out + col) =
            Half2<T>::pack(o[mi][dt][0] * inv_lo, o[mi][dt][1] * inv_lo);
      }
      if (row_hi < seq) {
        *reinterpret_cast<uint32_t*>(out + static_cast<int64_t>(row_hi) * p.ld_out + col) =
            Half2<T>::pack(o[mi][dt][2] * inv_hi, o[mi][dt][3] * inv_hi);
      }
    }
  }
}

// Launches one instantiation; the dynamic shared memory above 48 KB is opted into once per
// device.
template <class T, int D, int kWarps>
void launch_attention(const AttnParams& p, dim3 grid, int device, cudaStream_t s) {
  constexpr int kSmem = attn_smem_bytes<T, D, kWarps>();
  auto kernel = fused_attention_kernel<T, D, kWarps>;
  if constexpr (kSmem > 48 * 1024) {
    static std::atomic<uint64_t> attribute_done{0};
    detail::opt_in_dynamic_smem(kernel, kSmem, device, attribute_done);
  }
  detail::launch_kernel(kernel, grid, dim3(32 * kWarps), kSmem, s,
                        detail::programmatic_launch(device), p);
}

// ---- fused attention on Hopper: wgmma (sm_90a, head size 64) ------------------------------------
// The same computation as fused_attention_kernel, with both products on the warpgroup tensor-core
// instructions: one CTA = two warpgroups x 64 queries of one (batch, head). Per 64-key tile a
// warpgroup computes its 64 x 64 scores with four wgmma m64n64k16 reading Q and K from shared
// memory (K-major), runs the online softmax on the score accumulators (the same code as the
// mma.sync kernel: the accumulator fragment has the m16n8 layout per warp), and multiplies the
// probabilities, straight from those registers as the A operand, by V read from shared memory
// as an MN-major B operand (V's rows are keys, the head dimension contiguous). The mma.sync
// kernel reads every K and V fragment through ldmatrix into registers once per 32 query rows;
// here the tensor cores read them from shared memory once per 64 rows, with no register staging.
//
// Tiles arrive by TMA (3-D tensor maps [batch][seq][hidden]: keys past a sequence's end read as
// zeros) into 128-byte rows with the 128-byte swizzle, the layout that both descriptors
// describe, so one copy serves K as a K-major and V as an MN-major operand. A ring of four K / V
// stages on mbarriers: "full" completes when a tile's bytes have landed, "empty" when the eight
// consumer warps have retired their products on it. The two warpgroups never synchronize with
// each other, so one's softmax (MUFU, shuffles) runs while the other's wgmma use the tensor
// cores; thread 0 refills the stage of tile j - 1 at tile j (so that it waits on the other
// warpgroup only if that one is a whole tile behind), keeping up to three tiles in flight.

constexpr int kWgAttnQueries = 128;  // two warpgroups of 64
constexpr int kWgAttnKeys = 64;
constexpr int kWgAttnStages = 4;
constexpr int kWgAttnRowBytes = 128;  // 64 16-bit values of a head
constexpr int kWgAttnTileBytes = kWgAttnKeys * kWgAttnRowBytes;
constexpr int kWgAttnQBytes = kWgAttnQueries * kWgAttnRowBytes;
// Slack to align the base to 1024 bytes (the swizzle pattern repeats every 8 rows of 128 bytes,
// and the descriptors assume such a base), Q, the K and V stages, the barriers (full, empty, Q),
// then the key biases of every key tile (wgmma_attention_smem_bytes).
constexpr int kWgAttnFixedBytes =
    1024 + kWgAttnQBytes + 2 * kWgAttnStages * kWgAttnTileBytes + (2 * kWgAttnStages + 2) * 8;

int wgmma_attention_smem_bytes(int64_t seq) {
  return kWgAttnFixedBytes +
         static_cast<int>((seq + kWgAttnKeys - 1) / kWgAttnKeys * kWgAttnKeys) * int(sizeof(float));
}

struct WgAttnMaps {
  CUtensorMap q, k, v;
};

// Two CTAs per SM (128 registers a thread; 2 x ~84 KB of shared memory at seq 384).
template <class T>
__global__ void __launch_bounds__(2 * 128, 2) fused_attention_wgmma_kernel(
    const __grid_constant__ WgAttnMaps maps, const AttnParams p) {
#if S24_ARCH_SM90A
  constexpr int D = 64;
  constexpr int kThreads = 256;
  extern __shared__ __align__(16) unsigned char attn_smem[];
  const uint32_t raw_addr = arch::smem_addr(attn_smem);
  unsigned char* const smem = attn_smem + ((1024 - (raw_addr & 1023)) & 1023);
  unsigned char* const s_q = smem;
  unsigned char* const s_k = s_q + kWgAttnQBytes;                    // [stage] tiles
  unsigned char* const s_v = s_k + kWgAttnStages * kWgAttnTileBytes;  // [stage] tiles
  uint64_t* const full = reinterpret_cast<uint64_t*>(s_v + kWgAttnStages * kWgAttnTileBytes);
  uint64_t* const empty = full + kWgAttnStages;
  uint64_t* const q_full = empty + kWgAttnStages;
  float* const s_bias = reinterpret_cast<float*>(q_full + 2);  // [tiles * 64]

  const int tid = threadIdx.x, wg = tid / 128, warp = (tid / 32) % 4, lane = tid % 32;
  const int t = lane % 4;
  const int seq = p.seq;
  const int tiles = (seq + kWgAttnKeys - 1) / kWgAttnKeys;
  const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * kWgAttnQueries;
  if (tid == 0) {
    arch::prefetch_tensor_map(&maps.q);
    arch::prefetch_tensor_map(&maps.k);
    arch::prefetch_tensor_map(&maps.v);
    for (int s = 0; s < kWgAttnStages; ++s) {
      arch::mbarrier_init(&full[s], 1);  // the issuing thread's arrive_expect_tx
      arch::mbarrier_init(&empty[s], 8);  // one arrival per consumer warp
    }
    arch::mbarrier_init(q_full, 1);
    arch::mbarrier_init_fence();
  }
  // Launched with programmatic stream serialization, this CTA may start before the previous
  // kernel's writes (Q, K, V) are visible: no global access before this.
  arch::grid_dependency_wait();

  // Tile j's keys and values into stage j % kWgAttnStages.
  auto load_tile = [&](int j) {
    const int stage = j % kWgAttnStages;
    arch::mbarrier_arrive_expect_tx(&full[stage], 2 * kWgAttnTileBytes);
    arch::tma_load_3d(s_k + stage * kWgAttnTileBytes, &maps.k, h * D, j * kWgAttnKeys, b,
                      &full[stage]);
    arch::tma_load_3d(s_v + stage * kWgAttnTileBytes, &maps.v, h * D, j * kWgAttnKeys, b,
                      &full[stage]);
  };
  __syncthreads();  // the barriers are initialized
  if (tid == 0) {
    arch::mbarrier_arrive_expect_tx(q_full, kWgAttnQBytes);
    arch::tma_load_3d(s_q, &maps.q, h * D, q0, b, q_full);
    for (int j = 0; j < min(tiles, kWgAttnStages); ++j) load_tile(j);
  }

  // Every key's bias (0 to attend, -inf for padding and keys past seq) while the first tiles
  // load.
  const int32_t* mask = p.mask + static_cast<int64_t>(b) * seq;
  const MaskSummary keys = summarize_mask(mask, seq);
  const bool uniform = keys.uniform, no_padding = keys.no_padding;
  for (int key = tid; key < tiles * kWgAttnKeys; key += kThreads)
    s_bias[key] = key < seq && (uniform || mask[key] != 0) ? 0.f : -INFINITY;
  __syncthreads();

  float o[32];  // this warpgroup's 64 x 64 outputs: o[4 dt + c], wgmma's D fragment
#pragma unroll
  for (int i = 0; i < 32; ++i) o[i] = 0.f;
  SoftmaxRows rows;
  const float scale = p.scale_log2;
  const float keep = uniform ? 0.f : 1.f;
  const uint32_t q_addr = arch::smem_addr(s_q) + wg * 64 * kWgAttnRowBytes;
  const uint32_t k_addr = arch::smem_addr(s_k), v_addr = arch::smem_addr(s_v);
  arch::mbarrier_wait(q_full, 0);

  for (int j = 0; j < tiles; ++j) {
    const int stage = j % kWgAttnStages;
    // Thread 0 refills the stage that tile j - 1 used, once both warpgroups are done with it.
    if (tid == 0 && j >= 1 && j - 1 + kWgAttnStages < tiles) {
      const int prev = j - 1;
      arch::mbarrier_wait(&empty[prev % kWgAttnStages], (prev / kWgAttnStages) & 1);
      load_tile(prev + kWgAttnStages);
    }
    __syncwarp();  // warp 0 reconverges before the warpgroup-wide (.aligned) wgmma
    arch::mbarrier_wait(&full[stage], (j / kWgAttnStages) & 1);

    // Scores: S = Q K^T over the head's 64 dimensions, four k16 steps (+32 bytes in the rows).
    float sc[32];
    const uint32_t k_tile = k_addr + stage * kWgAttnTileBytes;
    arch::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      arch::WgmmaDense64SS<T>::mma(sc, arch::smem_desc_k_major_sw128(q_addr + kk * 32),
                                   arch::smem_desc_k_major_sw128(k_tile + kk * 32), kk);
    }
    arch::wgmma_commit();
    arch::wgmma_wait<0>();

    auto score = [&](int nt, int c) -> float& { return sc[nt * 4 + c]; };
    if (!no_padding || (j + 1) * kWgAttnKeys > seq)
      apply_key_bias(score, s_bias + j * kWgAttnKeys, t, keep);
    uint32_t pa[4][4];
    const float2 corr = online_softmax_tile<T>(score, scale, rows, pa);
#pragma unroll
    for (int dt = 0; dt < D / 8; ++dt) {
      o[dt * 4 + 0] *= corr.x;
      o[dt * 4 + 1] *= corr.x;
      o[dt * 4 + 2] *= corr.y;
      o[dt * 4 + 3] *= corr.y;
    }

    // O += P V: four k16 steps of 16 keys (16 rows of 128 bytes each). The pins keep the
    // rescaling above the fence (registers an in-flight wgmma reads must not be written after
    // it).
    const uint32_t v_tile = v_addr + stage * kWgAttnTileBytes;
#pragma unroll
    for (int i = 0; i < 32; ++i) arch::pin_register(o[i]);
    arch::wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < kWgAttnKeys / 16; ++ks) {
      arch::WgmmaDense64RS<T>::mma(o, pa[ks],
                                   arch::smem_desc_mn_major_sw128(v_tile + ks * 16 * kWgAttnRowBytes));
    }
    arch::wgmma_commit();
    // Retired here, not behind the next tile's score product: a wgmma group left in flight
    // across the loop's back edge makes ptxas serialize every wgmma of the kernel (C7515).
    arch::wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < 32; ++i) arch::pin_register(o[i]);
    __syncwarp();
    if (lane == 0) arch::mbarrier_arrive(&empty[stage]);
  }

  const float2 inv = rows.inverse_sums();
  T* out = static_cast<T*>(p.out) + static_cast<int64_t>(b) * seq * p.ld_out + h * D;
  const int row_lo = q0 + wg * 64 + warp * 16 + lane / 4, row_hi = row_lo + 8;
#pragma unroll
  for (int dt = 0; dt < D / 8; ++dt) {
    const int col = dt * 8 + 2 * t;
    if (row_lo < seq) {
      *reinterpret_cast<uint32_t*>(out + static_cast<int64_t>(row_lo) * p.ld_out + col) =
          Half2<T>::pack(o[dt * 4 + 0] * inv.x, o[dt * 4 + 1] * inv.x);
    }
    if (row_hi < seq) {
      *reinterpret_cast<uint32_t*>(out + static_cast<int64_t>(row_hi) * p.ld_out + col) =
          Half2<T>::pack(o[dt * 4 + 2] * inv.y, o[dt * 4 + 3] * inv.y);
    }
  }
#else
  arch::unsupported_arch("the sm_90a attention (wgmma)");
#endif
}

// A [batch][seq][hidden] view of a [batch * seq, hidden] tensor with row stride ld (elements), in
// boxes of 64 values (one head) x `rows` rows with the 128-byte swizzle. Rows past a sequence's
// end are out of range in the middle dimension and read as zeros.
CUtensorMap make_attention_map(const void* base, int64_t batch, int64_t seq, int64_t hidden,
                               int64_t ld, DType dtype, int rows) {
  CUtensorMap map;
  const cuuint64_t dims[3] = {static_cast<cuuint64_t>(hidden), static_cast<cuuint64_t>(seq),
                              static_cast<cuuint64_t>(batch)};
  const cuuint64_t strides[2] = {static_cast<cuuint64_t>(ld * 2),
                                 static_cast<cuuint64_t>(seq * ld * 2)};
  const cuuint32_t box[3] = {64, static_cast<cuuint32_t>(rows), 1};
  const cuuint32_t element_strides[3] = {1, 1, 1};
  const CUresult r = detail::encode_tiled()(
      &map, dtype == DType::kBF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
      3, const_cast<void*>(base), dims, strides, box, element_strides,
      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  S24_CHECK(r == CUDA_SUCCESS, ErrorCode::kCuda, "cuTensorMapEncodeTiled failed (", int(r),
            ") for an attention operand [", batch, ", ", seq, ", ", hidden, "] with row stride ",
            ld);
  return map;
}

template <class T>
void launch_attention_wgmma(const WgAttnMaps& maps, const AttnParams& p, dim3 grid, int device,
                            cudaStream_t s) {
  auto kernel = fused_attention_wgmma_kernel<T>;
  const int smem = wgmma_attention_smem_bytes(p.seq);
  static std::atomic<uint64_t> attribute_done{0};
  // Opted in once at the largest size the host allows (attention_wgmma_supported).
  detail::opt_in_dynamic_smem(kernel, static_cast<int>(detail::device_info(device).smem_optin_bytes),
                              device, attribute_done);
  detail::launch_kernel(kernel, grid, dim3(256), smem, s, detail::programmatic_launch(device), maps,
                        p);
}

// ---- mean pooling -------------------------------------------------------------------------

constexpr int kPoolThreads = 256;

__device__ float block_sum(float v, float* scratch) {
  v = warp_sum(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < kPoolThreads / 32; ++w) total += scratch[w];
  __syncthreads();
  return total;
}

template <class T>
__global__ void __launch_bounds__(kPoolThreads)
    mean_pool_kernel(const T* __restrict__ hidden, const int32_t* __restrict__ mask,
                     float* __restrict__ out, int seq, int h, int normalize) {
  __shared__ float scratch[kPoolThreads / 32];
  arch::grid_dependency_wait();
  const int b = blockIdx.x;
  const int32_t* m = mask + static_cast<int64_t>(b) * seq;
  int count = 0;
  for (int s = 0; s < seq; ++s) count += m[s] != 0;
  // sentence-transformers clamps the count at 1e-9: a row of padding pools to zeros.
  const float inv = 1.f / fmaxf(static_cast<float>(count), 1e-9f);
  const T* rows = hidden + static_cast<int64_t>(b) * seq * h;
  float* o = out + static_cast<int64_t>(b) * h;
  float ss = 0.f;
  for (int c = threadIdx.x; c < h; c += kPoolThreads) {
    float sum = 0.f;
    for (int s = 0; s < seq; ++s) {
      if (m[s] != 0) sum += static_cast<float>(rows[static_cast<int64_t>(s) * h + c]);
    }
    const float mean = sum * inv;
    o[c] = mean;
    ss += mean * mean;
  }
  if (!normalize) return;
  const float norm = fmaxf(sqrtf(block_sum(ss, scratch)), 1e-12f);
  for (int c = threadIdx.x; c < h; c += kPoolThreads) o[c] /= norm;
}

// ---- argument checks ------------------------------------------------------------------------

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

std::string what_of(const Tensor& t) {
  return t.defined() ? t.describe() : std::string("an undefined tensor");
}

void check_activation_tensor(const Tensor& t, const char* op, const char* what) {
  S24_CHECK(t.defined() && t.device().is_cuda(), ErrorCode::kInvalidArgument, op, ": ", what,
            " must be a CUDA tensor, got ", what_of(t));
  S24_CHECK(t.dtype() == DType::kF16 || t.dtype() == DType::kBF16, ErrorCode::kDTypeMismatch, op,
            ": ", what, " must be F16 or BF16, got ", t.describe());
}

void check_same(const Tensor& a, const Tensor& b, const char* op, const char* what_a,
                const char* what_b) {
  S24_CHECK(a.dtype() == b.dtype(), ErrorCode::kDTypeMismatch, op, ": ", what_a, " is ",
            a.describe(), " but ", what_b, " is ", b.describe(), "; they must share one dtype");
  S24_CHECK(a.device() == b.device(), ErrorCode::kInvalidArgument, op, ": ", what_a, " is on ",
            a.device().str(), " but ", what_b, " on ", b.device().str());
}

void check_contiguous_aligned(const Tensor& t, const char* op, const char* what) {
  S24_CHECK(t.is_contiguous(), ErrorCode::kInvalidArgument, op, ": ", what, " ", t.describe(),
            " must be contiguous");
  S24_CHECK(aligned16(t.raw_data()), ErrorCode::kAlignment, op, ": ", what,
            " must be 16-byte aligned");
}

void check_i32_2d(const Tensor& t, const Device& device, int64_t batch, int64_t seq,
                  const char* op, const char* what) {
  S24_CHECK(t.defined() && t.dtype() == DType::kI32 && t.device() == device && t.dim() == 2 &&
                t.is_contiguous(),
            ErrorCode::kInvalidArgument, op, ": ", what, " must be a contiguous I32 tensor on ",
            device.str(), ", got ", what_of(t));
  S24_CHECK(t.size(0) == batch && t.size(1) == seq, ErrorCode::kShapeMismatch, op, ": ", what,
            " is ", t.describe(), ", expected [", batch, ", ", seq, "]");
}

void check_norm_params(const Tensor& gamma, const Tensor& beta, const Device& device,
                       int64_t hidden, const char* op) {
  for (const auto& [t, name] : {std::pair{&gamma, "gamma"}, {&beta, "beta"}}) {
    S24_CHECK(t->defined() && t->dtype() == DType::kF32 && t->device() == device &&
                  t->dim() == 1 && t->size(0) == hidden && t->is_contiguous() &&
                  aligned16(t->raw_data()),
              ErrorCode::kInvalidArgument, op, ": ", name,
              " must be a contiguous, 16-byte aligned F32 [", hidden, "] tensor on ",
              device.str(), ", got ", what_of(*t));
  }
}

int checked_hidden_bucket(int64_t hidden, const char* op) {
  S24_CHECK(hidden > 0 && hidden % 8 == 0, ErrorCode::kAlignment, op, ": hidden size ", hidden,
            " must be a positive multiple of 8 (16-byte rows)");
  S24_CHECK(hidden <= kMaxHidden, ErrorCode::kUnsupported, op, ": hidden size ", hidden,
            " exceeds the ", kMaxHidden, " the row kernels hold in registers");
  return chunk_bucket(hidden);
}

unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>((rows + kRowWarps - 1) / kRowWarps);
}

template <class Fn>
void dispatch_dtype(DType dtype, Fn&& fn) {
  if (dtype == DType::kF16) return fn(__half{});
  S24_CHECK(dtype == DType::kBF16, ErrorCode::kDTypeMismatch, "BERT CUDA kernels take F16 or BF16");
  fn(__nv_bfloat16{});
}

}  // namespace

void embeddings_layer_norm(const Tensor& ids, const Tensor& types, const Tensor& word,
                           const Tensor& position, const Tensor& token_type, const Tensor& gamma,
                           const Tensor& beta, float eps, Tensor& out, Stream stream) {
  const char* op = "embeddings_layer_norm";
  check_activation_tensor(word, op, "word table");
  check_activation_tensor(out, op, "out");
  check_same(position, word, op, "position table", "word table");
  check_same(token_type, word, op, "token type table", "word table");
  check_same(out, word, op, "out", "word table");
  S24_CHECK(ids.defined() && ids.dim() == 2, ErrorCode::kShapeMismatch, op,
            ": ids must be [batch, seq], got ", what_of(ids));
  const int64_t batch = ids.size(0), seq = ids.size(1), tokens = batch * seq;
  check_i32_2d(ids, word.device(), batch, seq, op, "ids");
  check_i32_2d(types, word.device(), batch, seq, op, "token types");
  S24_CHECK(word.dim() == 2 && position.dim() == 2 && token_type.dim() == 2,
            ErrorCode::kShapeMismatch, op, ": tables must be 2-D");
  const int64_t hidden = word.size(1);
  S24_CHECK(position.size(1) == hidden && token_type.size(1) == hidden, ErrorCode::kShapeMismatch,
            op, ": tables ", word.describe(), ", ", position.describe(), ", ",
            token_type.describe(), " differ in width");
  S24_CHECK(seq <= position.size(0), ErrorCode::kInvalidArgument, op, ": sequence length ", seq,
            " exceeds the ", position.size(0), " positions");
  S24_CHECK(out.shape() == Shape({tokens, hidden}), ErrorCode::kShapeMismatch, op, ": out is ",
            out.describe(), ", expected [", tokens, ", ", hidden, "]");
  for (const auto& [t, name] : {std::pair{&word, "word table"},
                                {&position, "position table"},
                                {&token_type, "token type table"},
                                {&out, "out"}}) {
    check_contiguous_aligned(*t, op, name);
  }
  check_norm_params(gamma, beta, word.device(), hidden, op);
  const int bucket = checked_hidden_bucket(hidden, op);
  S24_CHECK(tokens < (int64_t{1} << 31), ErrorCode::kInvalidArgument, op, ": ", tokens,
            " tokens exceed 32-bit indexing");
  if (tokens == 0) return;
  detail::ensure_current_device(word.device());
  auto s = static_cast<cudaStream_t>(stream);
  dispatch_dtype(word.dtype(), [&](auto tag) {
    using T = decltype(tag);
    dispatch_chunks<T>(bucket, [&](auto chunks) {
      detail::launch_kernel(
          embeddings_ln_kernel<T, decltype(chunks)::value>, dim3(row_blocks(tokens)),
          dim3(32 * kRowWarps), 0, s, detail::programmatic_launch(word.device().index),
          ids.data<int32_t>(), types.data<int32_t>(), static_cast<const T*>(word.raw_data()),
          static_cast<const T*>(position.raw_data()), static_cast<const T*>(token_type.raw_data()),
          gamma.data<float>(), beta.data<float>(), static_cast<T*>(out.raw_data()),
          static_cast<int>(tokens), static_cast<int>(seq), static_cast<int>(hidden), eps);
    });
  });
}

void residual_layer_norm(const Tensor& x, const Tensor* residual, const Tensor& gamma,
                         const Tensor& beta, float eps, Tensor& out, Stream stream) {
  const char* op = "residual_layer_norm";
  check_activation_tensor(x, op, "x");
  check_activation_tensor(out, op, "out");
  check_same(out, x, op, "out", "x");
  S24_CHECK(x.dim() == 2, ErrorCode::kShapeMismatch, op, ": x must be [rows, hidden], got ",
            x.describe());
  S24_CHECK(out.shape() == x.shape(), ErrorCode::kShapeMismatch, op, ": out ", out.describe(),
            " differs from x ", x.describe());
  check_contiguous_aligned(x, op, "x");
  check_contiguous_aligned(out, op, "out");
  if (residual != nullptr) {
    check_activation_tensor(*residual, op, "residual");
    check_same(*residual, x, op, "residual", "x");
    S24_CHECK(residual->shape() == x.shape(), ErrorCode::kShapeMismatch, op, ": residual ",
              residual->describe(), " differs from x ", x.describe());
    check_contiguous_aligned(*residual, op, "residual");
  }
  const int64_t rows = x.size(0), hidden = x.size(1);
  check_norm_params(gamma, beta, x.device(), hidden, op);
  const int bucket = checked_hidden_bucket(hidden, op);
  S24_CHECK(rows < (int64_t{1} << 31), ErrorCode::kInvalidArgument, op, ": ", rows,
            " rows exceed 32-bit indexing");
  if (rows == 0) return;
  detail::ensure_current_device(x.device());
  auto s = static_cast<cudaStream_t>(stream);
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    dispatch_chunks<T>(bucket, [&](auto chunks) {
      detail::launch_kernel(
          residual_ln_kernel<T, decltype(chunks)::value>, dim3(row_blocks(rows)),
          dim3(32 * kRowWarps), 0, s, detail::programmatic_launch(x.device().index),
          static_cast<const T*>(x.raw_data()),
          residual ? static_cast<const T*>(residual->raw_data()) : nullptr, gamma.data<float>(),
          beta.data<float>(), static_cast<T*>(out.raw_data()), static_cast<int>(rows),
          static_cast<int>(hidden), eps);
    });
  });
}

bool fused_attention_supports(int64_t head_dim) { return head_dim == 32 || head_dim == 64; }

bool attention_wgmma_supported(const Device& device, int64_t head_dim, int64_t seq) {
  if (!device.is_cuda() || head_dim != 64 || seq < 1) return false;
  const detail::DeviceInfo& info = detail::device_info(device.index);
  return info.cc_major == 9 && info.cc_minor == 0 &&
         static_cast<int64_t>(info.smem_optin_bytes) >=
             kWgAttnFixedBytes + (seq + kWgAttnKeys - 1) / kWgAttnKeys * kWgAttnKeys * 4;
}

void fused_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                     int64_t batch, int64_t seq, int64_t heads, Tensor& ctx, Stream stream,
                     AttentionKernel kernel) {
  const char* op = "fused_attention";
  check_activation_tensor(q, op, "q");
  check_activation_tensor(ctx, op, "ctx");
  check_same(k, q, op, "k", "q");
  check_same(v, q, op, "v", "q");
  check_same(ctx, q, op, "ctx", "q");
  S24_CHECK(batch > 0 && seq > 0 && heads > 0, ErrorCode::kInvalidArgument, op,
            ": batch, seq and heads must be positive, got ", batch, ", ", seq, ", ", heads);
  S24_CHECK(q.dim() == 2, ErrorCode::kShapeMismatch, op, ": q must be 2-D, got ", q.describe());
  const int64_t hidden = q.size(1);
  S24_CHECK(hidden % heads == 0, ErrorCode::kInvalidArgument, op, ": ", heads,
            " heads do not divide the width ", hidden);
  const int64_t head_dim = hidden / heads;
  S24_CHECK(fused_attention_supports(head_dim), ErrorCode::kUnsupported, op, ": head size ",
            head_dim, " is not built (the fused kernel takes 32 and 64)");
  const Shape want = {batch * seq, hidden};
  for (const auto& [t, name] :
       {std::pair{&q, "q"}, {&k, "k"}, {&v, "v"}, {&ctx, "ctx"}}) {
    S24_CHECK(t->shape() == want, ErrorCode::kShapeMismatch, op, ": ", name, " is ",
              t->describe(), ", expected ", shape_str(want));
    S24_CHECK(t->stride(1) == 1 && t->stride(0) >= hidden, ErrorCode::kInvalidArgument, op, ": ",
              name, " needs unit column stride and rows that do not overlap, got strides ",
              shape_str(t->strides()));
    S24_CHECK(t->stride(0) % 8 == 0 && aligned16(t->raw_data()), ErrorCode::kAlignment, op, ": ",
              name, " must start 16-byte aligned with a row stride that is a multiple of 8 "
              "elements, got stride ", t->stride(0));
  }
  check_i32_2d(mask, q.device(), batch, seq, op, "mask");
  S24_CHECK(batch <= 65535 && heads <= 65535, ErrorCode::kInvalidArgument, op,
            ": batch and heads must be at most 65535 (grid limits)");
  S24_CHECK(batch * seq * std::max(q.stride(0), ctx.stride(0)) < (int64_t{1} << 40),
            ErrorCode::kInvalidArgument, op, ": tensors too large");
  AttnParams p{};
  p.q = q.raw_data();
  p.k = k.raw_data();
  p.v = v.raw_data();
  p.out = ctx.raw_data();
  p.mask = mask.data<int32_t>();
  p.ld_q = q.stride(0);
  p.ld_k = k.stride(0);
  p.ld_v = v.stride(0);
  p.ld_out = ctx.stride(0);
  p.seq = static_cast<int>(seq);
  p.scale_log2 = static_cast<float>(1.4426950408889634 / std::sqrt(static_cast<double>(head_dim)));
  detail::require_sm80(q.device());
  detail::ensure_current_device(q.device());
  // 128-query CTAs (4 warps) unless they would not fill the GPU once; then 64-query CTAs (2 warps)
  // give twice the CTAs (MiniLM at batch 1: 12 heads, one 128-token window).
  const int sm_count = detail::device_info(q.device().index).sm_count;
  const int64_t ctas4 = (seq + 4 * kAttnWarpRows - 1) / (4 * kAttnWarpRows) * heads * batch;
  const bool small = ctas4 < sm_count;
  const bool wgmma_runs = attention_wgmma_supported(q.device(), head_dim, seq);
  static const bool mma_only = [] {
    const char* env = std::getenv("S24_ATTENTION");
    return env != nullptr && std::strcmp(env, "mma") == 0;
  }();
  S24_CHECK(kernel != AttentionKernel::kWgmma || wgmma_runs, ErrorCode::kUnsupported, op,
            ": the wgmma attention needs an sm_90 GPU, head size 64 and its shared memory for ",
            seq, " keys, got head size ", head_dim, " on ", q.device().str());
  const bool use_wgmma = kernel == AttentionKernel::kWgmma ||
                         (kernel == AttentionKernel::kAuto && wgmma_runs && !small && !mma_only);
  const int64_t rows = use_wgmma ? kWgAttnQueries : (small ? 2 : 4) * kAttnWarpRows;
  const dim3 grid(static_cast<unsigned>((seq + rows - 1) / rows), static_cast<unsigned>(heads),
                  static_cast<unsigned>(batch));
  auto s = static_cast<cudaStream_t>(stream);
  const int dev = q.device().index;
  dispatch_dtype(q.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (use_wgmma) {
      const WgAttnMaps maps{
          make_attention_map(p.q, batch, seq, hidden, p.ld_q, q.dtype(), kWgAttnQueries),
          make_attention_map(p.k, batch, seq, hidden, p.ld_k, q.dtype(), kWgAttnKeys),
          make_attention_map(p.v, batch, seq, hidden, p.ld_v, q.dtype(), kWgAttnKeys)};
      launch_attention_wgmma<T>(maps, p, grid, dev, s);
    } else if (head_dim == 32) {
      if (small) launch_attention<T, 32, 2>(p, grid, dev, s);
      else launch_attention<T, 32, 4>(p, grid, dev, s);
    } else {
      if (small) launch_attention<T, 64, 2>(p, grid, dev, s);
      else launch_attention<T, 64, 4>(p, grid, dev, s);
    }
  });
}

void mean_pool(const Tensor& hidden, const Tensor& mask, bool normalize, Tensor& out,
               Stream stream) {
  const char* op = "mean_pool (CUDA)";
  check_activation_tensor(hidden, op, "hidden");
  S24_CHECK(hidden.dim() == 3 && hidden.is_contiguous(), ErrorCode::kShapeMismatch, op,
            ": hidden must be contiguous [batch, seq, hidden], got ", hidden.describe());
  const int64_t batch = hidden.size(0), seq = hidden.size(1), h = hidden.size(2);
  check_i32_2d(mask, hidden.device(), batch, seq, op, "mask");
  S24_CHECK(out.defined() && out.dtype() == DType::kF32 && out.device() == hidden.device() &&
                out.is_contiguous() && out.shape() == Shape({batch, h}),
            ErrorCode::kInvalidArgument, op, ": out must be a contiguous F32 [", batch, ", ", h,
            "] tensor on ", hidden.device().str(), ", got ", what_of(out));
  S24_CHECK(batch < (int64_t{1} << 31) && seq * h < (int64_t{1} << 31), ErrorCode::kInvalidArgument,
            op, ": too large");
  if (batch == 0 || h == 0) return;
  detail::ensure_current_device(hidden.device());
  auto s = static_cast<cudaStream_t>(stream);
  dispatch_dtype(hidden.dtype(), [&](auto tag) {
    using T = decltype(tag);
    detail::launch_kernel(mean_pool_kernel<T>, dim3(static_cast<unsigned>(batch)),
                          dim3(kPoolThreads), 0, s,
                          detail::programmatic_launch(hidden.device().index),
                          static_cast<const T*>(hidden.raw_data()), mask.data<int32_t>(),
                          out.data<float>(), static_cast<int>(seq), static_cast<int>(h),
                          normalize ? 1 : 0);
  });
}

}  // namespace s24::model::gpu
