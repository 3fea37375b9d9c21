// CUDA kernels of the BERT runtime (bert_cuda.h): embeddings + LayerNorm, residual + LayerNorm,
// the fused attention, mean pooling. The CPU references are in bert_cpu.cc / bert_layers.cc /
// bert_model.cc; tests/gpu/test_bert_gpu.cu compares each kernel with them.
#include "model/bert_cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/check.h"
#include "cuda/arch/cp_async.cuh"
#include "cuda/arch/ldmatrix.cuh"
#include "cuda/arch/mma.cuh"
#include "cuda/check_cuda.h"
#include "cuda/device_info.h"

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
// One CTA = 64 queries of one (batch, head); 4 warps x 16 query rows. Keys and values stream
// through shared memory in tiles of 64 (cp.async, double-buffered). Per tile a warp computes its
// 16 x 64 scores with mma.sync m16n8k16 (f32 accumulators), applies the scale and the padding
// mask, updates the running row max / sum (online softmax in base 2, the scale folded into
// log2(e) / sqrt(d)), rescales its output accumulators, and multiplies the probabilities (rounded
// to the activation dtype, straight from the score registers) by V. The [seq, seq] matrix never
// reaches memory.

constexpr int kAttnRows = 64;
constexpr int kAttnKeys = 64;
constexpr int kAttnThreads = 128;

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

