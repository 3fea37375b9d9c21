// Internal: the per-group (and per 4x4 block) arithmetic of every pruning algorithm, written once
// for the CPU loops (*_cpu.cc) and the CUDA kernels (*_cuda.cu). docs/FORMAT.md, "Pruning
// semantics", specifies each step; this file is that specification in code.
//
// Bit-identical results on both devices rest on three rules kept here:
//  * every float operation is one IEEE f32 operation, rounded to nearest even, in a fixed order:
//    products go through mul_rn(), whose result the host compiler cannot fuse into a following
//    add (g++ contracts a*b+c into an FMA by default in C++ mode when the target has FMA, which
//    -march=native gives), and device code uses the __f*_rn intrinsics, which nvcc never fuses;
//  * storage values are decoded to f32 exactly, and f32 results are rounded to f16/bf16 once,
//    round to nearest even;
//  * comparisons of magnitudes use integer keys taken from the bits (see magnitude_key).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include "prune/philox.h"
#include "sparse24/dtype.h"

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

namespace s24::detail {

// ---- f32 arithmetic with a fixed rounding per operation ------------------------------------

S24_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
S24_HD float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
S24_HD float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
S24_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  float product = a * b;
  // An empty asm that "may change" the product hides it from the optimiser, so it stays a
  // rounded f32 and can never become the inner product of a fused multiply-add.
#if defined(__x86_64__) || defined(__i386__)
  asm("" : "+x"(product));
#elif defined(__aarch64__)
  asm("" : "+w"(product));
#else
  volatile float hidden = product;
  product = hidden;
#endif
  return product;
#endif
}

S24_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}
S24_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}
S24_HD float abs_f32(float f) { return bits_float(float_bits(f) & 0x7FFFFFFFu); }
S24_HD float copysign_f32(float magnitude, float sign_of) {
  return bits_float((float_bits(magnitude) & 0x7FFFFFFFu) | (float_bits(sign_of) & 0x80000000u));
}
S24_HD bool is_finite_f32(float f) { return (float_bits(f) & 0x7F800000u) != 0x7F800000u; }

// ---- storage types: exact decode, magnitude keys, rounding encode ------------------------------

// Exact decode of an 8-bit float with `kMant` mantissa bits and exponent bias `kBias` (sign bit
// ignored by the callers that pass a magnitude). The NaN/Inf encodings never reach this function
// (callers reject them first), so only normal and subnormal numbers are handled.
template <int kMant, int kBias>
S24_HD float decode_fp8_magnitude(uint32_t magnitude_bits) {
  const uint32_t exponent = magnitude_bits >> kMant;
  const uint32_t mantissa = magnitude_bits & ((1u << kMant) - 1);
  if (exponent == 0)  // subnormal: mantissa * 2^(1 - bias - mant), an exact power-of-two scaling
    return static_cast<float>(mantissa) *
           bits_float(static_cast<uint32_t>(127 + 1 - kBias - kMant) << 23);
  return bits_float(((exponent - kBias + 127) << 23) | (mantissa << (23 - kMant)));
}

// Element traits: magnitude key (the bits without the sign for the sign-magnitude float formats,
// |v| for int8), whose unsigned order is the order of |v| (-0.0 == +0.0, Inf above every finite
// value); the key at and above which a value is NaN (kNanKey) or non-finite (kInfKey).
template <class T>
struct Elem;

