// Internal: the epilogue activations of the linear ops, as scalar f32 functions usable from host
// and device code. These are the reference definitions; the CPU kernels use vectorizable
// versions of the same formulas (linear_cpu.cc) that agree with these within a few ulp.
#pragma once

#include <math.h>

#include "sparse24/ops.h"

#if defined(__CUDACC__)
#include "cuda/arch/mufu.cuh"
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

// erfc(z) = t exp(-z^2 + P(t)) for z >= 0, t = 1 / (1 + z/2): P is the Chebyshev fit of
// Numerical Recipes' erfcc (relative error below 1.2e-7 for every z >= 0). Branchless, and
// relatively accurate where 1 + erf(x / sqrt 2) cancels (large negative x): the form of GELU
// (erf) that the CPU kernels (linear_cpu.cc) and the GPU epilogues evaluate.
// `scale` multiplies every coefficient (the GPU form takes P in base 2); with a literal scale the
// products fold at compile time.
S24_HOST_DEVICE float erfc_exponent_poly(float t, float scale = 1.0f) {
  float p = 0.17087277f * scale;
  p = p * t - 0.82215223f * scale;
  p = p * t + 1.48851587f * scale;
  p = p * t - 1.13520398f * scale;
  p = p * t + 0.27886807f * scale;
  p = p * t - 0.18628806f * scale;
  p = p * t + 0.09678418f * scale;
  p = p * t + 0.37409196f * scale;
  p = p * t + 1.00002368f * scale;
  p = p * t - 1.26551223f * scale;
  return p;
}

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

#if defined(__CUDACC__)
// GELU (erf) in the GPU epilogues: x Phi(x) = x erfc(-x / sqrt 2) / 2 through the erfc form
// above, in base 2: with w = |x| sqrt(log2(e) / 2), erfc = t 2^(log2(e) P(t) - w^2) and
// t = 1 / (1 + w / (2 sqrt(log2(e)))), so the exponent is one FMA on the scaled polynomial, and the
// reciprocal and the power are one MUFU each. Nine FMAs and no branch, where erff takes two
// polynomial paths that diverge within a warp (GELU was a third of BERT fc1's time at batch 16;
// bench/NOTES.md, sm90 v8). Within (1 + 0.2 x^2) 1e-6 relative of a double-precision x Phi(x) over
// [-14, 14] wherever |GELU(x)| > 1e-30 (tests/gpu/test_gpu_activation.cu); below that, at
// x < -13.2, erfc underflows to zero.
__device__ __forceinline__ float gelu_erf_gpu(float x) {
  const float w = fabsf(x) * 0.84932180028801907f;                   // sqrt(log2(e) / 2)
  const float t = arch::rcp_approx(fmaf(0.41627730557884884f, w, 1.0f));  // 0.5 / sqrt(log2 e)
  const float p2 = erfc_exponent_poly(t, 1.44269504088896341f);
  const float erfc_z = t * arch::exp2_approx(fmaf(-w, w, p2));
  const float one_plus_erf = x < 0.0f ? erfc_z : 2.0f - erfc_z;
  return 0.5f * x * one_plus_erf;
}

// The activations of the GPU kernels (sparse epilogues, the dense path's activation kernel):
// activate(), with gelu_erf_gpu for GELU (erf).
__device__ __forceinline__ float activate_gpu(Activation a, float x) {
  return a == Activation::kGeluErf ? gelu_erf_gpu(x) : activate(a, x);
}

// activate_gpu over N values behind one switch: one uniform dispatch per N values, and inside a
// case N independent chains for the scheduler to interleave (the sm_90a register epilogue).
template <int N>
__device__ __forceinline__ void activate_all_gpu(Activation a, float (&v)[N]) {
  switch (a) {
    case Activation::kRelu:
#pragma unroll
      for (int i = 0; i < N; ++i) v[i] = relu(v[i]);
      break;
    case Activation::kGeluErf:
#pragma unroll
      for (int i = 0; i < N; ++i) v[i] = gelu_erf_gpu(v[i]);
      break;
    case Activation::kGeluTanh:
#pragma unroll
      for (int i = 0; i < N; ++i) v[i] = gelu_tanh(v[i]);
      break;
    case Activation::kSilu:
#pragma unroll
      for (int i = 0; i < N; ++i) v[i] = silu(v[i]);
      break;
    case Activation::kNone:
      break;
  }
}
#endif

}  // namespace s24::detail
