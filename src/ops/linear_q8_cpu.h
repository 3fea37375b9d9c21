// Internal: the CPU backend of the 8-bit linear products (int8 x int8, fp8 x fp8).
//
// Arithmetic (the contract of ops.h, and what the GPU kernels are tested against):
//  * int8: every product is exact and the sum over k is the exact int32 value; it becomes f32
//    (round to nearest even) for the epilogue. The dispatcher bounds K so that no int32 sum can
//    overflow (kMaxI8Products).
//  * fp8 (e4m3 / e5m2, any mix): values are decoded to f32 exactly; a product of two fp8 values
//    is exact in f32, and the products of one output are added in f32 strictly in increasing k
//    (for a compressed W: its kept values in storage order), one rounding per addition. The
//    result is therefore independent of M, of the thread count and of the vector width.
//  * epilogue in f32, in this order, each step one f32 operation:
//      t = ((alpha * x_scale[m]) * w_scale[n]) * acc;  t = t + bias[n];  t = act(t);
//      t = t + residual[m, n];  y = round(t)
//    (linear_cpu's finish_row: the 16-bit path's epilogue and activations, shared).
#pragma once

#include <cstdint>

#include "sparse24/ops.h"

namespace s24::detail {

// The largest number of int8 products one output may add: 128 * 128 = 2^14 per product, so
// 131071 of them stay within int32 (2^31 - 1). A compressed W keeps K / 2 products per output,
// a dense one K.
inline constexpr int64_t kMaxI8Products = 131071;

inline bool is_8bit_value_dtype(DType d) {
  return d == DType::kI8 || d == DType::kF8E4M3 || d == DType::kF8E5M2;
}
inline bool is_fp8_dtype(DType d) { return d == DType::kF8E4M3 || d == DType::kF8E5M2; }

// Everything checked by linear.cc: x [M, K] 2-D with unit column stride; w's values and
// metadata contiguous, w.cols == K; x and w both I8 or both fp8; y [M, N] 2-D, unit column
// stride, F32 / F16 / BF16; bias [N] contiguous of y's dtype; options.x_scale [M] and
// options.w_scale [N] contiguous F32; options.residual a 2-D [M, N] view of y's dtype with unit
// column stride, disjoint from y or y itself (as for linear_cpu).
void linear_q8_cpu(const Tensor& x, const Compressed24& w, const Tensor* bias, Tensor& y,
                   const LinearOptions& options);
// The dense reference/baseline with the same contract; w [N, K] with unit column stride.
void linear_dense_q8_cpu(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                         const LinearOptions& options);

}  // namespace s24::detail