template <>
struct Elem<float> {
  static constexpr uint32_t kInfKey = 0x7F800000u, kNanKey = 0x7F800001u;
  S24_HD static uint32_t key(float v) { return float_bits(v) & 0x7FFFFFFFu; }
  S24_HD static float decode(float v) { return v; }
  S24_HD static float encode(float v) { return v; }
  S24_HD static float zero() { return 0.0f; }
};
template <>
struct Elem<float16> {
  static constexpr uint32_t kInfKey = 0x7C00u, kNanKey = 0x7C01u;
  S24_HD static uint32_t key(float16 v) { return v.bits & 0x7FFFu; }
  S24_HD static float decode(float16 v) {
#if defined(__CUDA_ARCH__)
    return __half2float(__ushort_as_half(v.bits));
#else
    return f16_to_float(v.bits);
#endif
  }
  S24_HD static float16 encode(float v) {
#if defined(__CUDA_ARCH__)
    return float16{__half_as_ushort(__float2half_rn(v))};
#else
    return float16{float_to_f16(v)};
#endif
  }
  S24_HD static float16 zero() { return float16{0}; }
};
template <>
struct Elem<bfloat16> {
  static constexpr uint32_t kInfKey = 0x7F80u, kNanKey = 0x7F81u;
  S24_HD static uint32_t key(bfloat16 v) { return v.bits & 0x7FFFu; }
  S24_HD static float decode(bfloat16 v) { return bits_float(static_cast<uint32_t>(v.bits) << 16); }
  S24_HD static bfloat16 encode(float v) {
#if defined(__CUDA_ARCH__)
    return bfloat16{__bfloat16_as_ushort(__float2bfloat16_rn(v))};
#else
    return bfloat16{float_to_bf16(v)};
#endif
  }
  S24_HD static bfloat16 zero() { return bfloat16{0}; }
};
template <>
struct Elem<float8_e4m3> {
  // The "fn" variant: no Inf; S.1111.111 is NaN.
  static constexpr uint32_t kInfKey = 0x7Fu, kNanKey = 0x7Fu;
  S24_HD static uint32_t key(float8_e4m3 v) { return v.bits & 0x7Fu; }
  S24_HD static float decode(float8_e4m3 v) {
    const float m = decode_fp8_magnitude<3, 7>(v.bits & 0x7Fu);
    return (v.bits & 0x80u) ? -m : m;
  }
  S24_HD static float8_e4m3 zero() { return float8_e4m3{0}; }
};
template <>
struct Elem<float8_e5m2> {
  static constexpr uint32_t kInfKey = 0x7Cu, kNanKey = 0x7Du;
  S24_HD static uint32_t key(float8_e5m2 v) { return v.bits & 0x7Fu; }
  S24_HD static float decode(float8_e5m2 v) {
    const float m = decode_fp8_magnitude<2, 15>(v.bits & 0x7Fu);
    return (v.bits & 0x80u) ? -m : m;
  }
  S24_HD static float8_e5m2 zero() { return float8_e5m2{0}; }
};
template <>
struct Elem<int8_t> {
  static constexpr uint32_t kInfKey = 0x100u, kNanKey = 0x100u;  // unreachable: no NaN or Inf
  S24_HD static uint32_t key(int8_t v) {
    return static_cast<uint32_t>(v < 0 ? -static_cast<int32_t>(v) : static_cast<int32_t>(v));
  }
  S24_HD static float decode(int8_t v) { return static_cast<float>(v); }
  S24_HD static int8_t zero() { return 0; }
};

// ---- faults ----------------------------------------------------------------------------------

// A fault found by a CPU loop or a CUDA kernel, packed so that the smallest packed value is the
// first fault in row-major element order: element index << 16 | detail byte << 8 | kind. Both
// devices keep the minimum (an atomic min on the GPU), so the error names the same position.
enum PruneFault : uint32_t {
  kFaultNaN = 1,          // NaN where the algorithm orders or divides values
  kFaultInf = 2,          // +-Inf where the algorithm needs finite values
  kFaultSumOverflow = 3,  // MVUE24: sum of |x| + eps of the group starting here overflows f32
  kFaultMaskValue = 4,    // a mask byte (the detail byte) other than 0 or 1
  kFaultMaskCount = 5,    // a mask group (starting here) with more than two ones (detail: count)
};
constexpr uint64_t kNoFault = ~uint64_t{0};
S24_HD uint64_t pack_fault(int64_t element, uint32_t detail, uint32_t kind) {
  return (static_cast<uint64_t>(element) << 16) | ((detail & 0xFFu) << 8) | kind;
}

