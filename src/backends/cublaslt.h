// Internal: dense Y = act(X W^T + bias) through cuBLASLt, the dense baseline of every benchmark
// and the CUDA path of s24::linear_dense. The matmul descriptor, layouts and the heuristic's
// algorithm are built once per (device, M, N, K, dtype, epilogue) and cached, so a call costs a
// descriptor attribute update (the bias pointer) and one cublasLtMatmul.
//
// Orientation: column-major cuBLAS sees W [N, K] row-major as W^T (K x N, ld K) and X [M, K] as
// X^T (K x M, ld K); Y^T = op_T(W^T) X^T is N x M with ld N, i.e. Y [M, N] row-major ("TN").
// Epilogues: none, bias, ReLU, GELU (tanh), with or without bias; kGeluErf and kSilu are not
// cuBLASLt epilogues and are reported unsupported here (linear_dense_cuda applies them itself).
#pragma once

#include "sparse24/ops.h"
#include "sparse24/tensor.h"

namespace s24::detail::cublaslt {

// True when cuBLASLt can fuse this activation.
bool fuses(Activation activation);
// y = act(alpha X W^T + bias). x [M, K], w [N, K], bias [N] or null, y [M, N]; contiguous CUDA
// F16/BF16 tensors of one dtype (the caller checks), except that y may be F32 when there is no
// bias (the unrounded product, for an epilogue of the caller's). Throws kUnsupported for an
// activation that fuses() rejects.
void linear_dense(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                  Activation activation, Stream stream, float alpha = 1.0f);

}  // namespace s24::detail::cublaslt
