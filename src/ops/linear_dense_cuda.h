// Internal: the CUDA path of s24::linear_dense (declaration only, no CUDA headers): cuBLASLt with
// the bias / activation fused into its epilogue where cuBLASLt can (none, ReLU, GELU-tanh), else
// followed by one elementwise pass (GELU-erf, SiLU). Defined in linear_dense_cuda.cu; CPU-only
// builds get a kUnsupported stub (linear_cuda_stub.cc).
// Contract: X [..., K], W [N, K], bias [N] or null, Y [..., N], contiguous CUDA tensors on one
// device, of these dtypes:
//  * 16-bit: X, W, Y, bias and residual share F16 or BF16.
//  * 8-bit: X and W both I8, or both fp8 (F8_E4M3 / F8_E5M2, any mix cuBLASLt has kernels for:
//    E5M2 x E5M2 is kUnsupported, as is fp8 below sm_89); int8 with fp8 is kDTypeMismatch.
//    Y is F16, BF16 or F32; bias and residual have Y's dtype. K % 16 == 0, N % 8 == 0 and X, W,
//    Y 16-byte aligned (kAlignment otherwise); int8: K <= kMaxI8Products (linear_q8_cpu.h).
//    Arithmetic: int8 products are summed exactly in int32 (CUBLAS_COMPUTE_32I), then rounded
//    to f32, as the CPU reference does, so results equal linear_dense_q8_cpu bit for bit (with
//    no activation or ReLU; the smooth activations agree within a few ulp). fp8 products are
//    summed by the tensor cores: Hopper's fp8 MMA accumulates with reduced precision (about 14
//    significant bits) and cuBLASLt promotes partial sums to f32 at intervals, so sums are not
//    the CPU's increasing-k f32 sums: they agree exactly when every partial sum is exact (small
//    integers), within the bound of tests/gpu/test_gpu_linear_dense_q8.cu otherwise. The plain
//    fp8 product (no bias, activation, scales or residual) is one cuBLASLt call writing Y with
//    alpha (+0 where ops.h's order gives -0 is possible there); everything else, and every int8
//    product, goes through the workspace pass below (int8: the I32 product instead of F32).
// The epilogue of LinearOptions, 16-bit: alpha alone goes to cuBLASLt's alpha (it scales the
// product before the fused bias / activation). With x_scale, w_scale or a residual, cuBLASLt
// writes the f32 product into a per-stream workspace and one elementwise kernel applies the whole
// epilogue, rounding Y once, each step an explicitly rounded f32 operation in ops.h's order (no
// FMA contraction). x_scale F32 [M], w_scale F32 [N], residual Y's shape and dtype, contiguous;
// the residual may be Y itself (the dispatcher checks it overlaps nothing else).
#pragma once

#include "sparse24/ops.h"
#include "sparse24/tensor.h"

namespace s24::detail {

void linear_dense_cuda(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                       const LinearOptions& options);

}  // namespace s24::detail