// ---- group helpers ---------------------------------------------------------------------------

// The compress rule for one group (format.h): its nonzero positions, completed with its
// lowest-index zero positions, as a nibble. Index = the 4-bit nonzero set (at most two bits set);
// 0 marks the sets with more than two bits, which a pruned group never has.
constexpr uint64_t kNibbleOfNonzeros =
    (uint64_t{0x4} << 0) | (uint64_t{0x4} << 4) | (uint64_t{0x4} << 8) | (uint64_t{0x4} << 12) |
    (uint64_t{0x8} << 16) | (uint64_t{0x8} << 20) | (uint64_t{0x9} << 24) | (uint64_t{0xC} << 32) |
    (uint64_t{0xC} << 36) | (uint64_t{0xD} << 40) | (uint64_t{0xE} << 48);
S24_HD uint32_t nibble_of_nonzeros(uint32_t nonzero_bits) {
  return static_cast<uint32_t>(kNibbleOfNonzeros >> (4 * nonzero_bits)) & 0xFu;
}

// v[i] for a run-time i in 0..3, written as selects so that GPU code keeps v in registers (a
// dynamically indexed array would live in local memory).
template <class T>
S24_HD T select4(const T (&v)[4], uint32_t i) {
  return i == 0 ? v[0] : i == 1 ? v[1] : i == 2 ? v[2] : v[3];
}

// Compresses one pruned group exactly as compress() would compress the dense result: returns
// the nibble and writes the two values at its positions.
template <class T>
S24_HD uint32_t compress_group(const T (&out)[4], T* kept_values) {
  uint32_t nonzero = 0;
  for (int i = 0; i < 4; ++i)
    if (Elem<T>::key(out[i]) != 0) nonzero |= 1u << i;
  const uint32_t nib = nibble_of_nonzeros(nonzero);
  kept_values[0] = select4(out, nib & 3);
  kept_values[1] = select4(out, (nib >> 2) & 3);
  return nib;
}

// Magnitude selection: bit i set when element i is among the two largest keys; element j beats
// element i when key_j > key_i, or key_j == key_i and j < i. Always exactly two bits.
S24_HD uint32_t top2_of_keys(const uint32_t key[4]) {
  uint32_t keep = 0;
  for (int i = 0; i < 4; ++i) {
    int beaten_by = 0;
    for (int j = 0; j < 4; ++j)
      if (j != i) beaten_by += (key[j] > key[i]) || (key[j] == key[i] && j < i);
    if (beaten_by < 2) keep |= 1u << i;
  }
  return keep;
}

// ---- MVUE24 ------------------------------------------------------------------------------------

// a_i = |x_i| + eps with the eps of 2by4-pretrain (its literal 1.19209e-07; as f32 the bits
// 0x33FFFFD7).
constexpr float kMvue24Eps = 1.19209e-07f;