template <class T, int D>
__global__ void __launch_bounds__(kAttnThreads) fused_attention_kernel(const AttnParams p) {
  static_assert(D % 32 == 0, "head_dim must be a multiple of 32 (two k-steps per ldmatrix.x4)");
  // Rows padded by 16 bytes: the 8 row addresses of one ldmatrix then fall in 8 different bank
  // groups (a row of 2*D bytes alone would put them all in one).
  constexpr int kStride = D + 8;
  constexpr int kChunksPerRow = D / 8;
  __shared__ __align__(16) T s_q[kAttnRows][kStride];
  __shared__ __align__(16) T s_k[2][kAttnKeys][kStride];
  __shared__ __align__(16) T s_v[2][kAttnKeys][kStride];
  __shared__ float s_bias[2][kAttnKeys];

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int t = lane % 4;
  const int seq = p.seq;
  const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * kAttnRows;
  const int32_t* mask = p.mask + static_cast<int64_t>(b) * seq;
  const T* qg = static_cast<const T*>(p.q) + static_cast<int64_t>(b) * seq * p.ld_q + h * D;
  const T* kg = static_cast<const T*>(p.k) + static_cast<int64_t>(b) * seq * p.ld_k + h * D;
  const T* vg = static_cast<const T*>(p.v) + static_cast<int64_t>(b) * seq * p.ld_v + h * D;

  // A batch row without any key to attend to: every key counts, with equal scores.
  int any = 0;
  for (int j = tid; j < seq; j += kAttnThreads) any |= mask[j] != 0;
  const bool uniform = __syncthreads_or(any) == 0;

  // 64 rows x D columns from global rows row0.. into a padded tile; rows past seq are zero-filled
  // (src-size 0 reads nothing; the base address stands in as a valid source).
  auto load_rows = [&](T (*dst)[kStride], const T* src, int64_t ld, int row0) {
#pragma unroll
    for (int c = tid; c < 64 * kChunksPerRow; c += kAttnThreads) {
      const int r = c / kChunksPerRow, part = c % kChunksPerRow;
      const bool valid = row0 + r < seq;
      const T* from = valid ? src + static_cast<int64_t>(row0 + r) * ld + part * 8 : src;
      arch::cp_async_16(&dst[r][part * 8], from, valid);
    }
  };
  // Additive score bias per key of a tile: 0 to attend, -inf for padding and keys past seq.
  auto load_bias = [&](int buf, int key0) {
    if (tid < kAttnKeys) {
      const int key = key0 + tid;
      const bool attend = key < seq && (uniform || mask[key] != 0);
      s_bias[buf][tid] = attend ? 0.f : -INFINITY;
    }
  };

  load_rows(s_q, qg, p.ld_q, q0);
  load_rows(s_k[0], kg, p.ld_k, 0);
  load_rows(s_v[0], vg, p.ld_v, 0);
  load_bias(0, 0);
  arch::cp_async_commit();

  uint32_t qa[D / 16][4];
  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m_lo = -INFINITY, m_hi = -INFINITY;  // running max of rows g and g + 8 (base-2 units)
  float l_lo = 0.f, l_hi = 0.f;              // this lane's share of the running sums
  const float scale = uniform ? 0.f : p.scale_log2;
  const int tiles = (seq + kAttnKeys - 1) / kAttnKeys;

  for (int j = 0; j < tiles; ++j) {
    const int buf = j & 1;
    if (j + 1 < tiles) {
      load_rows(s_k[buf ^ 1], kg, p.ld_k, (j + 1) * kAttnKeys);
      load_rows(s_v[buf ^ 1], vg, p.ld_v, (j + 1) * kAttnKeys);
      load_bias(buf ^ 1, (j + 1) * kAttnKeys);
      arch::cp_async_commit();
      arch::cp_async_wait<1>();
    } else {
      arch::cp_async_wait<0>();
    }
    __syncthreads();
    if (j == 0) {
#pragma unroll
      for (int s = 0; s < D / 16; ++s)
        arch::ldmatrix_x4(qa[s], &s_q[warp * 16 + (lane % 16)][s * 16 + (lane / 16) * 8]);
    }

    // Scores of this warp's 16 rows against the tile's 64 keys: 8 n-tiles of 8 keys.
    float sc[8][4];
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
      sc[nt][0] = sc[nt][1] = sc[nt][2] = sc[nt][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < D / 32; ++kk) {
        uint32_t kb[4];
        arch::ldmatrix_x4(kb, &s_k[buf][nt * 8 + (lane % 8)][kk * 32 + (lane / 8) * 8]);
        const uint32_t b0[2] = {kb[0], kb[1]};
        const uint32_t b1[2] = {kb[2], kb[3]};
        arch::mma_16816<T>(sc[nt], qa[2 * kk], b0);
        arch::mma_16816<T>(sc[nt], qa[2 * kk + 1], b1);
      }
    }

    float mx_lo = -INFINITY, mx_hi = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const float bias = s_bias[buf][nt * 8 + 2 * t + e];
        sc[nt][e] = sc[nt][e] * scale + bias;
        sc[nt][2 + e] = sc[nt][2 + e] * scale + bias;
        mx_lo = fmaxf(mx_lo, sc[nt][e]);
        mx_hi = fmaxf(mx_hi, sc[nt][2 + e]);
      }
    }
    // The four lanes of a quad hold one row's 64 scores between them.
    mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 1));
    mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 2));
    mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 1));
    mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 2));
    const float new_lo = fmaxf(m_lo, mx_lo), new_hi = fmaxf(m_hi, mx_hi);
    // While a row has seen only masked keys its max is -inf; subtracting 0 instead keeps
    // exp2(-inf - base) = 0 rather than NaN.
    const float base_lo = new_lo == -INFINITY ? 0.f : new_lo;
    const float base_hi = new_hi == -INFINITY ? 0.f : new_hi;
    const float corr_lo = exp2f(m_lo - base_lo), corr_hi = exp2f(m_hi - base_hi);
    m_lo = new_lo;
    m_hi = new_hi;

    uint32_t pa[4][4];  // probabilities as A fragments, one per 16 keys
    float sum_lo = 0.f, sum_hi = 0.f;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
      const float p0 = exp2f(sc[nt][0] - base_lo), p1 = exp2f(sc[nt][1] - base_lo);
      const float p2 = exp2f(sc[nt][2] - base_hi), p3 = exp2f(sc[nt][3] - base_hi);
      sum_lo += p0 + p1;
      sum_hi += p2 + p3;
      pa[nt / 2][(nt % 2) * 2] = Half2<T>::pack(p0, p1);
      pa[nt / 2][(nt % 2) * 2 + 1] = Half2<T>::pack(p2, p3);
    }
    l_lo = l_lo * corr_lo + sum_lo;
    l_hi = l_hi * corr_hi + sum_hi;
#pragma unroll
    for (int dt = 0; dt < D / 8; ++dt) {
      o[dt][0] *= corr_lo;
      o[dt][1] *= corr_lo;
      o[dt][2] *= corr_hi;
      o[dt][3] *= corr_hi;
    }

