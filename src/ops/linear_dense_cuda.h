// Internal: the CUDA path of s24::linear_dense (declaration only, no CUDA headers): cuBLASLt with
// the bias / activation fused into its epilogue where cuBLASLt can (none, ReLU, GELU-tanh), else
// followed by one elementwise pass (GELU-erf, SiLU). Defined in linear_dense_cuda.cu; CPU-only
// builds get a kUnsupported stub (linear_cuda_stub.cc).
// Contract: X [..., K], W [N, K], bias [N] or null, Y [..., N], contiguous CUDA tensors of one
// dtype (F16 or BF16) on one device.
// The epilogue of LinearOptions: alpha alone goes to cuBLASLt's alpha (it scales the product
// before the fused bias / activation). With x_scale, w_scale or a residual, cuBLASLt writes the
// f32 product into a per-stream workspace and one elementwise kernel applies the whole epilogue,
// rounding Y once. x_scale F32 [M], w_scale F32 [N], residual Y's shape and dtype, contiguous;
// the residual may be Y itself (the dispatcher checks it overlaps nothing else).
#pragma once

#include "sparse24/ops.h"
#include "sparse24/tensor.h"

namespace s24::detail {

void linear_dense_cuda(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                       const LinearOptions& options);

}  // namespace s24::detail
