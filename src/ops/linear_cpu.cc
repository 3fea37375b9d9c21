#include "ops/linear_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "ops/activation.h"
#include "ops/spmm_cpu.h"

namespace s24::detail {
namespace cpu {

// ---- scratch ------------------------------------------------------------------------------------

void* scratch(Scratch slot, size_t bytes) {
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  struct Buffer {
    std::unique_ptr<void, Free> data;
    size_t size = 0;
  };
  thread_local Buffer buffers[static_cast<int>(Scratch::kCount)];
  Buffer& b = buffers[static_cast<int>(slot)];
  if (bytes > b.size || !b.data) {
    // Grow by a quarter more than asked so that a slowly growing workload settles quickly.
    const size_t want = std::max<size_t>(64, (bytes + bytes / 4 + 63) / 64 * 64);
    b.data.reset();
    b.size = 0;
    void* p = std::aligned_alloc(64, want);
    S24_CHECK(p != nullptr, ErrorCode::kOutOfMemory, "CPU scratch allocation of ", want,
              " bytes failed");
    b.data.reset(p);
    b.size = want;
  }
  return b.data.get();
}

// ---- output rounding
// ------------------------------------------------------------------------------

void store_from_f32(const float* src, float* dst, int64_t n) {
  if (src != dst) std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(n));
}

void store_from_f32(const float* src, bfloat16* dst, int64_t n) {
  // float_to_bf16 (dtype.cc) without branches, so that the loop vectorizes: round to nearest
  // even on the upper 16 bits; NaN is quieted with its sign and upper payload kept.
  for (int64_t i = 0; i < n; ++i) {
    uint32_t x;
    std::memcpy(&x, src + i, 4);
    const uint32_t rounded = (x + 0x7FFFu + ((x >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = (x >> 16) | 0x40u;
    dst[i].bits = static_cast<uint16_t>((x & 0x7FFFFFFFu) > 0x7F800000u ? quiet_nan : rounded);
  }
}

void store_from_f32(const float* src, float16* dst, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  // The hardware conversion rounds to nearest even like float_to_f16 and overflows to Inf at
  // the same point; only NaN payloads differ, so NaN lanes go through float_to_f16.
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(src + i);
    const __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), h);
    if (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q))
      for (int64_t j = i; j < i + 16; ++j)
        if (std::isnan(src[j])) dst[j].bits = float_to_f16(src[j]);
  }
#elif defined(__AVX__) && defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(src + i);
    const __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
    if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)))
      for (int64_t j = i; j < i + 8; ++j)
        if (std::isnan(src[j])) dst[j].bits = float_to_f16(src[j]);
  }
#endif
  for (; i < n; ++i) dst[i].bits = float_to_f16(src[i]);
}