#pragma unroll
    for (int ks = 0; ks < 4; ++ks) {
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t vb[4];
        arch::ldmatrix_x4_trans(
            vb, &s_v[buf][ks * 16 + (lane % 8) + ((lane / 8) % 2) * 8][dp * 16 + (lane / 16) * 8]);
        const uint32_t b0[2] = {vb[0], vb[1]};
        const uint32_t b1[2] = {vb[2], vb[3]};
        arch::mma_16816<T>(o[2 * dp], pa[ks], b0);
        arch::mma_16816<T>(o[2 * dp + 1], pa[ks], b1);
      }
    }
    __syncthreads();  // the next iteration refills the buffer just read
  }

  l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 1);
  l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 2);
  l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 1);
  l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 2);
  // Every row attends to at least one key (or to all of them), so l >= 1 after the max's own
  // exp2(0); rows past seq are not written.
  const float inv_lo = 1.f / l_lo, inv_hi = 1.f / l_hi;
  const int row_lo = q0 + warp * 16 + lane / 4, row_hi = row_lo + 8;
  T* out = static_cast<T*>(p.out) + static_cast<int64_t>(b) * seq * p.ld_out + h * D;
#pragma unroll
  for (int dt = 0; dt < D / 8; ++dt) {
    const int col = dt * 8 + 2 * t;
    if (row_lo < seq) {
      *reinterpret_cast<uint32_t*>(out + static_cast<int64_t>(row_lo) * p.ld_out + col) =
          Half2<T>::pack(o[dt][0] * inv_lo, o[dt][1] * inv_lo);
    }
    if (row_hi < seq) {
      *reinterpret_cast<uint32_t*>(out + static_cast<int64_t>(row_hi) * p.ld_out + col) =
          Half2<T>::pack(o[dt][2] * inv_hi, o[dt][3] * inv_hi);
    }
  }
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
      embeddings_ln_kernel<T, decltype(chunks)::value><<<row_blocks(tokens), 32 * kRowWarps, 0, s>>>(
          ids.data<int32_t>(), types.data<int32_t>(), static_cast<const T*>(word.raw_data()),
          static_cast<const T*>(position.raw_data()), static_cast<const T*>(token_type.raw_data()),
          gamma.data<float>(), beta.data<float>(), static_cast<T*>(out.raw_data()),
          static_cast<int>(tokens), static_cast<int>(seq), static_cast<int>(hidden), eps);
      S24_CUDA_CHECK_LAUNCH();
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
      residual_ln_kernel<T, decltype(chunks)::value><<<row_blocks(rows), 32 * kRowWarps, 0, s>>>(
          static_cast<const T*>(x.raw_data()),
          residual ? static_cast<const T*>(residual->raw_data()) : nullptr, gamma.data<float>(),
          beta.data<float>(), static_cast<T*>(out.raw_data()), static_cast<int>(rows),
          static_cast<int>(hidden), eps);
      S24_CUDA_CHECK_LAUNCH();
    });
  });
}

bool fused_attention_supports(int64_t head_dim) { return head_dim == 32 || head_dim == 64; }

void fused_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                     int64_t batch, int64_t seq, int64_t heads, Tensor& ctx, Stream stream) {
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
  const dim3 grid(static_cast<unsigned>((seq + kAttnRows - 1) / kAttnRows),
                  static_cast<unsigned>(heads), static_cast<unsigned>(batch));
  auto s = static_cast<cudaStream_t>(stream);
  dispatch_dtype(q.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (head_dim == 32) {
      fused_attention_kernel<T, 32><<<grid, kAttnThreads, 0, s>>>(p);
    } else {
      fused_attention_kernel<T, 64><<<grid, kAttnThreads, 0, s>>>(p);
    }
    S24_CUDA_CHECK_LAUNCH();
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
    mean_pool_kernel<T><<<static_cast<unsigned>(batch), kPoolThreads, 0, s>>>(
        static_cast<const T*>(hidden.raw_data()), mask.data<int32_t>(), out.data<float>(),
        static_cast<int>(seq), static_cast<int>(h), normalize ? 1 : 0);
    S24_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace s24::model::gpu
