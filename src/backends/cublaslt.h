// Internal: dense Y = act(X W^T + bias) through cuBLASLt, the dense baseline of every benchmark
// and the CUDA path of s24::linear_dense. The matmul descriptor, layouts and the heuristic's
// algorithm are built once per (device, M, N, K, dtype, epilogue) and cached, so a call costs a
// descriptor attribute update (the bias pointer) and one cublasLtMatmul.
//
// Orientation: column-major cuBLAS sees W [N, K] row-major as W^T (K x N, ld K) and X [M, K] as
// X^T (K x M, ld K); Y^T = op_T(W^T) X^T is N x M with ld N, i.e. Y [M, N] row-major ("TN").
// Epilogues: none, bias, ReLU, GELU (tanh), with or without bias; kGeluErf and kSilu are not
// cuBLASLt epilogues and are reported unsupported here (linear_dense_cuda applies them itself).
// This "TN" orientation (A = W^T transposed, B = X^T not) is also the one cuBLASLt's fp8 and
// int8 (IMMA) kernels require on Hopper: both operands K-major.
#pragma once

#include "sparse24/ops.h"
#include "sparse24/tensor.h"

namespace s24::detail::cublaslt {

// True when cuBLASLt can fuse this activation.
bool fuses(Activation activation);
// Throws kUnsupported (naming the dtypes and the device) unless cuBLASLt can multiply x_dtype by
// w_dtype 8-bit operands on `device`: int8 x int8 (sm_80+, CUBLAS_COMPUTE_32I), or fp8 x fp8 on
// sm_89+ in the mixes cuBLASLt has kernels for (E4M3 x E4M3, E4M3 x E5M2, E5M2 x E4M3;
// E5M2 x E5M2 is not one of them). Mixing int8 with fp8 is the caller's kDTypeMismatch.
void check_8bit_support(DType x_dtype, DType w_dtype, const Device& device);
// y = act(alpha X W^T + bias). x [M, K], w [N, K], bias [N] or null, y [M, N]; contiguous CUDA
// tensors (the caller checks shapes, dtypes and alignment):
//  * 16-bit: x and w F16 or BF16 of one dtype; y that dtype, or F32 when there is no bias (the
//    unrounded product, for an epilogue of the caller's).
//  * fp8 (check_8bit_support): y F16, BF16 or F32, no bias, Activation::kNone; alpha scales the
//    f32 accumulator before the one rounding to y. cuBLASLt's default (not fast) fp8
//    accumulation: partial sums are promoted to f32 at intervals. K % 16 == 0, N % 8 == 0 and
//    16-byte aligned pointers (cuBLASLt's fp8 requirements).
//  * int8 x int8: y I32, the exact int32 product (CUBLAS_COMPUTE_32I): alpha must be 1, no
//    bias, Activation::kNone. The caller applies any epilogue.
// Throws kUnsupported for an activation that fuses() rejects and for a product cuBLASLt has no
// algorithm for.
void linear_dense(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                  Activation activation, Stream stream, float alpha = 1.0f);

}  // namespace s24::detail::cublaslt
