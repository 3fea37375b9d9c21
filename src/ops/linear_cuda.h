// Internal: the CUDA paths of linear with a 2:4 weight (declarations only, no CUDA headers).
// Defined in linear_cuda.cu; a CPU-only build gets kUnsupported stubs (linear_cuda_stub.cc), so
// dispatchers call these without #if.
//
// Contract shared by all of them (checked here, kAlignment / kShapeMismatch / kDTypeMismatch /
// kInvalidArgument otherwise): X [..., K] and Y [..., N] contiguous on the weight's device, one
// dtype (F16 or BF16) for X, W, bias and Y; K % 8 == 0 and N % 8 == 0 (16-byte rows); X, Y and
// bias 16-byte aligned; Y does not overlap X or bias; bias is [N]. Any M = numel(X) / K >= 0.
// The epilogue operands of LinearOptions: alpha finite; x_scale F32 [M] and w_scale F32 [N],
// contiguous, not under Y; residual Y's shape and dtype, contiguous, 16-byte aligned, either Y
// itself (same data: the in-place add) or disjoint from Y, X and bias.
#pragma once

#include "cuda/gemm/sparse_gemm.h"
#include "format/hw_layout.h"
#include "sparse24/ops.h"
#include "sparse24/sparse_weight.h"

namespace s24::detail {

// s24::linear_out for a logical Compressed24 on a CUDA device: converts W into a per-stream scratch
// hardware layout (one extra pass over W, no allocation once the scratch has grown), then the GEMM.
// Backend::kCuSparseLt compresses W for cuSPARSELt on every call (slow; prepare a SparseWeight).
void linear_cuda(const Tensor& x, const Compressed24& w, const Tensor* bias, Tensor& y,
                 const LinearOptions& options);

// The fast path: a prepared weight (one kernel launch).
void linear_cuda_prepared(const Tensor& x, const SparseWeight& w, const Tensor* bias, Tensor& y,
                          const LinearOptions& options);

// The GEMM on a hardware layout, optionally with a forced tile configuration / split-K (tests,
// benchmarks, tuning). Always the native kernel.
void linear_cuda_hw(const Tensor& x, const HwLayout& w, const Tensor* bias, Tensor& y,
                    const LinearOptions& options, const gemm::GemmPlan* plan = nullptr);

}  // namespace s24::detail
