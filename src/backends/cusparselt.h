// Internal: the optional cuSPARSELt backend (NVIDIA's 2:4 library), as a baseline and an
// alternative to sparse24's own kernels. Compiled only when CMake finds the library
// (-DS24_CUSPARSELT_ROOT=...; S24_WITH_CUSPARSELT is then defined); otherwise every entry point
// throws kUnsupported (no_cusparselt.cc) and available() is false.
//
// No per-call set-up: the weight is compressed once (prepare), and the matmul plan for each
// (M, bias pointer, activation) is built, tuned (cusparseLtMatmulSearch) and cached on first use,
// so a call is one cusparseLtMatmul. The first call of a new shape is not capturable in a CUDA
// graph (kUnsupported if attempted while capturing): run it once before capturing.
#pragma once

#include <cstddef>
#include <memory>

#include "sparse24/format.h"
#include "sparse24/ops.h"

namespace s24::detail::cslt {

struct PreparedWeight;

bool available();
// cuSPARSELt's version as it reports it (e.g. 800 for 0.8.0); 0 when not available.
int version();
// Compresses a CUDA 2:4 weight [N, K] into cuSPARSELt's own layout: F16 / BF16, or 8-bit
// (I8, F8_E4M3, F8_E5M2; N % 32 == 0 and K % 32 == 0).
std::shared_ptr<PreparedWeight> prepare(const Compressed24& w, Stream stream);
size_t prepared_bytes(const PreparedWeight& w);
// Y = act(alpha X W^T + bias); arguments already checked by the caller (ops/linear_cuda.cu).
// Activations: kNone, kRelu and kGeluTanh (cuSPARSELt's GELU); others throw kUnsupported, as do
// options with x_scale, w_scale or a residual. 16-bit: x, w, y (and bias) of one dtype. 8-bit:
// x of w's dtype (I8 x I8 with CUSPARSE_COMPUTE_32I, or E4M3 x E4M3 / E5M2 x E5M2 with 32F; no
// mixed fp8), y F16, BF16 or F32, no bias (kUnsupported otherwise); a type combination
// cuSPARSELt has no kernel for (e.g. on sm_80 for fp8) is kUnsupported too.
void linear(const Tensor& x, const PreparedWeight& w, const Tensor* bias, Tensor& y,
            const LinearOptions& options);

}  // namespace s24::detail::cslt
