// Internal: the epilogue activations of the linear ops, as scalar f32 functions usable from host
// and device code. These are the reference definitions; the CPU kernels use vectorizable
// versions of the same formulas (linear_cpu.cc) that agree with these within a few ulp.
#pragma once

#include <math.h>

#include "sparse24/ops.h"

#if defined(__CUDACC__)
#define S24_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define S24_HOST_DEVICE inline
#endif

namespace s24::detail {

// ReLU keeps NaN (x < 0 is false for NaN), as torch.relu does.
S24_HOST_DEVICE float relu(float x) { return x < 0.0f ? 0.0f : x; }

// 0.5 x (1 + erf(x / sqrt(2))): BERT's exact GELU.
S24_HOST_DEVICE float gelu_erf(float x) {
  return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

// 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), written as x / (1 + exp(-2u)): the same
// function, but without the cancellation of 1 + tanh(u) for large negative u.
S24_HOST_DEVICE float gelu_tanh(float x) {
  const float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
  return x / (1.0f + expf(-2.0f * u));
}

S24_HOST_DEVICE float silu(float x) { return x / (1.0f + expf(-x)); }

S24_HOST_DEVICE float activate(Activation a, float x) {
  switch (a) {
    case Activation::kRelu:
      return relu(x);
    case Activation::kGeluErf:
      return gelu_erf(x);
    case Activation::kGeluTanh:
      return gelu_tanh(x);
    case Activation::kSilu:
      return silu(x);
    case Activation::kNone:
      break;
  }
  return x;
}

}  // namespace s24::detail