// ---- epilogue activations -----------------------------------------------------------------------
// Branch-free f32 versions of activation.h that GCC vectorizes over a row. They agree with the
// libm-based reference within a few ulp (tests/cpu/test_ops.cc measures it).
namespace {

// exp(x) by Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, and a degree-7 polynomial for
// e^r (the Cephes coefficients). Below -87 the result stays at e^-87 so that 2^n is a normal
// float (the callers only form 1 + e^x, where that is invisible); above 88 it is +Inf, so that
// x / (1 + e^-x) goes to -0 for very negative x as it should. NaN propagates.
inline float exp_f32(float x_in) {
  float x = x_in < -87.0f ? -87.0f : x_in;
  x = x > 88.0f ? 88.0f : x;
  // Adding 1.5 * 2^23 rounds x log2(e) to an integer held in the low mantissa bits.
  const float shifted = x * 1.44269504088896341f + 12582912.0f;
  const float n = shifted - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // Unsigned arithmetic: for NaN input the bits are garbage (the NaN in p carries the result),
  // and must not be undefined behaviour.
  uint32_t bits;
  std::memcpy(&bits, &shifted, 4);
  const uint32_t scale_bits = (bits - 0x4B400000u + 127u) << 23;
  float scale;
  std::memcpy(&scale, &scale_bits, 4);
  return x_in > 88.0f ? std::numeric_limits<float>::infinity() : p * scale;
}

// x Phi(x) = x erfc(-x / sqrt 2) / 2, erfc through activation.h's erfc_exponent_poly (relative
// accuracy also where 1 + erf(x / sqrt 2) would cancel, at large negative x).
inline float gelu_erf_f32(float x) {
  const float z = std::fabs(x) * 0.70710678118654752f;
  const float t = 1.0f / (1.0f + 0.5f * z);
  const float erfc_z = t * exp_f32(erfc_exponent_poly(t) - z * z);
  const float one_plus_erf = x < 0.0f ? erfc_z : 2.0f - erfc_z;
  return 0.5f * x * one_plus_erf;
}

inline float gelu_tanh_f32(float x) {
  const float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
  return x / (1.0f + exp_f32(-2.0f * u));
}

inline float silu_f32(float x) { return x / (1.0f + exp_f32(-x)); }

// sums += residual, converted exactly to f32 a vector at a time.
template <class T>
void add_residual(float* __restrict__ sums, const T* __restrict__ residual, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) vstore(sums + i, vload(sums + i) + load_f32(residual + i));
  for (; i < n; ++i) sums[i] += to_float(residual[i]);
}

}  // namespace

template <class T>
void finish_row(float* sums, const RowEpilogue<T>& e, int64_t n, T* out) {
  // ((alpha * x_scale[m]) * w_scale[n]) * acc: ops.h's product, left to right.
  if (e.col_scale) {
    const float s = e.scale;
    const float* __restrict__ cs = e.col_scale;
    for (int64_t i = 0; i < n; ++i) sums[i] = s * cs[i] * sums[i];
  } else if (e.scale != 1.0f) {
    const float s = e.scale;
    for (int64_t i = 0; i < n; ++i) sums[i] *= s;
  }
  if (e.bias) {
    const float* __restrict__ bias = e.bias;
    for (int64_t i = 0; i < n; ++i) sums[i] += bias[i];
  }
  switch (e.activation) {
    case Activation::kNone:
      break;
    case Activation::kRelu:
      for (int64_t i = 0; i < n; ++i) sums[i] = relu(sums[i]);
      break;
    case Activation::kGeluErf:
      for (int64_t i = 0; i < n; ++i) sums[i] = gelu_erf_f32(sums[i]);
      break;
    case Activation::kGeluTanh:
      for (int64_t i = 0; i < n; ++i) sums[i] = gelu_tanh_f32(sums[i]);
      break;
    case Activation::kSilu:
      for (int64_t i = 0; i < n; ++i) sums[i] = silu_f32(sums[i]);
      break;
  }
  if (e.residual) add_residual(sums, e.residual, n);
  store_from_f32(sums, out, n);
}
template void finish_row<float>(float*, const RowEpilogue<float>&, int64_t, float*);
template void finish_row<float16>(float*, const RowEpilogue<float16>&, int64_t, float16*);
template void finish_row<bfloat16>(float*, const RowEpilogue<bfloat16>&, int64_t, bfloat16*);

