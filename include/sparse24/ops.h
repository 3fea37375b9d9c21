// sparse24 — products with a 2:4 compressed operand. Every op runs where its inputs live (CPU or
// CUDA); all tensors of one call must be on one device. Accumulation is in f32.
#pragma once

#include "sparse24/format.h"
#include "sparse24/tensor.h"

namespace s24 {

enum class Activation { kNone, kRelu, kGeluErf, kGeluTanh, kSilu };

// Which implementation serves a CUDA call. kAuto = sparse24's own kernels (the dispatcher's
// choice); kCuSparseLt needs a build with the optional cuSPARSELt backend (kUnsupported otherwise).
enum class Backend { kAuto, kNative, kCuSparseLt };

struct LinearOptions {
  Activation activation = Activation::kNone;  // applied after the bias
  Backend backend = Backend::kAuto;
  Stream stream = nullptr;  // CUDA only
};

// Y[M, N] = X[M, K] W^T (+ bias[N]) with W [N, K] compressed. X, W, bias and Y share one dtype
// (f32 on the CPU; f16/bf16 on both). X may have any leading dims: [..., K] -> [..., N].
Tensor linear(const Tensor& x, const Compressed24& w, const Tensor* bias = nullptr,
              const LinearOptions& options = {});
// The same into a caller-provided Y (no allocation: CUDA-graph capturable).
void linear_out(const Tensor& x, const Compressed24& w, const Tensor* bias, Tensor& y,
                const LinearOptions& options = {});

// Dense reference/baseline with the same contract: Y = X W^T (+ bias), W dense [N, K].
Tensor linear_dense(const Tensor& x, const Tensor& w, const Tensor* bias = nullptr,
                    const LinearOptions& options = {});

// C[R, Cc] = A[R, K] B[K, Cc] with A compressed (the sparse operand on the left). This is the
// weight-gradient product of 2:4 training: grad_W = S(grad_Y^T) X.
Tensor spmm(const Compressed24& a, const Tensor& b);

}  // namespace s24