// One MVUE24 group: x[4] finite f32 values, u0/u1 its two uniforms. Writes out[4] (x_i / p_i at
// the two kept positions, +0.0f elsewhere) and returns the kept bits; returns 0 when the sum of
// |x_i| + eps overflows f32 (the caller reports it). Every step is one rounded f32 operation in the
// order written; docs/FORMAT.md repeats it.
//
// S - a_i and K - k_i of the definition are evaluated as the sums of the other three terms
// (R_i and Q_i below): the same numbers in exact arithmetic, but free of the cancellation that
// makes a direct subtraction return 0 or garbage when one element dominates its group (then
// k_i = t_i / (S - a_i) divides by a rounding error and p_i can land far above 1).
S24_HD uint32_t mvue24_group(const float x[4], float u0, float u1, float out[4]) {
  float a[4];
  for (int i = 0; i < 4; ++i) a[i] = add_rn(abs_f32(x[i]), kMvue24Eps);
  const float sum = add_rn(add_rn(add_rn(a[0], a[1]), a[2]), a[3]);
  if (!is_finite_f32(sum)) return 0;
  // R_i = sum of a_j over j != i, increasing j, left to right.
  const float rest_of[4] = {add_rn(add_rn(a[1], a[2]), a[3]), add_rn(add_rn(a[0], a[2]), a[3]),
                            add_rn(add_rn(a[0], a[1]), a[3]), add_rn(add_rn(a[0], a[1]), a[2])};
  float t[4], k[4];
  for (int i = 0; i < 4; ++i) {
    t[i] = div_rn(a[i], sum);
    k[i] = div_rn(t[i], rest_of[i]);
  }
  // Q_i = sum of k_j over j != i, the same order.
  const float k_rest_of[4] = {add_rn(add_rn(k[1], k[2]), k[3]), add_rn(add_rn(k[0], k[2]), k[3]),
                              add_rn(add_rn(k[0], k[1]), k[3]), add_rn(add_rn(k[0], k[1]), k[2])};

  // First index: the smallest i with u0 * S < a_0 + ... + a_i (partial sums left to right); 3 if
  // none.
  const float v0 = mul_rn(u0, sum);
  int first = 3;
  float cumulative = 0.0f;
  for (int i = 0; i < 3; ++i) {
    cumulative = add_rn(cumulative, a[i]);
    if (v0 < cumulative) {
      first = i;
      break;
    }
  }
  // Second index: the same rule over the three others in increasing index order, against
  // R_first (their sum, as above); the last of them if none.
  const float v1 = mul_rn(u1, select4(rest_of, static_cast<uint32_t>(first)));
  int second = -1, seen = 0;
  cumulative = 0.0f;
  for (int j = 0; j < 4; ++j) {
    if (j == first) continue;
    if (++seen == 3) {
      if (second < 0) second = j;
      break;
    }
    cumulative = add_rn(cumulative, a[j]);
    if (second < 0 && v1 < cumulative) second = j;
  }

  const uint32_t keep = (1u << first) | (1u << second);
  for (int i = 0; i < 4; ++i) {
    if (keep & (1u << i)) {
      // p_i = t_i + a_i * Q_i
      const float p = add_rn(t[i], mul_rn(a[i], k_rest_of[i]));
      out[i] = div_rn(x[i], p);
    } else {
      out[i] = 0.0f;
    }
  }
  return keep;
}

// ---- S-STE soft threshold -------------------------------------------------------------------

// x[4] finite. t = the second smallest |x_i| = the larger magnitude of the two dropped elements;
// kept elements become copysign(|x_i| - t, x_i), the others +0.0f. Returns the kept bits.
S24_HD uint32_t soft_threshold_group(const float x[4], float out[4]) {
  uint32_t key[4];
  for (int i = 0; i < 4; ++i) key[i] = float_bits(x[i]) & 0x7FFFFFFFu;
  const uint32_t keep = top2_of_keys(key);
  float threshold = 0.0f;
  for (int i = 0; i < 4; ++i)
    if (!(keep & (1u << i)) && abs_f32(x[i]) > threshold) threshold = abs_f32(x[i]);
  for (int i = 0; i < 4; ++i)
    out[i] = (keep & (1u << i)) ? copysign_f32(sub_rn(abs_f32(x[i]), threshold), x[i]) : 0.0f;
  return keep;
}

// ---- transposable 4x4 patterns ---------------------------------------------------------------

// The six ways to keep two of four, in this order; a row of a pattern is an index into it.
S24_HD uint32_t pair_bits(int pair) {
  // (0,1) (0,2) (0,3) (1,2) (1,3) (2,3)
  return (0xCA6953u >> (4 * pair)) & 0xFu;
}