namespace {


// ---- dense: blocked, packed GEMM (the baseline) ------------------------------------------------
// Y[M, N] = X W^T with both operands packed to f32: X in panels of kDenseMR rows ([K][MR]), W^T in
// panels of kDenseNR columns ([K][NR]). The micro-kernel keeps an MR x NR tile of Y in registers
// and per k loads two vectors of W^T and broadcasts MR values of X: MR * 2 FMAs per 2 loads.
// Blocking: a K slab of a W^T panel (kDenseKc * NR floats, 32 KiB) stays in L1 while the X
// panels of one task stream through it from L2.
constexpr int kDenseMR = kAccRegs / 2;
constexpr int64_t kDenseNR = 2 * kLanes;
constexpr int64_t kDenseKc = 256;
constexpr int64_t kDenseRowPanels = 8;  // per task
constexpr int64_t kDenseColPanels = 4;  // per task

template <int MR>
void dense_micro(const float* xp, const float* wp, int64_t kc, float* tile, int64_t ldt,
                 bool accumulate) {
  VecF acc[MR][2];
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    acc[m][0] = accumulate ? vload(tile + m * ldt) : VecF{};
    acc[m][1] = accumulate ? vload(tile + m * ldt + kLanes) : VecF{};
  }
  for (int64_t k = 0; k < kc; ++k) {
    const VecF b0 = vload(wp + k * kDenseNR);
    const VecF b1 = vload(wp + k * kDenseNR + kLanes);
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
      const VecF a = vsplat(xp[k * MR + m]);
      acc[m][0] += a * b0;
      acc[m][1] += a * b1;
    }
  }
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    vstore(tile + m * ldt, acc[m][0]);
    vstore(tile + m * ldt + kLanes, acc[m][1]);
  }
}

template <class T>
void dense_blocked(const T* x, int64_t ldx, const T* w, int64_t ldw,
                   const CallEpilogue<T>& epilogue,
                   T* y, int64_t ldy, int64_t m_rows, int64_t n_cols, int64_t k) {
  const int64_t row_panels = (m_rows + kDenseMR - 1) / kDenseMR;
  const int64_t col_panels = (n_cols + kDenseNR - 1) / kDenseNR;
  float* xp = scratch_of<float>(Scratch::kPackedB, row_panels * k * kDenseMR);
  float* wp = scratch_of<float>(Scratch::kPackedA, col_panels * k * kDenseNR);
  pack_transposed(x, m_rows, k, ldx, kDenseMR, xp);
  pack_transposed(w, n_cols, k, ldw, kDenseNR, wp);

  int64_t rp_task = kDenseRowPanels, cp_task = kDenseColPanels;
  const int64_t want_tasks = int64_t{num_threads()} * 4;
  auto tasks = [&] {
    return ((row_panels + rp_task - 1) / rp_task) * ((col_panels + cp_task - 1) / cp_task);
  };
  while (tasks() < want_tasks && (rp_task > 1 || cp_task > 1)) {
    if (rp_task >= cp_task && rp_task > 1)
      rp_task /= 2;
    else
      cp_task /= 2;
  }
  const int64_t row_chunks = (row_panels + rp_task - 1) / rp_task;
  const int64_t col_chunks = (col_panels + cp_task - 1) / cp_task;
  const int64_t ldt = cp_task * kDenseNR;

  parallel_for(0, row_chunks * col_chunks, 1, [&](int64_t t0, int64_t t1) {
    float* tile = scratch_of<float>(Scratch::kTile, rp_task * kDenseMR * ldt);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t rc = t / col_chunks, cc = t % col_chunks;
      const int64_t q0 = rc * rp_task, q1 = std::min(row_panels, q0 + rp_task);
      const int64_t p0 = cc * cp_task, p1 = std::min(col_panels, p0 + cp_task);
      for (int64_t k0 = 0; k0 < k; k0 += kDenseKc) {
        const int64_t kc = std::min(kDenseKc, k - k0);
        for (int64_t p = p0; p < p1; ++p)
          for (int64_t q = q0; q < q1; ++q)
            dense_micro<kDenseMR>(
                xp + q * k * kDenseMR + k0 * kDenseMR, wp + p * k * kDenseNR + k0 * kDenseNR, kc,
                tile + (q - q0) * kDenseMR * ldt + (p - p0) * kDenseNR, ldt, k0 > 0);
      }
      const int64_t m0 = q0 * kDenseMR, m1 = std::min(m_rows, q1 * kDenseMR);
      const int64_t n0 = p0 * kDenseNR, n1 = std::min(n_cols, p1 * kDenseNR);
      for (int64_t m = m0; m < m1; ++m)
        finish_row(tile + (m - m0) * ldt, epilogue.row(m, n0), n1 - n0, y + m * ldy + n0);
    }
  });
}

