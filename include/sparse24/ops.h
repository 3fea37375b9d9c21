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

// The epilogue of every linear, in f32, in this order, Y rounded once at the end:
//   Y[m, n] = act(alpha * x_scale[m] * w_scale[n] * acc[m, n] + bias[n]) + residual[m, n]
// acc = sum_k X[m, k] W[n, k]; m indexes the rows of X and Y (tokens: X's leading dims
// flattened), n the output features. An absent scale is 1, an absent residual 0. Scales are the
// dequantization factors of 8-bit products (per tensor, per token, per output channel); they are
// also valid for F16/BF16/F32 products.
struct LinearOptions {
  Activation activation = Activation::kNone;  // applied after the bias, before the residual
  Backend backend = Backend::kAuto;
  Stream stream = nullptr;  // CUDA only
  float alpha = 1.0f;       // per-tensor scale; must be finite
  const Tensor* x_scale = nullptr;   // F32 [M] (contiguous), on the op's device
  const Tensor* w_scale = nullptr;   // F32 [N] (contiguous), on the op's device
  const Tensor* residual = nullptr;  // Y's shape and dtype; may be Y itself (in-place add)
};

// Y[M, N] = X[M, K] W^T (+ bias[N]) with W [N, K] compressed. X may have any leading dims:
// [..., K] -> [..., N]. Dtypes:
//  * 16/32-bit: X, W, bias, residual and Y share one dtype (f32 on the CPU; f16/bf16 on both).
//  * 8-bit: X and W are both I8 (int8 x int8, summed exactly in int32; K / 2 sparse or K dense
//    products per output at most 131071, else kInvalidArgument) or both fp8 (F8_E4M3 / F8_E5M2
//    in any mix; on the CPU the exact f32 products summed in f32 in increasing k). Y is F16,
//    BF16 or F32: linear_out's y decides, linear and linear_dense return F16. bias and residual
//    have Y's dtype. Mixing int8 with fp8, or 8-bit with 16-bit, is kDTypeMismatch.
//    CUDA: the 2:4 product runs on sm_90 GPUs only (H100 / H200: wgmma.mma_async.sp; other GPUs
//    give kUnsupported) and needs K % 32 == 0 (kAlignment). Its fp8 sums are the tensor cores'
//    (accumulation order and width unspecified by NVIDIA; within 1e-3 relative of the CPU's on
//    normal data in our tests); int8 sums are exact, so int8 results equal the CPU's bit for bit.
//    linear_dense on CUDA runs cuBLASLt: I8 x I8 on sm_80+; F8_E4M3 x F8_E4M3, E4M3 x E5M2 and
//    E5M2 x E4M3 on sm_89+ (E5M2 x E5M2 is kUnsupported: cuBLASLt has no such matmul); K % 16 == 0,
//    N % 8 == 0, 16-byte aligned X, W and Y.
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
