// Test helpers of the GPU linear suites that drive the kernels through detail::linear_cuda_hw
// (test_gpu_linear_sm90.cu, test_gpu_linear_sm90_q8.cu): one product with one epilogue of ops.h,
// its operands on the CPU, and its run on the GPU with a forced plan. Each suite draws its own
// values (16-bit and 8-bit ranges differ) and keeps its own reference.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

#include "common/test_util.h"
#include "cuda/gemm/sparse_gemm.h"
#include "format/hw_layout.h"
#include "ops/linear_cuda.h"
#include "sparse24/sparse24.h"

namespace s24::test {

// Which terms of Y = act(alpha * x_scale[m] * w_scale[n] * acc + bias[n]) + residual[m, n] a case
// has; in_place: the residual tensor is Y itself.
struct EpilogueSpec {
  bool bias = false;
  Activation act = Activation::kNone;
  float alpha = 1.0f;
  bool x_scale = false, w_scale = false, residual = false, in_place = false;
};

// The 32 combinations of the terms, by bits of `mask` in [0, 32): 1 bias, 2 x_scale, 4 w_scale,
// 8 residual, 16 alpha = 0.25 and (with a residual) in place; ReLU on every third mask.
inline EpilogueSpec epilogue_from_mask(int mask) {
  EpilogueSpec e;
  e.bias = mask & 1;
  e.x_scale = mask & 2;
  e.w_scale = mask & 4;
  e.residual = mask & 8;
  e.in_place = (mask & 8) && (mask & 16);
  e.alpha = (mask & 16) ? 0.25f : 1.0f;
  e.act = (mask % 3 == 0) ? Activation::kRelu : Activation::kNone;
  return e;
}

// One product's operands on the CPU; empty tensors for absent terms.
struct LinearCase {
  Tensor x, bias, x_scale, w_scale, residual;
  Compressed24 w;
  DType y_dtype = DType::kF16;
};

// A per-token or per-feature scale vector (F32): powers of two in [1/4, 4] for small-integer
// cases (products stay exact), else uniform in [0.5, 2].
inline Tensor random_scales(int64_t len, bool integers, std::mt19937_64& g) {
  std::uniform_int_distribution<int> exponent(-2, 2);
  std::uniform_real_distribution<float> positive(0.5f, 2.0f);
  Tensor t = Tensor::empty({len}, DType::kF32);
  for (int64_t i = 0; i < len; ++i)
    t.data<float>()[i] = integers ? std::ldexp(1.0f, exponent(g)) : positive(g);
  return t;
}

// The LinearOptions of `e` with c's scales and residual copied to `dev` (xs, ws, rd own them).
inline LinearOptions options_for(const LinearCase& c, const EpilogueSpec& e, Tensor& xs,
                                 Tensor& ws, Tensor& rd, const Device& dev) {
  LinearOptions opt;
  opt.activation = e.act;
  opt.alpha = e.alpha;
  if (e.x_scale) opt.x_scale = &(xs = c.x_scale.to(dev));
  if (e.w_scale) opt.w_scale = &(ws = c.w_scale.to(dev));
  if (e.residual) opt.residual = &(rd = c.residual.to(dev));
  return opt;
}

// Y of c under e on GPU 0 through the hardware layout with `plan` (nullptr: the dispatcher's
// choice), back on the CPU. Y starts poisoned (NaN), or is the residual itself when in place.
// row_values = false drops the layout's row-major values, as a layout written by
// prune_compress_hw lacks them.
inline Tensor run_hw(const LinearCase& c, const EpilogueSpec& e, const detail::gemm::GemmPlan* plan,
                     bool row_values = true) {
  const Device dev = Device::cuda(0);
  detail::HwLayout hw = detail::to_hw_layout(c.w.to(dev));
  if (!row_values) hw.row_values = Tensor();
  const Tensor xd = c.x.to(dev);
  Tensor bd, xs, ws, rd;
  const LinearOptions opt = options_for(c, e, xs, ws, rd, dev);
  if (e.bias) bd = c.bias.to(dev);
  Tensor y;
  if (e.residual && e.in_place) {
    y = rd;  // the residual is overwritten by the result
  } else {
    y = Tensor::empty({c.x.size(0), c.w.rows}, c.y_dtype, dev);
    poison(y);
  }
  detail::linear_cuda_hw(xd, hw, e.bias ? &bd : nullptr, y, opt, plan);
  cuda_synchronize();
  return y.to(Device::cpu());
}

}  // namespace s24::test