// ---- small M: dot products along K ------------------------------------------------------------
// With a few rows of X, packing would cost as much as the product; both kernels read the
// weights once, straight from their storage, and keep X (as f32, [M][K]) in L1/L2.

// Dense: two W rows at a time against MB <= 4 X rows: 2 MB accumulators, 2 + MB loads per 2 MB
// FMAs. MB is a template parameter so that a tail of 1-3 rows (M = 1 above all) does no
// redundant work.
template <int MB, class T>
void dense_pair_rows(const float* x, int64_t ldx, int64_t m0, const T* const wr[2], int64_t k,
                     int64_t rows_out, float* out, int64_t ldo) {
  const int64_t kv = k / kLanes * kLanes;
  const float* xr[MB];
  for (int i = 0; i < MB; ++i) xr[i] = x + (m0 + i) * ldx;
  VecF acc[2][MB] = {};
  for (int64_t kk = 0; kk < kv; kk += kLanes) {
    const VecF w0 = load_f32(wr[0] + kk), w1 = load_f32(wr[1] + kk);
    for (int i = 0; i < MB; ++i) {
      const VecF xv = vload(xr[i] + kk);
      acc[0][i] += w0 * xv;
      acc[1][i] += w1 * xv;
    }
  }
  for (int r = 0; r < rows_out; ++r)
    for (int i = 0; i < MB; ++i) {
      float s = vsum(acc[r][i]);
      for (int64_t kk = kv; kk < k; ++kk) s += to_float(wr[r][kk]) * xr[i][kk];
      out[(m0 + i) * ldo + r] = s;
    }
}

template <class T>
void dense_rows_small_m(const float* x, int64_t ldx, int64_t m_rows, const T* w, int64_t ldw,
                        int64_t k, int64_t n0, int64_t n1, float* out, int64_t ldo) {
  for (int64_t n = n0; n < n1; n += 2) {
    // An odd last row is paired with itself; only its first copy is stored.
    const T* wr[2] = {w + n * ldw, w + std::min(n + 1, n1 - 1) * ldw};
    const int64_t rows_out = std::min<int64_t>(2, n1 - n);
    int64_t m0 = 0;
    for (; m0 + 4 <= m_rows; m0 += 4) dense_pair_rows<4>(x, ldx, m0, wr, k, rows_out, out + n, ldo);
    switch (m_rows - m0) {
      case 3:
        dense_pair_rows<3>(x, ldx, m0, wr, k, rows_out, out + n, ldo);
        break;
      case 2:
        dense_pair_rows<2>(x, ldx, m0, wr, k, rows_out, out + n, ldo);
        break;
      case 1:
        dense_pair_rows<1>(x, ldx, m0, wr, k, rows_out, out + n, ldo);
        break;
      default:
        break;
    }
  }
}

// Sparse, scalar: the portable fallback for small M.
template <class T>
void sparse_rows_scalar(const float* x, int64_t ldx, int64_t m_rows, const T* values,
                        const uint8_t* meta, int64_t k, int64_t n0, int64_t n1, float* out,
                        int64_t ldo) {
  const int64_t half = k / 2, mcols = meta_cols(k);
  for (int64_t n = n0; n < n1; ++n) {
    const T* v = values + n * half;
    const uint8_t* m = meta + n * mcols;
    for (int64_t i = 0; i < m_rows; ++i) {
      const float* xr = x + i * ldx;
      float s = 0.0f;
      for (int64_t j = 0; j < half; ++j)
        s += to_float(v[j]) * xr[4 * (j >> 1) + ((m[j >> 2] >> ((j & 3) * 2)) & 3)];
      out[i * ldo + n] = s;
    }
  }
}