// The 90 patterns: all (p0, p1, p2, p3) in {0..5}^4 in lexicographic order (p0 most significant)
// whose four rows keep every column exactly twice. Each is packed as p0 | p1 << 3 | p2 << 6 |
// p3 << 9.
struct TransposablePatterns {
  uint16_t packed[90];
  int count;  // how many (p0..p3) passed the column test: 90, checked by static_assert
};
constexpr TransposablePatterns make_transposable_patterns() {
  TransposablePatterns table{};
  int n = 0;
  constexpr uint32_t kPairBits[6] = {0x3, 0x5, 0x9, 0x6, 0xA, 0xC};
  for (int p0 = 0; p0 < 6; ++p0)
    for (int p1 = 0; p1 < 6; ++p1)
      for (int p2 = 0; p2 < 6; ++p2)
        for (int p3 = 0; p3 < 6; ++p3) {
          const int rows[4] = {p0, p1, p2, p3};
          bool ok = true;
          for (int c = 0; c < 4; ++c) {
            int count = 0;
            for (int r = 0; r < 4; ++r) count += (kPairBits[rows[r]] >> c) & 1;
            ok = ok && count == 2;
          }
          if (ok && n < 90)
            table.packed[n] = static_cast<uint16_t>(p0 | p1 << 3 | p2 << 6 | p3 << 9);
          n += ok;
        }
  table.count = n;
  return table;
}
constexpr int kNumTransposablePatterns = 90;

constexpr TransposablePatterns kTransposablePatterns = make_transposable_patterns();
static_assert(kTransposablePatterns.count == kNumTransposablePatterns,
              "a 4x4 0/1 matrix with two ones in every row and column: there are 90");

// One candidate of the search below, with its pattern a compile-time constant so that the pair
// sums are indexed by constants (registers on the GPU, not local memory).
template <int kIndex>
S24_HD void consider_transposable_pattern(const float (&pair_sum)[4][6], float& best_score,
                                          uint32_t& best) {
  constexpr uint32_t p = kTransposablePatterns.packed[kIndex];
  const float score = add_rn(
      add_rn(add_rn(pair_sum[0][p & 7], pair_sum[1][(p >> 3) & 7]), pair_sum[2][(p >> 6) & 7]),
      pair_sum[3][(p >> 9) & 7]);
  if (score > best_score) {
    best_score = score;
    best = p;
  }
}
template <int... kIndex>
S24_HD uint32_t search_transposable_patterns(const float (&pair_sum)[4][6],
                                             std::integer_sequence<int, kIndex...>) {
  float best_score = -1.0f;  // every score is >= 0, so pattern 0 is taken first
  uint32_t best = 0;
  (consider_transposable_pattern<kIndex>(pair_sum, best_score, best), ...);  // in order
  return best;
}

// The best pattern (packed) of a block from its magnitudes m[r][c] (f32, no NaN): row pair sums
// s[r][p] = m[r][i_p] + m[r][j_p], score = ((s[0][p0] + s[1][p1]) + s[2][p2]) + s[3][p3]; the first
// pattern in the order above with the highest score wins.
S24_HD uint32_t best_transposable_pattern(const float (&m)[4][4]) {
  float pair_sum[4][6];
  for (int r = 0; r < 4; ++r) {
    pair_sum[r][0] = add_rn(m[r][0], m[r][1]);
    pair_sum[r][1] = add_rn(m[r][0], m[r][2]);
    pair_sum[r][2] = add_rn(m[r][0], m[r][3]);
    pair_sum[r][3] = add_rn(m[r][1], m[r][2]);
    pair_sum[r][4] = add_rn(m[r][1], m[r][3]);
    pair_sum[r][5] = add_rn(m[r][2], m[r][3]);
  }
  return search_transposable_patterns(pair_sum,
                                      std::make_integer_sequence<int, kNumTransposablePatterns>{});
}

// Kept bits of row r of pattern `packed`.
S24_HD uint32_t pattern_row_bits(uint32_t packed, int r) {
  return pair_bits((packed >> (3 * r)) & 7);
}

// ---- masked decay --------------------------------------------------------------------------

// grad' = round(f32(grad) + alpha * f32(w)) where the mask is 0; grad unchanged where it is 1.
S24_HD float masked_decay_value(float grad, float w, float alpha) {
  return add_rn(grad, mul_rn(alpha, w));
}

}  // namespace s24::detail
