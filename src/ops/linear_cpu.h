// Internal: the CPU backend of the linear ops, and the small SIMD layer its kernels share with
// spmm_cpu.cc.
//
// The kernels are written with GCC/Clang vector extensions, so one source serves AVX-512 (16
// lanes), AVX/AVX2 (8 lanes) and plain SSE or other targets (4 lanes): the compiler lowers each
// vector operation to whatever the -march of the build offers. Two places use intrinsics where
// the vector extensions have no portable spelling: the two-table permute of the small-M sparse
// kernel (AVX-512 only, with a portable fallback) and the f16 <-> f32 conversions (F16C).
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX512F__) || defined(__F16C__)
// GCC 12 flags the _mm*_undefined_* placeholders inside its own intrinsics as "maybe
// uninitialized" wherever they are inlined (a known false positive); the warning is
// attributed to the header's lines, so it is silenced for the header alone.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

#include "sparse24/ops.h"

namespace s24::detail {

// ---- entry points (the dispatcher in linear.cc has checked every argument) --------------------
// x [M, K] and y [M, N] are 2-D with unit column stride and any row stride; w, bias, x and y share
// one dtype among F32, F16, BF16; w's values and metadata are contiguous. Accumulation is in f32;
// the epilogue of ops.h (alpha, x_scale, w_scale, bias, activation, residual) is applied in f32;
// y is rounded once. options.x_scale is F32 [M] and options.w_scale F32 [N], both contiguous;
// options.residual is a 2-D [M, N] view in y's dtype with unit column stride, either disjoint from
// y or the very same rows (the in-place add: each element is read before it is written).
// options.backend and options.stream are ignored.
void linear_cpu(const Tensor& x, const Compressed24& w, const Tensor* bias, Tensor& y,
                const LinearOptions& options);
// The dense baseline with the same contract; w [N, K] with unit column stride.
void linear_dense_cpu(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                      const LinearOptions& options);
// Bias and activation only (the epilogue before LinearOptions grew scales and a residual).
inline void linear_cpu(const Tensor& x, const Compressed24& w, const Tensor* bias, Tensor& y,
                       Activation activation) {
  LinearOptions options;
  options.activation = activation;
  linear_cpu(x, w, bias, y, options);
}
inline void linear_dense_cpu(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                             Activation activation) {
  LinearOptions options;
  options.activation = activation;
  linear_dense_cpu(x, w, bias, y, options);
}

namespace cpu {

// ---- the SIMD layer -----------------------------------------------------------------------------
#if defined(__AVX512F__)
inline constexpr int kLanes = 16;
inline constexpr int kAccRegs = 24;  // accumulators a micro-kernel may keep (32 registers)
#elif defined(__AVX__)
inline constexpr int kLanes = 8;
inline constexpr int kAccRegs = 12;  // 16 registers
#else
inline constexpr int kLanes = 4;
inline constexpr int kAccRegs = 12;
#endif

typedef float VecF __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t VecI __attribute__((vector_size(kLanes * sizeof(int32_t))));
typedef uint32_t VecU __attribute__((vector_size(kLanes * sizeof(uint32_t))));
typedef uint16_t VecU16 __attribute__((vector_size(kLanes * sizeof(uint16_t))));

inline VecF vload(const float* p) {
  VecF v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void vstore(float* p, VecF v) { std::memcpy(p, &v, sizeof v); }
// x - (+0) is x for every x (-0 and NaN included), so this folds to a single broadcast, which
// GCC then merges into FMAs as an embedded {1toN} operand. (A lane-by-lane fill is recognized
// only in simple contexts; inside unrolled kernels GCC 12 turns it into masked inserts.)
inline VecF vsplat(float x) { return x - VecF{}; }
inline float vsum(VecF v) {
  float s = 0.0f;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}

// kLanes consecutive elements as f32 (exact conversions).
inline VecF load_f32(const float* p) { return vload(p); }
inline VecF load_f32(const bfloat16* p) {
  VecU16 h;
  std::memcpy(&h, p, sizeof h);
  return reinterpret_cast<VecF>(__builtin_convertvector(h, VecU) << 16);
}
inline VecF load_f32(const float16* p) {
#if defined(__AVX512F__)
  return reinterpret_cast<VecF>(
      _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
#elif defined(__AVX__) && defined(__F16C__)
  return reinterpret_cast<VecF>(
      _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
#else
  VecF v;
  for (int i = 0; i < kLanes; ++i) v[i] = f16_to_float(p[i].bits);
  return v;
#endif
}

// n elements of `src` converted to f32 (exactly) into dst.
template <class T>
void convert_to_f32(const T* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) vstore(dst + i, load_f32(src + i));
  for (; i < n; ++i) dst[i] = to_float(src[i]);
}

// n f32 values rounded to T (round to nearest even; the rules of dtype.h, bit for bit).
void store_from_f32(const float* src, float* dst, int64_t n);
void store_from_f32(const float* src, float16* dst, int64_t n);
void store_from_f32(const float* src, bfloat16* dst, int64_t n);

// The epilogue of one output row segment (row m, columns n0 ..): the terms of ops.h as they
// apply to it. Absent parts are null (scale 1): the kernels pay for what a call uses.
template <class T>
struct RowEpilogue {
  const float* bias = nullptr;       // bias[n0 ..], f32
  Activation activation = Activation::kNone;
  float scale = 1.0f;                // alpha * x_scale[m]
  const float* col_scale = nullptr;  // w_scale[n0 ..]
  const T* residual = nullptr;       // residual[m, n0 ..]; may be `out` itself
};

// In place on the f32 sums: act(scale * col_scale[i] * sums[i] + bias[i]) + residual[i], then
// rounded once into `out`. The residual is read in full before `out` is written.
template <class T>
void finish_row(float* sums, const RowEpilogue<T>& epilogue, int64_t n, T* out);
// Bias (when not null) and activation only.
template <class T>
void finish_row(float* sums, const float* bias, int64_t n, Activation activation, T* out) {
  RowEpilogue<T> e;
  e.bias = bias;
  e.activation = activation;
  finish_row(sums, e, n, out);
}

// The epilogue of a whole call: the f32 bias and the options' operands as raw pointers, cut into
// one RowEpilogue per output row segment.
template <class T>
struct CallEpilogue {
  const float* bias = nullptr;  // [N]
  Activation activation = Activation::kNone;
  float alpha = 1.0f;
  const float* x_scale = nullptr;  // [M]
  const float* w_scale = nullptr;  // [N]
  const T* residual = nullptr;     // [M, N], rows ld_residual apart
  int64_t ld_residual = 0;

  RowEpilogue<T> row(int64_t m, int64_t n0) const {
    RowEpilogue<T> r;
    r.bias = bias ? bias + n0 : nullptr;
    r.activation = activation;
    r.scale = x_scale ? alpha * x_scale[m] : alpha;
    r.col_scale = w_scale ? w_scale + n0 : nullptr;
    r.residual = residual ? residual + m * ld_residual + n0 : nullptr;
    return r;
  }
};

// Per-thread scratch memory, grow-only and 64-byte aligned, reused across calls. Each slot is an
// independent buffer, so that one call can hold several at once.
enum class Scratch { kPackedA, kPackedB, kOperand, kBias, kTile, kRows, kCount };
void* scratch(Scratch slot, size_t bytes);
template <class T>
T* scratch_of(Scratch slot, int64_t count) {
  return static_cast<T*>(scratch(slot, static_cast<size_t>(count) * sizeof(T)));
}

}  // namespace cpu
}  // namespace s24::detail