#if defined(__AVX512F__)
// Sparse, AVX-512: 32 columns of X (8 groups) fill two registers; 16 kept weights of a W row
// cover the same 8 groups, and their 2-bit indices, read straight from 4 metadata bytes, pick
// their X partners with one two-table permute. One permute + one FMA per 16 multiply-adds, no
// gathers, and the weights are read once in their compressed form.
template <int MB, class T>
void sparse_pair_rows(const float* x, int64_t ldx, int64_t m0, const T* values, const uint8_t* meta,
                      int64_t k, const int64_t rows[2], int64_t rows_out, float* out, int64_t ldo) {
  const int64_t half = k / 2, mcols = meta_cols(k), chunks = k / 32;
  // Lane l takes metadata bits 2l..2l+1 (group l/2's first or second index) and offsets it by
  // the group's base column 4 (l/2).
  const __m512i shifts =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i bases = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
  const __m512i three = _mm512_set1_epi32(3);
  const float* xr[MB];
  for (int i = 0; i < MB; ++i) xr[i] = x + (m0 + i) * ldx;
  __m512 acc[2][MB];
  for (int r = 0; r < 2; ++r)
    for (int i = 0; i < MB; ++i) acc[r][i] = _mm512_setzero_ps();
  for (int64_t c = 0; c < chunks; ++c) {
    __m512i idx[2];
    __m512 wv[2];
    for (int r = 0; r < 2; ++r) {
      uint32_t word;
      std::memcpy(&word, meta + rows[r] * mcols + 4 * c, 4);
      idx[r] = _mm512_add_epi32(
          _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(static_cast<int>(word)), shifts),
                           three),
          bases);
      wv[r] = reinterpret_cast<__m512>(load_f32(values + rows[r] * half + 16 * c));
    }
    for (int i = 0; i < MB; ++i) {
      const __m512 lo = _mm512_loadu_ps(xr[i] + 32 * c);
      const __m512 hi = _mm512_loadu_ps(xr[i] + 32 * c + 16);
      for (int r = 0; r < 2; ++r)
        acc[r][i] = _mm512_fmadd_ps(wv[r], _mm512_permutex2var_ps(lo, idx[r], hi), acc[r][i]);
    }
  }
  for (int r = 0; r < rows_out; ++r) {
    const T* v = values + rows[r] * half;
    const uint8_t* m = meta + rows[r] * mcols;
    for (int i = 0; i < MB; ++i) {
      float s = _mm512_reduce_add_ps(acc[r][i]);
      for (int64_t j = chunks * 16; j < half; ++j)
        s += to_float(v[j]) * xr[i][4 * (j >> 1) + ((m[j >> 2] >> ((j & 3) * 2)) & 3)];
      out[(m0 + i) * ldo + rows[r]] = s;
    }
  }
}

template <class T>
void sparse_rows_small_m(const float* x, int64_t ldx, int64_t m_rows, const T* values,
                         const uint8_t* meta, int64_t k, int64_t n0, int64_t n1, float* out,
                         int64_t ldo) {
  for (int64_t n = n0; n < n1; n += 2) {
    const int64_t rows[2] = {n, std::min(n + 1, n1 - 1)};
    const int64_t rows_out = std::min<int64_t>(2, n1 - n);
    int64_t m0 = 0;
    for (; m0 + 4 <= m_rows; m0 += 4)
      sparse_pair_rows<4>(x, ldx, m0, values, meta, k, rows, rows_out, out, ldo);
    switch (m_rows - m0) {
      case 3:
        sparse_pair_rows<3>(x, ldx, m0, values, meta, k, rows, rows_out, out, ldo);
        break;
      case 2:
        sparse_pair_rows<2>(x, ldx, m0, values, meta, k, rows, rows_out, out, ldo);
        break;
      case 1:
        sparse_pair_rows<1>(x, ldx, m0, values, meta, k, rows, rows_out, out, ldo);
        break;
      default:
        break;
    }
  }
}
constexpr int64_t kSparseSmallM = 24;  // below it the permute kernel beats the axpy core
#else
template <class T>
void sparse_rows_small_m(const float* x, int64_t ldx, int64_t m_rows, const T* values,
                         const uint8_t* meta, int64_t k, int64_t n0, int64_t n1, float* out,
                         int64_t ldo) {
  sparse_rows_scalar(x, ldx, m_rows, values, meta, k, n0, n1, out, ldo);
}
constexpr int64_t kSparseSmallM = 2;  // the scalar fallback only wins for a single row
#endif
// Below it the dot-product kernel beats packing for the blocked one (measured on Zen 5: 1.1x at
// M = 32, 0.8x at M = 64).
constexpr int64_t kDenseSmallM = 40;

// X as f32 rows: the tensor itself when it is f32, else a converted copy in scratch.
template <class T>
const float* x_as_f32(const T* x, int64_t ldx, int64_t m_rows, int64_t k, int64_t* ld_out) {
  if constexpr (std::is_same_v<T, float>) {
    *ld_out = ldx;
    return x;
  } else {
    float* buf = scratch_of<float>(Scratch::kOperand, std::max<int64_t>(1, m_rows * k));
    for (int64_t m = 0; m < m_rows; ++m) convert_to_f32(x + m * ldx, buf + m * k, k);
    *ld_out = k;
    return buf;
  }
}

template <class T>
const float* bias_as_f32(const Tensor* bias, int64_t n) {
  if (!bias) return nullptr;
  float* b = scratch_of<float>(Scratch::kBias, std::max<int64_t>(1, n));
  convert_to_f32(bias->data<T>(), b, n);
  return b;
}

// Small-M epilogue: the f32 sums [M][N] in scratch, finished row by row in parallel.
template <class T>
void finish_rows(float* sums, int64_t m_rows, int64_t n_cols, const CallEpilogue<T>& epilogue,
                 T* y,
                 int64_t ldy) {
  constexpr int64_t kSeg = 1024;
  const int64_t segs = (n_cols + kSeg - 1) / kSeg;
  parallel_for(0, m_rows * segs, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t m = i / segs, c0 = (i % segs) * kSeg, c1 = std::min(n_cols, c0 + kSeg);
      finish_row(sums + m * n_cols + c0, epilogue.row(m, c0), c1 - c0, y + m * ldy + c0);
    }
  });
}

// K = 0: every sum is an empty one (+0), and the epilogue still applies.
template <class T>
void finish_empty_sums(const CallEpilogue<T>& epilogue, int64_t m_rows, int64_t n_cols, T* y,
                       int64_t ldy) {
  std::vector<float> row(static_cast<size_t>(n_cols));
  for (int64_t m = 0; m < m_rows; ++m) {
    std::fill(row.begin(), row.end(), 0.0f);
    finish_row(row.data(), epilogue.row(m, 0), n_cols, y + m * ldy);
  }
}

template <class T>
CallEpilogue<T> epilogue_of(const LinearOptions& options, const float* bias32) {
  CallEpilogue<T> e;
  e.bias = bias32;
  e.activation = options.activation;
  e.alpha = options.alpha;
  e.x_scale = options.x_scale ? options.x_scale->data<float>() : nullptr;
  e.w_scale = options.w_scale ? options.w_scale->data<float>() : nullptr;
  if (options.residual) {
    e.residual = options.residual->data<T>();
    e.ld_residual = options.residual->stride(0);
  }
  return e;
}

template <class Fn>
void dispatch_cpu_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kF32:
      return fn(float{});
    case DType::kF16:
      return fn(float16{});
    case DType::kBF16:
      return fn(bfloat16{});
    default:
      break;
  }
  S24_THROW(ErrorCode::kInternal, "CPU linear kernel called with ", dtype_name(dtype));
}

}  // namespace
}  // namespace cpu

void linear_cpu(const Tensor& x, const Compressed24& w, const Tensor* bias, Tensor& y,
                const LinearOptions& options) {
  using namespace cpu;
  const int64_t m_rows = x.size(0), k = x.size(1), n_cols = w.rows;
  if (m_rows == 0 || n_cols == 0) return;
  dispatch_cpu_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xd = x.data<T>();
    T* yd = y.data<T>();
    const int64_t ldx = x.stride(0), ldy = y.stride(0);
    const CallEpilogue<T> epilogue = epilogue_of<T>(options, bias_as_f32<T>(bias, n_cols));
    if (k == 0) return finish_empty_sums(epilogue, m_rows, n_cols, yd, ldy);

    if (m_rows < kSparseSmallM) {
      int64_t ldx32 = 0;
      const float* x32 = x_as_f32(xd, ldx, m_rows, k, &ldx32);
      float* sums = scratch_of<float>(Scratch::kRows, m_rows * n_cols);
      const T* values = w.values.data<T>();
      const uint8_t* meta = w.meta.data<uint8_t>();
      parallel_for(0, (n_cols + 1) / 2, std::max<int64_t>(1, 8192 / k),
                   [&](int64_t p0, int64_t p1) {
                     sparse_rows_small_m(x32, ldx32, m_rows, values, meta, k, 2 * p0,
                                         std::min(n_cols, 2 * p1), sums, n_cols);
                   });
      finish_rows(sums, m_rows, n_cols, epilogue, yd, ldy);
      return;
    }

    // Y^T = W X^T on the sparse core; each tile comes back transposed, one Y row segment at a
    // time.
    const Panels b = pack_panels_transposed(xd, m_rows, k, ldx);
    const SparsePanels a = pack_sparse_panels(w, b.block);
    sparse_times_panels(
        a, b, [&](int64_t r0, int64_t nr, int64_t c0, int64_t nc, const float* tile, int64_t ld) {
          float* row = scratch_of<float>(Scratch::kRows, nr);
          for (int64_t c = 0; c < nc; ++c) {
            for (int64_t r = 0; r < nr; ++r) row[r] = tile[r * ld + c];
            finish_row(row, epilogue.row(c0 + c, r0), nr, yd + (c0 + c) * ldy + r0);
          }
        });
  });
}

void linear_dense_cpu(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                      const LinearOptions& options) {
  using namespace cpu;
  const int64_t m_rows = x.size(0), k = x.size(1), n_cols = w.size(0);
  if (m_rows == 0 || n_cols == 0) return;
  dispatch_cpu_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xd = x.data<T>();
    const T* wd = w.data<T>();
    T* yd = y.data<T>();
    const int64_t ldx = x.stride(0), ldw = w.stride(0), ldy = y.stride(0);
    const CallEpilogue<T> epilogue = epilogue_of<T>(options, bias_as_f32<T>(bias, n_cols));
    if (k == 0) return finish_empty_sums(epilogue, m_rows, n_cols, yd, ldy);

    if (m_rows < kDenseSmallM) {
      int64_t ldx32 = 0;
      const float* x32 = x_as_f32(xd, ldx, m_rows, k, &ldx32);
      float* sums = scratch_of<float>(Scratch::kRows, m_rows * n_cols);
      parallel_for(0, (n_cols + 1) / 2, std::max<int64_t>(1, 4096 / k),
                   [&](int64_t p0, int64_t p1) {
                     dense_rows_small_m(x32, ldx32, m_rows, wd, ldw, k, 2 * p0,
                                        std::min(n_cols, 2 * p1), sums, n_cols);
                   });
      finish_rows(sums, m_rows, n_cols, epilogue, yd, ldy);
      return;
    }
    dense_blocked(xd, ldx, wd, ldw, epilogue, yd, ldy, m_rows, n_cols, k);
  });
}

}  // namespace s24::detail
